"""Base order = retrieval score order: candidates are sorted best first, so the order is the index."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..eligibility import first_eligible
from .base import Strategy, placed_buffer

_ORDERED = np.zeros(0)  # no scores: index order is the order


class ScoreState(NamedTuple):
    """The retrieval-order base order's state: the placed items and the first unplaced index."""
    rel: np.ndarray  # float64[n]: the normalised retrieval score, best first
    sel: np.ndarray  # int64[size]: placed items in order
    meta: np.ndarray  # int64[2]: placed count, first unplaced index


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> ScoreState:
    """The state for ``rel`` (vectors and diversity are not read)."""
    rel = np.ascontiguousarray(rel, dtype=np.float64)
    return ScoreState(rel, placed_buffer(len(rel), size), np.zeros(2, dtype=np.int64))


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The first eligible item in index order (the default when c < 0 and not coop). An agent's
    search starts at its ``start``: nothing before it reduces the agent's deviance."""
    meta, placed, start = st.meta, ag.placed, ag.start
    i = meta[1]
    while i < placed.shape[0] and placed[i]:
        i += 1
    meta[1] = i
    if c < 0:
        return first_eligible(ag, _ORDERED, c, coop, i)
    found = first_eligible(ag, _ORDERED, c, coop, max(i, start[c]))
    if not coop:
        start[c] = found if found >= 0 else placed.shape[0]
    return found


@njit(cache=True, inline="always")
def value(st, i: int) -> float:
    """Item ``i``'s normalised retrieval score."""
    return st.rel[i]


@njit(cache=True, inline="always")
def add(st, i: int) -> None:
    """Place item ``i``."""
    st.sel[st.meta[0]] = i
    st.meta[0] += 1


STRATEGY = Strategy("score", False, "score order", None, "retrieval score order (the default)", ScoreState,
                    prepare, first, value, add)
