"""Rows of numbers packed as base64 strings (``vector_f16``, stored MinHash signatures), decoded
in one compiled pass.

A window of 200 float16 vectors is 205 KB of base64; ``binascii.a2b_base64`` reads it at about
0.4 GB/s here, which made the decode a tenth of a kNN search's time in the sidecar. The kernel
decodes every row of a (rows, length) byte matrix with a lookup table. It accepts only canonical
base64 (the alphabet, ``=`` padding at the end, the same length and padding on every row, which
is what the indexer writes); for anything else ``decode_rows`` returns None and the caller takes
its ``binascii`` path, which is lenient and names a culprit. Where the kernel accepts, its bytes
equal ``binascii.a2b_base64``'s (tests/test_transport.py, against ``_decode_reference``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INVALID = 256
_PAD = ord("=")


def _table() -> np.ndarray:
    """Byte -> its 6-bit value; ``_INVALID`` (bit 8 set) for a byte outside the alphabet."""
    t = np.full(256, _INVALID, dtype=np.int64)
    t[np.frombuffer(_ALPHABET, dtype=np.uint8)] = np.arange(64)
    return t


_TABLE = _table()  # a constant of the format, built once from the alphabet (not a cache)


def decode_rows(values: Sequence[object], dtype: str) -> np.ndarray | None:
    """The strings as an (n, k) array of ``dtype`` (little-endian, e.g. ``"<f2"``, ``"<u4"``),
    one row per string; None when any is not a str, not canonical base64, or decodes to a
    different length than the first."""
    n = len(values)
    if n == 0 or any(type(v) is not str for v in values):
        return None
    width = len(values[0])  # type: ignore[arg-type]
    if width == 0 or width % 4:
        return None
    try:
        buf = "".join(values).encode("ascii")  # type: ignore[arg-type]
    except UnicodeEncodeError:
        return None
    if len(buf) != n * width:  # the rows differ in length
        return None
    rows = np.frombuffer(buf, dtype=np.uint8).reshape(n, width)
    pad = int(rows[0, -1] == _PAD) + int(rows[0, -2] == _PAD)
    size = width // 4 * 3 - pad
    if size % np.dtype(dtype).itemsize:  # not a whole number of values: nothing to decode
        return None
    out = np.empty((n, size), dtype=np.uint8)
    if not _decode(rows, _TABLE, out):
        return None
    return out.view(dtype).reshape(n, -1)


@njit(cache=True)
def _decode(rows, table, out):  # pragma: no cover - compiled; _decode_reference is its twin
    n, width = rows.shape
    size = out.shape[1]
    pad = width // 4 * 3 - size  # 0, 1 or 2 "=" closing every row
    full = width // 4 - (1 if pad else 0)  # quanta of three whole bytes
    for r in range(n):
        for q in range(full):
            i = 4 * q
            a = table[rows[r, i]]
            b = table[rows[r, i + 1]]
            c = table[rows[r, i + 2]]
            d = table[rows[r, i + 3]]
            if (a | b | c | d) & _INVALID:  # a byte outside the alphabet
                return False
            x = (a << 18) | (b << 12) | (c << 6) | d
            o = 3 * q
            out[r, o] = (x >> 16) & 255
            out[r, o + 1] = (x >> 8) & 255
            out[r, o + 2] = x & 255
        if pad:
            i = 4 * full
            a = table[rows[r, i]]
            b = table[rows[r, i + 1]]
            c = table[rows[r, i + 2]] if pad == 1 else 0
            if (a | b | c) & _INVALID or rows[r, i + 3] != _PAD or (pad == 2 and rows[r, i + 2] != _PAD):
                return False
            x = (a << 18) | (b << 12) | (c << 6)
            o = 3 * full
            out[r, o] = (x >> 16) & 255
            if pad == 1:
                out[r, o + 1] = (x >> 8) & 255
    return True


def _decode_reference(rows: np.ndarray, table: np.ndarray, out: np.ndarray) -> bool:
    """The plain-Python twin of ``_decode`` (tests only): each row through the standard library,
    under the same canonical-form rules."""
    import binascii

    size = out.shape[1]
    for r in range(rows.shape[0]):
        text = rows[r].tobytes()
        body = text.rstrip(b"=")
        if len(text) - len(body) > 2 or any(table[ch] == _INVALID for ch in body):
            return False
        try:
            raw = binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            return False
        if len(raw) != size:
            return False
        out[r] = np.frombuffer(raw, dtype=np.uint8)
    return True
