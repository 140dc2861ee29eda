"""Base order = retrieval score order: candidates are sorted best first, so the order is the index."""
from __future__ import annotations

import numpy as np
from numba import njit

from ..eligibility import first_eligible
from . import state

_ORDERED = np.zeros(0)  # no scores: index order is the order


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> tuple:
    return state.make(rel, size)


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The first eligible item in index order (the default when c < 0 and not coop). An agent's
    search starts at its ``start``: nothing before it reduces the agent's deviance."""
    meta, placed, start = st[11], ag[7], ag[8]
    i = meta[2]
    while i < placed.shape[0] and placed[i]:
        i += 1
    meta[2] = i
    if c < 0:
        return first_eligible(ag, _ORDERED, c, coop, i)
    found = first_eligible(ag, _ORDERED, c, coop, max(i, start[c]))
    if not coop:
        start[c] = found if found >= 0 else placed.shape[0]
    return found


@njit(cache=True, inline="always")
def value(st, i: int) -> float:
    return st[0][i]


@njit(cache=True, inline="always")
def add(st, i: int) -> None:
    st[10][st[11][0]] = i
    st[11][0] += 1
