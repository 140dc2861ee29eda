"""Near-duplicate detection: MinHash band keys propose pairs, exact Jaccard decides (docs/algorithm.md, "Near-duplicates").

Index time: ``signatures()`` MinHashes each text's token set (``minhash``, over the one
tokenizer); the signature is stored with the document as base64.

Query time, ``group()`` (a compiled kernel) guarantees:
- two candidates whose texts are both present are joined only if a chain of pairs with *exact*
  token-set Jaccard >= threshold links them (token sets compared as 64-bit hashes; the MinHash
  estimate only proposes pairs);
- a pair where a text is missing is decided by the signatures' estimated Jaccard;
- a candidate with neither text nor signature is nobody's duplicate;
- identical token sets share every band key, so they are always one group; a pair exactly at the
  threshold is proposed with probability >= 1 - ``MAX_BAND_MISS`` (more as its Jaccard rises),
  and the estimate pre-screen (4 standard deviations below the threshold) loses fewer than 1
  in 10^4 (bench/bench_dedup_recall.py measures both on real catalog titles).
Groups are connected components (union-find); each candidate is labelled with the index of its
best-ranked group member.
"""
from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence

import numpy as np
from numba import njit

from . import minhash
from .minhash import EMPTY
from .packed import decode_rows as packed_rows
from .tokens import encode, hashed, spans

MAX_BAND_MISS = 0.002  # band layout: chance that a pair exactly at the threshold shares no band key


