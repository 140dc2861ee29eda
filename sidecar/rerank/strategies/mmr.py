"""Base order = MMR (Carbonell & Goldstein, 1998; Qdrant/OpenSearch semantics), evaluated lazily.

marginal(j) = (1 - d) * rel(j) - d * max_sim(j, placed), cosine similarity on unit vectors; the
first pick is the most relevant item; ties go to the lower index. A marginal score can only fall
as items are placed, so a stale score is an upper bound: items sit in a heap keyed by their last
known score, and only an item reaching the top is refreshed against the items placed since. The
selection equals plain greedy MMR exactly (tests compare it with a textbook implementation); on
1,000 real kNN candidates about 30 items are refreshed per pick instead of all 1,000. (From the
second pick on, a score is at most (1 - d) * rel + d, since a cosine is at least -1; the keys are
shifted once to that bound when the first item is placed.)
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..eligibility import any_eligible, eligible
from . import state


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> tuple:
    if vectors is None:
        raise ValueError("MMR needs vectors")
    st = state.make(rel, size, vectors, diversity)
    hkey, hidx, meta = st[7], st[8], st[11]
    order = np.lexsort((np.arange(len(rel)), -st[4]))  # a sorted array is a valid heap
    hkey[:] = -st[4][order]
    hidx[:] = order
    meta[1] = len(rel)
    return st


@njit(cache=True, fastmath=True)
def _dot(vec, i: int, j: int) -> float:
    s = np.float32(0.0)
    for t in range(vec.shape[1]):
        s += vec[i, t] * vec[j, t]
    return s


@njit(cache=True)
def _less(hkey, hidx, x: int, y: int) -> bool:
    return hkey[x] < hkey[y] or (hkey[x] == hkey[y] and hidx[x] < hidx[y])


@njit(cache=True)
def _push(st, key: float, item: int) -> None:
    hkey, hidx, meta = st[7], st[8], st[11]
    pos = meta[1]
    meta[1] += 1
    hkey[pos], hidx[pos] = key, item
    while pos > 0:
        parent = (pos - 1) // 2
        if not _less(hkey, hidx, pos, parent):
            break
        hkey[pos], hkey[parent] = hkey[parent], hkey[pos]
        hidx[pos], hidx[parent] = hidx[parent], hidx[pos]
        pos = parent


@njit(cache=True)
def _pop(st) -> int:
    hkey, hidx, meta = st[7], st[8], st[11]
    top = hidx[0]
    meta[1] -= 1
    size = meta[1]
    hkey[0], hidx[0] = hkey[size], hidx[size]
    pos = 0
    while True:
        left, right, best = 2 * pos + 1, 2 * pos + 2, pos
        if left < size and _less(hkey, hidx, left, best):
            best = left
        if right < size and _less(hkey, hidx, right, best):
            best = right
        if best == pos:
            return top
        hkey[pos], hkey[best] = hkey[best], hkey[pos]
        hidx[pos], hidx[best] = hidx[best], hidx[pos]
        pos = best


@njit(cache=True)
def value(st, i: int) -> float:
    """i's marginal score as of its last refresh (exact for an item ``first`` returned)."""
    a, w, par = st[2], st[4], st[12]
    if a[i] == -np.inf:
        return w[i]
    return w[i] - par[0] * a[i]


@njit(cache=True)
def _refresh(st, i: int) -> None:
    vec, a, b, sel, meta = st[1], st[2], st[3], st[10], st[11]
    m = a[i]
    for s in range(b[i], meta[0]):
        x = np.float64(_dot(vec, i, sel[s]))
        if x > m:
            m = x
    a[i] = m
    b[i] = meta[0]


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The first eligible item in the current MMR order: pop until an up-to-date eligible item is
    on top (its exact score is then at least every other item's bound), then put back what was
    popped. Placed items leave the heap when they surface."""
    b, tmp, meta, par, placed = st[3], st[9], st[11], st[12], ag[7]
    if (c >= 0 or coop) and not any_eligible(ag, c, coop):
        return -1
    fresh = par[0] == 0.0
    aside = 0
    found = -1
    while meta[1] > 0:
        i = _pop(st)
        if placed[i]:
            continue
        if not fresh and b[i] < meta[0]:
            _refresh(st, i)
            _push(st, -value(st, i), i)
            continue
        tmp[aside] = i
        aside += 1
        if eligible(ag, c, coop, i):
            found = i
            break
    for t in range(aside):
        _push(st, -value(st, tmp[t]), tmp[t])
    return found


@njit(cache=True)
def add(st, i: int) -> None:
    hkey, sel, meta, par = st[7], st[10], st[11], st[12]
    sel[meta[0]] = i
    meta[0] += 1
    if meta[0] == 1:
        # before the first pick the keys are the exact (1 - d) * rel; from now on an item's score
        # is (1 - d) * rel - d * max_sim, which a negative similarity can raise up to + d: shift
        # every key by d so that all stay upper bounds (a uniform shift keeps the heap valid)
        for h in range(meta[1]):
            hkey[h] -= par[0]
