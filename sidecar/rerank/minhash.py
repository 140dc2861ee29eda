"""MinHash signatures of token sets, compiled: datasketch's "affine32" scheme, bit for bit.

For each shingle of a text (``tokens``: the one tokenizer): h = the first 4 bytes of SHA-1 of
the shingle, read little-endian; h = MurmurHash3's 32-bit finalizer of h; for permutation k,
a_k * h + b_k mod 2^32 (a_k odd, so a bijection); the signature keeps the minimum per
permutation. (a, b) come from ``numpy.random.RandomState(seed)`` exactly as datasketch draws
them, so signatures stored by earlier versions of this project (made with datasketch 2.x,
whose default scheme this is) stay comparable; a test checks equality with datasketch itself.
A text without tokens has no signature: its row is all 0xFFFFFFFF, as an empty datasketch
MinHash.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from .tokens import encode, spans

SEED = 1  # fixed: signatures stored at index time must match ones computed at query time
EMPTY = np.uint32(0xFFFFFFFF)
_M32 = np.uint64(0xFFFFFFFF)


def permutations(num_perm: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 parameters: a odd in [1, 2^32), b in [0, 2^32), both uint32."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def signatures(texts: Sequence[str | None], num_perm: int = 64, shingle: int = 1, seed: int = SEED,
               perms: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Signatures of many texts at once, shape (len(texts), num_perm), uint32. ``perms``: the
    ``permutations(num_perm, seed)`` worked out once by the caller (a rule holds its own)."""
    buf, offs = encode(texts)
    starts, ends, wptr = spans(buf, offs[:-1], offs[1:])
    a, b = perms if perms is not None else permutations(num_perm, seed)
    return _signatures(buf, starts, ends, wptr, shingle, a.astype(np.uint64), b.astype(np.uint64))


@njit(cache=True)
def _sha1_first_word(msg, length: int, block, w) -> np.uint64:
    """SHA-1 of msg[:length]; returns the digest's first 4 bytes read little-endian. ``block``
    (at least length + 72 bytes) and ``w`` (80 words) are scratch space."""
    total = ((length + 8) // 64 + 1) * 64
    block[:total] = 0
    block[:length] = msg[:length]
    block[length] = 0x80
    bits = np.uint64(length) * np.uint64(8)
    for i in range(8):
        block[total - 1 - i] = np.uint8((bits >> np.uint64(8 * i)) & np.uint64(0xFF))
    h0, h1, h2 = np.uint64(0x67452301), np.uint64(0xEFCDAB89), np.uint64(0x98BADCFE)
    h3, h4 = np.uint64(0x10325476), np.uint64(0xC3D2E1F0)
    for chunk in range(0, total, 64):
        for i in range(16):
            j = chunk + 4 * i
            w[i] = (np.uint64(block[j]) << np.uint64(24)) | (np.uint64(block[j + 1]) << np.uint64(16)) \
                | (np.uint64(block[j + 2]) << np.uint64(8)) | np.uint64(block[j + 3])
        for i in range(16, 80):
            x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
            w[i] = ((x << np.uint64(1)) | (x >> np.uint64(31))) & _M32
        a, b, c, d, e = h0, h1, h2, h3, h4
        for i in range(80):
            if i < 20:
                f, k = (b & c) | ((~b & _M32) & d), np.uint64(0x5A827999)
            elif i < 40:
                f, k = b ^ c ^ d, np.uint64(0x6ED9EBA1)
            elif i < 60:
                f, k = (b & c) | (b & d) | (c & d), np.uint64(0x8F1BBCDC)
            else:
                f, k = b ^ c ^ d, np.uint64(0xCA62C1D6)
            tmp = ((((a << np.uint64(5)) | (a >> np.uint64(27))) & _M32) + f + e + k + w[i]) & _M32
            e, d, c, b, a = d, c, ((b << np.uint64(30)) | (b >> np.uint64(2))) & _M32, a, tmp
        h0 = (h0 + a) & _M32
        h1 = (h1 + b) & _M32
        h2 = (h2 + c) & _M32
        h3 = (h3 + d) & _M32
        h4 = (h4 + e) & _M32
    # digest bytes 0..3 are h0 big-endian; read them little-endian
    return ((h0 & np.uint64(0xFF)) << np.uint64(24)) | ((h0 & np.uint64(0xFF00)) << np.uint64(8)) \
        | ((h0 >> np.uint64(8)) & np.uint64(0xFF00)) | (h0 >> np.uint64(24))


@njit(cache=True)
def _signatures(buf, starts, ends, wptr, n: int, a, b) -> np.ndarray:
    """Each distinct shingle is hashed once per call: a table keyed by its FNV-1a hash, its bytes
    compared on a hit (catalog titles repeat "men", "black", "shirt" hundreds of times)."""
    rows = wptr.shape[0] - 1
    num_perm = a.shape[0]
    out = np.full((rows, num_perm), 0xFFFFFFFF, dtype=np.uint32)
    msg = np.zeros(max(64, buf.shape[0] + 8), dtype=np.uint8)
    block = np.zeros(msg.shape[0] + 72, dtype=np.uint8)
    words = np.zeros(80, dtype=np.uint64)
    size = 16
    while size < 2 * max(1, starts.shape[0]):
        size *= 2
    slot_fnv = np.zeros(size, dtype=np.uint64)
    slot_hv = np.zeros(size, dtype=np.uint64)
    slot_at = np.full(size, -1, dtype=np.int64)  # where the shingle's bytes start in ``seen``
    slot_len = np.zeros(size, dtype=np.int64)
    seen = np.zeros(msg.shape[0] + 8 * max(1, starts.shape[0]) * max(1, n), dtype=np.uint8)
    used = 0
    for t in range(rows):
        w0, w1 = wptr[t], wptr[t + 1]
        k = 1 if w1 - w0 < n else n
        for g in range(w0, w1 - k + 1):
            length = 0
            fnv = np.uint64(0xCBF29CE484222325)
            for w in range(g, g + k):
                if w > g:
                    msg[length] = 32
                    length += 1
                    fnv = (fnv ^ np.uint64(32)) * np.uint64(0x100000001B3)
                for i in range(starts[w], ends[w]):
                    c = buf[i]
                    c = c + 32 if 65 <= c <= 90 else c
                    msg[length] = c
                    length += 1
                    fnv = (fnv ^ np.uint64(c)) * np.uint64(0x100000001B3)
            slot = fnv & np.uint64(size - 1)
            h = np.uint64(0)
            while True:
                at = slot_at[slot]
                if at < 0:  # new shingle: hash it and remember it
                    h = _sha1_first_word(msg, length, block, words)  # then MurmurHash3's 32-bit finalizer
                    h ^= h >> np.uint64(16)
                    h = (h * np.uint64(0x85EBCA6B)) & _M32
                    h ^= h >> np.uint64(13)
                    h = (h * np.uint64(0xC2B2AE35)) & _M32
                    h ^= h >> np.uint64(16)
                    slot_fnv[slot], slot_hv[slot], slot_at[slot], slot_len[slot] = fnv, h, used, length
                    seen[used:used + length] = msg[:length]
                    used += length
                    break
                if slot_fnv[slot] == fnv and slot_len[slot] == length:
                    same = True
                    for i in range(length):
                        if seen[at + i] != msg[i]:
                            same = False
                            break
                    if same:
                        h = slot_hv[slot]
                        break
                slot = (slot + np.uint64(1)) & np.uint64(size - 1)
            for p in range(num_perm):
                v = np.uint32((a[p] * h + b[p]) & _M32)
                if v < out[t, p]:
                    out[t, p] = v
    return out
