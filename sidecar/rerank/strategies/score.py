"""Base order = retrieval score order: candidates are sorted best first, so the order is the index."""
from __future__ import annotations

import numpy as np
from numba import njit

from ..eligibility import eligible
from . import state


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> tuple:
    return state.make(rel, size)


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The first eligible item in index order (the default when c < 0 and not coop)."""
    meta, placed = st[11], ag[7]
    n = placed.shape[0]
    i = meta[2]
    while i < n and placed[i]:
        i += 1
    meta[2] = i
    for j in range(i, n):
        if eligible(ag, c, coop, j):
            return j
    return -1


@njit(cache=True)
def value(st, i: int) -> float:
    return st[0][i]


@njit(cache=True)
def add(st, i: int) -> None:
    st[10][st[11][0]] = i
    st[11][0] += 1
