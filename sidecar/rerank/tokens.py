"""The one tokenizer of near-duplicate detection.

A token is a maximal run of ASCII letters and digits, case-folded (A-Z to a-z); every other
character separates tokens. A text's shingles are its distinct word n-grams (the words
themselves when it has fewer than n). The compiled ``spans`` kernel finds the tokens; index-time
MinHash shingling and the evaluation's metric read them as strings (``shingle_set``), query-time
verification as sorted 64-bit FNV-1a hashes (the ``hashed`` kernel), so "Jaccard >= 0.8" means the same
thing in each of them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True)
def spans(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token (start, end) byte spans of the texts buf[lo[t]:hi[t]], and each text's first token
    (CSR)."""
    total = 0
    for t in range(lo.shape[0]):  # a text of L bytes holds at most (L + 1) // 2 tokens (one byte, one separator)
        total += (hi[t] - lo[t] + 1) // 2
    starts = np.empty(total + 1, dtype=np.int64)
    ends = np.empty_like(starts)
    ptr = np.zeros(lo.shape[0] + 1, dtype=np.int64)
    m = 0
    for t in range(lo.shape[0]):
        i, end = lo[t], hi[t]
        while i < end:
            b = buf[i]
            if (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122):
                j = i + 1
                while j < end and ((48 <= buf[j] <= 57) or (65 <= buf[j] <= 90) or (97 <= buf[j] <= 122)):
                    j += 1
                starts[m], ends[m] = i, j
                m += 1
                i = j
            else:
                i += 1
        ptr[t + 1] = m
    return starts[:m], ends[:m], ptr


@njit(cache=True)
def hashed(buf, starts, ends, wptr, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each text's distinct n-gram hashes, sorted (CSR). An n-gram hashes its words joined by a
    space, case-folded, so equal shingles hash equal."""
    rows = wptr.shape[0] - 1
    ptr = np.zeros(rows + 1, dtype=np.int64)
    out = np.empty(max(1, starts.shape[0]), dtype=np.uint64)
    m = 0
    for t in range(rows):
        w0, w1 = wptr[t], wptr[t + 1]
        k = 1 if w1 - w0 < n else n
        begin = m
        for g in range(w0, w1 - k + 1):
            h = _FNV_OFFSET
            for w in range(g, g + k):
                if w > g:
                    h = (h ^ np.uint64(32)) * _FNV_PRIME
                for i in range(starts[w], ends[w]):
                    b = buf[i]
                    if 65 <= b <= 90:
                        b += 32
                    h = (h ^ np.uint64(b)) * _FNV_PRIME
            out[m] = h
            m += 1
        for i in range(begin + 1, m):  # insertion sort: a title has a handful of shingles
            x = out[i]
            j = i - 1
            while j >= begin and out[j] > x:
                out[j + 1] = out[j]
                j -= 1
            out[j + 1] = x
        u = begin
        for i in range(begin, m):
            if i == begin or out[i] != out[u - 1]:
                out[u] = out[i]
                u += 1
        m = u
        ptr[t + 1] = m
    return ptr, out[:m]


def encode(texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """The texts as one UTF-8 buffer and their byte offsets (text t is buf[offs[t]:offs[t+1]]).
    All-ASCII input (catalog titles) takes one join and one encode."""
    clean = [t or "" for t in texts]
    joined = "".join(clean)
    raw = joined.encode("utf-8", "surrogatepass")
    lengths = map(len, clean) if len(raw) == len(joined) else (len(t.encode("utf-8", "surrogatepass")) for t in clean)
    offs = np.zeros(len(clean) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=len(clean)), out=offs[1:])
    return np.frombuffer(raw, dtype=np.uint8), offs


def shingle_set(text: str | None, n: int = 1) -> frozenset[str]:
    """Distinct word n-grams of ``text``; an empty or missing text gives the empty set (such a
    candidate has no text to compare)."""
    if not text:
        return frozenset()
    buf, offs = encode([text])
    starts, ends, _ = spans(buf, offs[:-1], offs[1:])
    raw = buf.tobytes()
    words = [raw[s:e].decode("ascii").lower() for s, e in zip(starts.tolist(), ends.tolist())]
    if n > 1 and len(words) >= n:
        return frozenset(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    return frozenset(words)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|; 0.0 when either set is empty (nothing to compare is never a duplicate)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)
