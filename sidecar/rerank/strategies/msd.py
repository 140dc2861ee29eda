"""Base order = Maximal Sum of Distances (MSD), as pyversity computes it, compiled.

score(j) = (1 - d) * rel(j) + d * sum over placed p of (1 - cos(j, p)), cosine on unit vectors
clipped to [-1, 1]; the first pick is the most relevant item; ties go to the lower index. Unlike
MMR's, a score only grows as items are placed, so there is no lazy bound: each placement adds
one cosine per item, O(n * dim). Arithmetic is float32 like pyversity's, so the selections agree
(a test compares them in the same run). A penalty is a difference of these scores, so it grows
with the page: on the k-th slot an item's summed distance is up to 2 * d * (k - 1) above its
relevance term. Lambda trades against that scale; MMR or DPP keep penalties on a fixed scale.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..eligibility import first_eligible
from .base import Strategy, dot32, placed_buffer


class MSDState(NamedTuple):
    """The max-sum-diversity base order's state: each item's summed distance to the placed items."""
    rel: np.ndarray  # float64[n]
    vec: np.ndarray  # float32[n, d]: unit vectors
    rel32: np.ndarray  # float32[n]: (1 - d) * rel, as pyversity rounds it
    dist: np.ndarray  # float32[n]: summed distance to the placed items
    key: np.ndarray  # float32[n]: the current score (the relevance before the first pick)
    sel: np.ndarray  # int64[size]: placed items in order
    meta: np.ndarray  # int64[1]: placed count
    par: np.ndarray  # float32[1]: diversity, as pyversity rounds it


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> MSDState:
    """The state for ``rel`` and unit ``vectors``; raises ValueError without vectors."""
    if vectors is None:
        raise ValueError("MSD needs vectors")
    n = len(rel)
    r32 = np.asarray(rel, dtype=np.float32)
    keep = 1.0 - diversity
    return MSDState(np.ascontiguousarray(rel, dtype=np.float64), np.ascontiguousarray(vectors, dtype=np.float32),
                    (r32 * np.float32(keep)).astype(np.float32), np.zeros(n, dtype=np.float32), r32.copy(),
                    placed_buffer(n, size), np.zeros(1, dtype=np.int64), np.array([1.0 - keep], dtype=np.float32))


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The eligible item with the largest score (ties: lower index)."""
    return first_eligible(ag, st.key, c, coop, 0)


@njit(cache=True, inline="always")
def value(st, i: int) -> float:
    """Item ``i``'s score now (its relevance before the first pick)."""
    return np.float64(st.key[i])


@njit(cache=True)
def add(st, j: int) -> None:
    """Place item ``j``: add its distance to every item's sum and rescore."""
    vec, rel32, dist, key, sel, meta, par = st.vec, st.rel32, st.dist, st.key, st.sel, st.meta, st.par
    sel[meta[0]] = j
    meta[0] += 1
    d = par[0]
    one = np.float32(1.0)
    for i in range(key.shape[0]):
        cos = min(max(dot32(vec, i, j), -one), one)
        dist[i] += one - cos
        key[i] = rel32[i] + d * dist[i]


STRATEGY = Strategy("msd", True, "MSD", "score", "Maximal Sum of Distances replaces score order as the base order",
                    MSDState, prepare, first, value, add)
