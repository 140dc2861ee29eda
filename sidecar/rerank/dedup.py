"""Near-duplicate detection: MinHash band keys propose pairs, exact Jaccard decides (DESIGN.md 1.3).

Index time: ``signatures()`` MinHashes each text's token set (``tokens.shingle_set``, the one
tokenizer) with datasketch; the signature is stored with the document as base64.

Query time, ``group()`` guarantees:
- two candidates whose texts are both present are joined only if a chain of pairs with *exact*
  token-set Jaccard >= threshold links them (the MinHash estimate only proposes pairs);
- a pair where a text is missing is decided by the signatures' estimated Jaccard;
- a candidate with neither text nor signature is nobody's duplicate;
- identical token sets are always one group; a pair at exactly the threshold is proposed by the
  band keys with probability >= 1 - ``MAX_BAND_MISS`` (more as its Jaccard rises), and the
  estimate pre-screen (4 standard deviations below the threshold) loses fewer than 1 in 10^4.
Groups are connected components (union-find, done as numpy label propagation); each candidate is
labelled with the index of its best-ranked group member.
"""
from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence

import numpy as np
from datasketch import MinHash

from .tokens import jaccard, shingle_set

SEED = 1  # fixed: signatures stored at index time must match ones computed at query time
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's value for "no shingle hashed": a row of these is no signature
MAX_BAND_MISS = 0.002  # band layout: chance that a pair exactly at the threshold shares no band key


def shingles(text: str | None, n: int = 1) -> list[bytes]:
    """The text's token set as MinHash input (empty for an empty text)."""
    return [w.encode() for w in sorted(shingle_set(text, n))]


def signatures(texts: Sequence[str | None], num_perm: int = 64, shingle: int = 1) -> np.ndarray:
    """MinHash signatures of many texts at once, shape (len(texts), num_perm), uint32.

    A text with no tokens gets the all-``EMPTY`` row, which ``group()`` reads as "no signature"."""
    if not texts:
        return np.zeros((0, num_perm), dtype=np.uint32)
    hashes = MinHash.bulk([shingles(t, shingle) for t in texts], num_perm=num_perm, seed=SEED)
    return np.stack([h.hashvalues.astype(np.uint32) for h in hashes])


def has_signature(sigs: np.ndarray) -> np.ndarray:
    """Rows that are real signatures (not the empty text's all-``EMPTY`` row)."""
    return ~np.all(sigs == EMPTY, axis=1)


def encode_signature(sig: np.ndarray) -> str:
    """Compact form stored in the index: base64 of the little-endian uint32 values."""
    return base64.b64encode(np.asarray(sig, dtype="<u4").tobytes()).decode("ascii")


def decode_signatures(values: list, num_perm: int) -> np.ndarray:
    """Many stored signatures at once, shape (len(values), num_perm); one C pass when all are base64."""
    if values and all(isinstance(v, str) for v in values):
        try:
            raw = b"".join(map(binascii.a2b_base64, values))
        except binascii.Error:
            raw = b""
        if len(raw) == len(values) * num_perm * 4:
            return np.frombuffer(raw, dtype="<u4").reshape(len(values), num_perm).astype(np.uint32)
    return np.stack([decode_signature(v, num_perm) for v in values]) if values else np.zeros((0, num_perm), np.uint32)


def decode_signature(value: str | list[int], num_perm: int) -> np.ndarray:
    if isinstance(value, str):
        try:
            sig = np.frombuffer(base64.b64decode(value, validate=True), dtype="<u4")
        except ValueError as exc:
            raise ValueError(f"signature is not valid base64: {exc}") from None
    elif isinstance(value, list):
        sig = np.asarray(value, dtype=np.uint64)
        if sig.size and int(sig.max()) > 0xFFFFFFFF:
            raise ValueError("signature values must fit in 32 bits")
        sig = sig.astype(np.uint32)
    else:
        raise ValueError(f"signature must be a base64 string or a list of integers, got {type(value).__name__}")
    if sig.shape != (num_perm,):
        raise ValueError(f"signature has {sig.size} values, the rule's num_perm is {num_perm}")
    return sig.astype(np.uint32)


