"""Base order = greedy DPP (Chen, Zhang & Zhou, 2018), as pyversity computes it, compiled.

The kernel is L = diag(w) S diag(w): S the cosine similarities, w = exp(beta * z-score of the
relevance) with beta = 1 - diversity. Greedy MAP inference adds, each step, the item with the
largest residual variance (the gain in log det), then projects every residual onto the new
item's Cholesky component: O(n * (d + t)) per step. Arithmetic is float32 like pyversity's, so the
selections agree (a test compares them on real vectors). Penalties are measured in shares of the
first pick's gain, so lambda means the same whatever the scale of the weights.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ..eligibility import first_eligible
from .base import Strategy, dot32, placed_buffer

EPS32 = float(np.finfo(np.float32).eps)


class DPPState(NamedTuple):
    """The DPP base order's state: weights, residual variances and the placed items' Cholesky rows."""
    rel: np.ndarray  # float64[n]
    vec: np.ndarray  # float32[n, d]: unit vectors
    w: np.ndarray  # float64[n]: the DPP weights (float32 values)
    r: np.ndarray  # float32[n]: residual variance, the marginal gain
    comp: np.ndarray  # float32[n, size]: Cholesky components of the placed items
    sel: np.ndarray  # int64[size]: placed items in order
    meta: np.ndarray  # int64[1]: placed count
    par: np.ndarray  # float64[2]: diversity, the first pick's gain (penalties are shares of it)


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> DPPState:
    """The state for ``rel`` and unit ``vectors``; raises ValueError without vectors."""
    if vectors is None:
        raise ValueError("DPP needs vectors")
    n = len(rel)
    sel = placed_buffer(n, size)
    r = np.asarray(rel, dtype=np.float32)
    beta = 1.0 - diversity
    weights = np.exp(beta * (r - float(r.mean())) / float(r.std() + EPS32)).astype(np.float32)
    return DPPState(np.ascontiguousarray(rel, dtype=np.float64), np.ascontiguousarray(vectors, dtype=np.float32),
                    weights.astype(np.float64), weights * weights + np.float32(EPS32),
                    np.zeros((n, len(sel)), dtype=np.float32), sel, np.zeros(1, dtype=np.int64),
                    np.array([diversity, 0.0]))


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The eligible item with the largest gain (ties: lower index); diversity 0: by relevance."""
    if st.par[0] == 0.0:
        return first_eligible(ag, st.rel, c, coop, 0)
    return first_eligible(ag, st.r, c, coop, 0)


@njit(cache=True, inline="always")
def value(st, i: int) -> float:
    """Item ``i``'s marginal gain now (its relevance before the first pick)."""
    rel, r, par = st.rel, st.r, st.par
    if par[0] == 0.0:
        return rel[i]
    return np.float64(r[i]) / par[1] if par[1] > 0.0 else np.float64(r[i])


@njit(cache=True, inline="always")
def add(st, j: int) -> None:
    """Place item ``j``: update every item's residual variance (a Cholesky step)."""
    vec, w, r, comp, sel, meta, par = st.vec, st.w, st.r, st.comp, st.sel, st.meta, st.par
    t = meta[0]
    sel[t] = j
    meta[0] += 1
    if par[0] == 0.0 or t >= comp.shape[1]:
        return
    if t == 0:
        par[1] = np.float64(r[j])
    scale = np.float32(math.sqrt(np.float64(r[j]))) + np.float32(EPS32)
    wj = w[j]
    for i in range(r.shape[0]):
        sim = (np.float32(w[i]) * dot32(vec, i, j)) * np.float32(wj)
        proj = np.float32(0.0)
        for s in range(t):
            proj += comp[i, s] * comp[j, s]
        u = (sim - proj) / scale
        comp[i, t] = u
        r[i] = max(r[i] - u * u, np.float32(0.0))


STRATEGY = Strategy("dpp", True, "DPP", "gain", "greedy DPP replaces score order as the base order", DPPState,
                    prepare, first, value, add)
