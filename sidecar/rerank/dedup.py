"""Near-duplicate detection with datasketch MinHash (DESIGN.md 1.3).

Index time: ``signatures()`` turns texts into MinHash signatures (uint32 per permutation),
stored with each document as base64 (``encode_signature``). Query time: ``group()`` buckets
the candidates' signatures by LSH band keys, and joins two candidates into one group when they
share a band key and their estimated Jaccard (share of equal hash values) reaches the
threshold: connected components (DESIGN.md's union-find, done as numpy label propagation).
Grouping is pure numpy over an (n, num_perm) matrix.
"""
from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache

import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param

_TOKEN = re.compile(r"[a-z0-9]+")
SEED = 1  # fixed: signatures stored at index time must match ones computed at query time


def shingles(text: str, n: int = 1) -> list[bytes]:
    """Lower-cased word n-grams; an empty text gives one empty shingle so it still has a signature."""
    words = _TOKEN.findall(text.lower())
    if n > 1 and len(words) >= n:
        words = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return [w.encode() for w in dict.fromkeys(words)] or [b""]


def signatures(texts: list[str], num_perm: int = 64, shingle: int = 1) -> np.ndarray:
    """MinHash signatures of many texts at once, shape (len(texts), num_perm), uint32."""
    if not texts:
        return np.zeros((0, num_perm), dtype=np.uint32)
    hashes = MinHash.bulk([shingles(t, shingle) for t in texts], num_perm=num_perm, seed=SEED)
    return np.stack([h.hashvalues.astype(np.uint32) for h in hashes])


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


@lru_cache(maxsize=64)
def band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) by datasketch's optimiser, weighted towards recall.

    Every pair sharing a band is verified by its estimated Jaccard, so a false positive costs
    one comparison while a false negative leaves a duplicate on the page: weights 0.05 / 0.95
    find ~95% of pairs exactly at the threshold (the balanced 0.5 / 0.5 finds ~40%)."""
    return _optimal_param(threshold, num_perm, 0.05, 0.95)


_MIX = (np.random.default_rng(0x5EED).integers(1, 2**32, size=1024, dtype=np.uint64) | np.uint64(1)).astype(np.uint32)


def _band_pairs(prod: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of rows sharing at least one LSH band key, each pair once (a < c).

    ``prod`` is the signature matrix times odd mixing constants (uint32, wrapping): a band's key
    is the sum of its slice, so one multiplication serves every band. Keys may collide; a
    collision only adds a pair, and every pair is verified by estimated Jaccard."""
    m, num_perm = prod.shape
    bands, r = band_layout(threshold, num_perm)
    keys = np.add.reduceat(prod[:, : bands * r], np.arange(0, bands * r, r), axis=1, dtype=np.uint64).T
    keys = keys + np.arange(bands, dtype=np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)  # per-band salt
    flat = keys.ravel()
    rows = np.tile(np.arange(m), bands)
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


def group(sigs: np.ndarray, threshold: float) -> np.ndarray:
    """Group id per candidate: the index of the best-ranked member of its near-duplicate group."""
    n, num_perm = sigs.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    prod = sigs * _MIX[:num_perm]  # uint32, wrapping
    # 1. identical signatures (identical word sets: very common for catalog titles) are one group;
    #    a key collision between different signatures is caught by the equality check.
    _, first, inverse = np.unique(prod.sum(axis=1, dtype=np.uint64), return_index=True, return_inverse=True)
    rep_of = first[inverse.ravel()]
    collided = np.flatnonzero(np.any(sigs != sigs[rep_of], axis=1))
    rep_of[collided] = collided  # (practically never) keep colliding rows apart; step 2 still compares them
    reps = np.unique(rep_of)  # one row per distinct signature, in rank order
    label = np.arange(n)
    # 2. distinct signatures sharing an LSH band key are compared by estimated Jaccard
    if len(reps) > 1:
        a, c = _band_pairs(prod[reps], threshold)
        if len(a):
            sub = sigs[reps]
            close = (sub[a] == sub[c]).sum(axis=1) >= threshold * num_perm - 1e-9
            label = _components(n, reps[a[close]], reps[c[close]])
    return label[rep_of]