def signatures(texts: Sequence[str | None], num_perm: int = 64, shingle: int = 1,
               perms: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """MinHash signatures (``minhash``), shape (len(texts), num_perm), uint32; a text with no
    tokens gets the all-``EMPTY`` row, which ``group()`` reads as "no signature"."""
    return minhash.signatures(texts, num_perm, shingle, perms=perms)


def has_signature(sigs: np.ndarray) -> np.ndarray:
    """Rows that are real signatures (not the empty text's all-``EMPTY`` row)."""
    return ~np.all(sigs == EMPTY, axis=1)


def encode_signature(sig: np.ndarray) -> str:
    """Compact form stored in the index: base64 of the little-endian uint32 values."""
    return base64.b64encode(np.asarray(sig, dtype="<u4").tobytes()).decode("ascii")


def decode_signatures(values: list, num_perm: int) -> np.ndarray:
    """Many stored signatures at once, shape (len(values), num_perm): one compiled pass when all
    are canonical base64 (``packed``), else ``binascii``, else one by one (naming the culprit)."""
    packed = packed_rows(values, "<u4")
    if packed is not None and packed.shape[1] == num_perm:
        return packed.astype(np.uint32, copy=False)
    if values and all(isinstance(v, str) for v in values):
        try:
            raw = b"".join(map(binascii.a2b_base64, values))
        except binascii.Error:
            raw = b""
        if len(raw) == len(values) * num_perm * 4:
            return np.frombuffer(raw, dtype="<u4").reshape(len(values), num_perm).astype(np.uint32)
    return np.stack([decode_signature(v, num_perm) for v in values]) if values else np.zeros((0, num_perm), np.uint32)


def decode_signature(value: str | list[int], num_perm: int) -> np.ndarray:
    """One stored signature (base64 of little-endian uint32, or a list of integers) as
    ``num_perm`` uint32 values. Raises ValueError for bad base64, values past 32 bits or a wrong length."""
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
    """LSH band keys, shape (len(sigs), bands), uint64 (what ``group`` buckets by)."""
    bands, rows = band_layout(threshold, sigs.shape[1])
    return _band_keys(np.ascontiguousarray(sigs, dtype=np.uint32), _MIX, bands, rows)


def screen_floor(threshold: float, num_perm: int) -> float:
    """Fewest equal signature values a pair with both texts needs before its exact Jaccard is
    computed: 4 standard deviations of the estimate below the threshold."""
    return threshold * num_perm - 1e-9 - 4.0 * math.sqrt(threshold * (1.0 - threshold) / num_perm) * num_perm


class TooManyPairs(ValueError):
    """More candidate pairs than ``max_pairs`` to verify: the work would grow with n^2 (a very low
    threshold over similar texts); raised instead of spending it."""


def group(sigs: np.ndarray, threshold: float, texts: Sequence[str | None] | None = None, shingle: int = 1,
          max_pairs: int = -1) -> np.ndarray:
    """Group id per candidate (rows in rank order): the index of the best-ranked member of its
    near-duplicate group. ``texts[i]``: candidate i's dedup text (None: no text)."""
    buf, offs = encode(texts if texts is not None else [None] * len(sigs))
    return group_encoded(sigs, threshold, buf, offs[:-1], offs[1:], shingle, max_pairs=max_pairs)


def group_encoded(sigs: np.ndarray, threshold: float, buf: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  shingle: int = 1, layout: tuple[int, int] | None = None, max_pairs: int = -1) -> np.ndarray:
    """``group`` with row i's text given as bytes buf[lo[i]:hi[i]] (``tokens.encode``);
    ``layout``: ``band_layout(threshold, num_perm)`` when the caller has it already.
    ``max_pairs`` (-1: no bound): TooManyPairs once more candidate pairs than that were met in
    band buckets (a pair counts once per band key it shares: that is the work, and what grows
    as n^2 when a low threshold puts similar texts in the same buckets)."""
    n, num_perm = sigs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bands, rows = layout or band_layout(threshold, num_perm)
    label = _group_texts(np.ascontiguousarray(sigs, dtype=np.uint32), buf, lo, hi, shingle, _MIX, bands, rows,
                         threshold, screen_floor(threshold, num_perm), threshold * num_perm - 1e-9, max_pairs)
    if label[0] < 0:  # the kernel's "stopped at max_pairs" (row 0 is otherwise always its own root)
        raise TooManyPairs(f"dedup: more than {max_pairs} candidate pairs to look at at threshold {threshold:g} "
                           f"over {n} candidates; raise the threshold or send fewer candidates")
    return label


@njit(cache=True)
def _group_texts(sigs, buf, lo, hi, shingle: int, mix, bands: int, rows: int, threshold: float, floor_text: float,
                 floor_sig: float, max_pairs: int) -> np.ndarray:
    """Tokens, band keys and grouping in one compiled call."""
    starts, ends, wptr = spans(buf, lo, hi)
    ptr, tok = hashed(buf, starts, ends, wptr, shingle)
    has_sig = np.zeros(sigs.shape[0], dtype=np.bool_)
    for i in range(sigs.shape[0]):
        for p in range(sigs.shape[1]):
            if sigs[i, p] != 0xFFFFFFFF:
                has_sig[i] = True
                break
    return _group(sigs, has_sig, ptr, tok, _band_keys(sigs, mix, bands, rows), threshold, floor_text, floor_sig,
                  max_pairs)


@njit(cache=True)
def _band_keys(sigs, mix, bands: int, rows: int) -> np.ndarray:
    """A band's key: the sum of its slice times odd mixing constants (uint32 products, wrapping),
    salted per band. Keys may collide: a collision only adds a pair, which verification rejects."""
    n = sigs.shape[0]
    keys = np.empty((n, bands), dtype=np.uint64)
    for i in range(n):
        for b in range(bands):
            h = np.uint64(b) * np.uint64(0x9E3779B97F4A7C15)
            for j in range(b * rows, (b + 1) * rows):
                h += np.uint64(np.uint32(sigs[i, j] * mix[j]))
            keys[i, b] = h
    return keys


@njit(cache=True, inline="always")
def _root(parent, i: int) -> int:
    """i's group root (union-find with path halving)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _join_twins(sigs, has_sig, ptr, tok, parent) -> np.ndarray:
    """Step 1: rows identical in signature and token set verify identically against everything:
    join each to its first twin now (catalogs repeat titles by the hundred); returns the rows
    left to band (the first of each)."""
    n, num_perm = sigs.shape
    twin_size = 16
    while twin_size < 2 * n:
        twin_size *= 2
    twin_head = np.full(twin_size, -1, dtype=np.int64)
    banded = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if not has_sig[i]:
            continue
        h = np.uint64(0xCBF29CE484222325)
        for p in range(num_perm):
            h = (h ^ np.uint64(sigs[i, p])) * np.uint64(0x100000001B3)
        slot = h & np.uint64(twin_size - 1)
        while True:
            r = twin_head[slot]
            if r < 0:
                twin_head[slot] = i
                banded[i] = True
                break
            same = ptr[i + 1] - ptr[i] == ptr[r + 1] - ptr[r]
            p = 0
            while same and p < num_perm:
                same = sigs[i, p] == sigs[r, p]
                p += 1
            q = 0
            while same and q < ptr[i + 1] - ptr[i]:
                same = tok[ptr[i] + q] == tok[ptr[r] + q]
                q += 1
            if same:
                parent[i] = r  # r < i: the best-ranked twin is the root
                break
            slot = (slot + np.uint64(1)) & np.uint64(twin_size - 1)
    return banded


@njit(cache=True, inline="always")
def _verified(sigs, ptr, tok, i: int, j: int, threshold: float, floor_text: float, floor_sig: float) -> bool:
    """Are i and j near-duplicates? Both with text: exact Jaccard of their sorted token hashes
    (after a cheap screen on the signatures' agreement); else the signatures' estimate."""
    equal = 0
    for p in range(sigs.shape[1]):
        equal += sigs[i, p] == sigs[j, p]
    if ptr[i + 1] > ptr[i] and ptr[j + 1] > ptr[j]:
        if equal < floor_text:
            return False
        x, y, inter = ptr[i], ptr[j], 0
        while x < ptr[i + 1] and y < ptr[j + 1]:
            if tok[x] == tok[y]:
                inter += 1
                x += 1
                y += 1
            elif tok[x] < tok[y]:
                x += 1
            else:
                y += 1
        union = (ptr[i + 1] - ptr[i]) + (ptr[j + 1] - ptr[j]) - inter
        return inter >= (threshold - 1e-12) * union
    return equal >= floor_sig


@njit(cache=True)
def _group(sigs, has_sig, ptr, tok, keys, threshold: float, floor_text: float, floor_sig: float,
           max_pairs: int) -> np.ndarray:
    """Identical rows joined first (``_join_twins``); then band keys bucketed in one
    open-addressing table, every pair met in a bucket verified once (``met``, ``_verified``)
    unless its ends are already in one group. Union-find keeps the smaller index as the root: a
    root is its group's best-ranked member. More than ``max_pairs`` (>= 0) pairs met in
    buckets: stop, and return all -1."""
    n = sigs.shape[0]
    bands = keys.shape[1]
    size = 1
    while size < 2 * n * bands:
        size *= 2
    mask = np.uint64(size - 1)
    slot_key = np.empty(size, dtype=np.uint64)
    slot_head = np.full(size, -1, dtype=np.int64)
    nxt = np.empty(n * bands, dtype=np.int64)  # entry e = i * bands + b, chained per bucket
    parent = np.arange(n)
    banded = _join_twins(sigs, has_sig, ptr, tok, parent)
    met = np.full(n, -1, dtype=np.int64)  # met[j] == i: the pair (j, i) was already looked at
    seen = 0  # pairs met in buckets, a pair once per band it shares: the work that can grow as n^2
    for i in range(n):  # step 2: distinct rows sharing a band key
        if not banded[i]:
            continue
        for b in range(bands):
            key = keys[i, b]
            h = (key ^ (key >> np.uint64(29))) & mask
            while slot_head[h] >= 0 and slot_key[h] != key:
                h = (h + np.uint64(1)) & mask
            e = slot_head[h]
            while e >= 0:
                j = e // bands
                e = nxt[e]
                seen += 1
                if max_pairs >= 0 and seen > max_pairs:
                    return np.full(n, -1, dtype=np.int64)
                if met[j] == i:
                    continue
                met[j] = i
                ri, rj = _root(parent, i), _root(parent, j)
                if ri != rj and _verified(sigs, ptr, tok, i, j, threshold, floor_text, floor_sig):
                    parent[max(ri, rj)] = min(ri, rj)
            slot_key[h] = key
            nxt[i * bands + b] = slot_head[h]
            slot_head[h] = i * bands + b
    label = np.empty(n, dtype=np.int64)
    for i in range(n):
        label[i] = _root(parent, i)
    return label