def band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): the most rows per band (fewest pairs to verify) such that a pair at
    exactly the threshold shares no band with probability (1 - t^r)^b <= ``MAX_BAND_MISS``.

    A missed pair leaves a duplicate on the page while an extra pair costs one cheap check, so
    recall decides: at t = 0.8 and 64 permutations this gives 16 bands of 4 rows (miss 2e-4 at
    the threshold; bench/bench_dedup_recall.py measures it on real catalog titles)."""
    best = 1
    for r in range(1, num_perm + 1):
        if (1.0 - threshold ** r) ** (num_perm // r) <= MAX_BAND_MISS:
            best = r
    return num_perm // best, best


_MIX = (np.random.default_rng(0x5EED).integers(1, 2**32, size=1024, dtype=np.uint64) | np.uint64(1)).astype(np.uint32)


def band_keys(sigs: np.ndarray, threshold: float) -> np.ndarray:
    """LSH band keys, shape (len(sigs), bands), uint64: a band's key is the sum of its slice of the
    signature times odd mixing constants (uint32, wrapping), salted per band. Two rows sharing a
    key are a candidate pair; a key collision only adds a pair, which verification rejects."""
    n, num_perm = sigs.shape
    bands, r = band_layout(threshold, num_perm)
    prod = sigs * _MIX[:num_perm]
    keys = np.add.reduceat(prod[:, : bands * r], np.arange(0, bands * r, r), axis=1, dtype=np.uint64)
    return keys + np.arange(bands, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)


def screen_floor(threshold: float, num_perm: int) -> float:
    """Fewest equal signature values a pair with both texts needs before its exact Jaccard is
    computed: 4 standard deviations of the estimate below the threshold."""
    return threshold * num_perm - 1e-9 - 4.0 * math.sqrt(threshold * (1.0 - threshold) / num_perm) * num_perm


def _band_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of rows sharing at least one band key, each pair once (a < c)."""
    m = keys.shape[0]
    flat = keys.T.ravel()
    rows = np.tile(np.arange(m), keys.shape[1])
    order = np.argsort(flat)  # the order among equal keys does not matter: pairs are normalised below
    sk, sr = flat[order], rows[order]
    shared = np.r_[sk[1:] == sk[:-1], False] | np.r_[False, sk[1:] == sk[:-1]]
    sk, sr = sk[shared], sr[shared]  # only keys held by two or more rows can make pairs
    pa, pc = [], []
    for t in range(1, len(sk)):  # rows sharing a key are adjacent after the sort: pair them by offset
        same = sk[t:] == sk[:-t]
        if not same.any():
            break
        pa.append(sr[:-t][same])
        pc.append(sr[t:][same])
    if not pa:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, c = np.concatenate(pa), np.concatenate(pc)
    lo, hi = np.minimum(a, c), np.maximum(a, c)
    keep = lo != hi
    packed = np.unique(lo[keep].astype(np.int64) * m + hi[keep])
    return packed // m, packed % m


def _components(n: int, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Connected components of n nodes and edges (a, c): each node labelled with the smallest
    index in its component (min-label propagation with pointer jumping, all in numpy)."""
    label = np.arange(n)
    if len(a) == 0:
        return label
    while True:
        m = np.minimum(label[a], label[c])
        new = label.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, c, m)
        new = new[new]  # pointer jumping: follow labels to their own labels
        if np.array_equal(new, label):
            return label
        label = new


def group(sigs: np.ndarray, threshold: float, token_sets: Sequence[frozenset[str]] | None = None) -> np.ndarray:
    """Group id per candidate (rows in rank order): the index of the best-ranked member of its
    near-duplicate group. ``token_sets[i]`` is candidate i's ``shingle_set`` (empty: no text)."""
    n, num_perm = sigs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if token_sets is None:
        token_sets = [frozenset()] * n
    # 1. identical token sets are one group (exact Jaccard 1): common for catalog titles
    rep_of = np.arange(n)
    first: dict[frozenset[str], int] = {}
    for i, t in enumerate(token_sets):
        if t:
            rep_of[i] = first.setdefault(t, i)
    has_text = np.fromiter((bool(t) for t in token_sets), dtype=bool, count=n)
    reps = np.flatnonzero((rep_of == np.arange(n)) & has_signature(sigs))
    label = np.arange(n)
    # 2. distinct representatives sharing an LSH band key: pre-screened by estimate, then verified
    if len(reps) > 1:
        sub = sigs[reps]
        a, c = _band_pairs(band_keys(sub, threshold))
        if len(a):
            equal = (sub[a] == sub[c]).sum(axis=1)
            both_text = has_text[reps[a]] & has_text[reps[c]]
            keep = np.where(both_text, equal >= screen_floor(threshold, num_perm), equal >= threshold * num_perm - 1e-9)
            a, c, both_text = a[keep], c[keep], both_text[keep]
            ok = np.ones(len(a), dtype=bool)
            for j in np.flatnonzero(both_text).tolist():
                ok[j] = jaccard(token_sets[reps[a[j]]], token_sets[reps[c[j]]]) >= threshold - 1e-12
            label = _components(n, reps[a[ok]], reps[c[ok]])
    return label[rep_of]
