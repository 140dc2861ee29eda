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

import numpy as np
from numba import njit

from ..eligibility import first_eligible
from . import state

EPS32 = float(np.finfo(np.float32).eps)


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> tuple:
    if vectors is None:
        raise ValueError("DPP needs vectors")
    st = state.make(rel, size, vectors, diversity, uses="dpp")
    r = np.asarray(rel, dtype=np.float32)
    beta = 1.0 - diversity
    weights = np.exp(beta * (r - float(r.mean())) / float(r.std() + EPS32)).astype(np.float32)
    st[4][:] = weights  # w: the DPP weights
    st[5][:] = weights * weights + np.float32(EPS32)  # r: residual variance
    return st


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The eligible item with the largest gain (ties: lower index); diversity 0: by relevance."""
    if st[12][0] == 0.0:
        return first_eligible(ag, st[0], c, coop, 0)
    return first_eligible(ag, st[5], c, coop, 0)


@njit(cache=True, inline="always")
def value(st, i: int) -> float:
    rel, r, par = st[0], st[5], st[12]
    if par[0] == 0.0:
        return rel[i]
    return np.float64(r[i]) / par[1] if par[1] > 0.0 else np.float64(r[i])


@njit(cache=True, fastmath={"reassoc", "contract"})  # lets the float32 sum vectorise
def _similarity(vec, i: int, j: int) -> np.float32:
    s = np.float32(0.0)
    for t in range(vec.shape[1]):
        s += vec[i, t] * vec[j, t]
    return s


@njit(cache=True, inline="always")
def add(st, j: int) -> None:
    vec, w, r, comp, sel, meta, par = st[1], st[4], st[5], st[6], st[10], st[11], st[12]
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
        sim = (np.float32(w[i]) * _similarity(vec, i, j)) * np.float32(wj)
        proj = np.float32(0.0)
        for s in range(t):
            proj += comp[i, s] * comp[j, s]
        u = (sim - proj) / scale
        comp[i, t] = u
        r[i] = max(r[i] - u * u, np.float32(0.0))
