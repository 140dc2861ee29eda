"""Base order = MMR (Carbonell & Goldstein, 1998; Qdrant/OpenSearch semantics), evaluated lazily.

marginal(j) = (1 - d) * rel(j) - d * max_sim(j, placed), cosine similarity on unit vectors; the
first pick is the most relevant item; ties go to the lower index. A marginal score can only fall
as items are placed, so a stale score is an upper bound: items sit in a heap keyed by their last
known score, and only an item reaching the top is refreshed against the items placed since. The
selection equals plain greedy MMR exactly (tests compare it with a textbook implementation); on
1,000 real kNN candidates about 30 items are refreshed per pick instead of all 1,000.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ..eligibility import eligible
from .base import Strategy, placed_buffer


class MMRState(NamedTuple):
    """The MMR base order's state: a lazy max-heap of upper bounds on each item's MMR value."""
    rel: np.ndarray  # float64[n]
    vec: np.ndarray  # float32[n, d]: unit vectors
    a: np.ndarray  # float64[n]: max similarity to the placed items seen so far (-inf: none yet)
    b: np.ndarray  # int64[n]: how many placed items ``a`` has seen (stale when < placed count)
    w: np.ndarray  # float64[n]: (1 - diversity) * rel
    hkey: np.ndarray  # float64[n]: heap keys (-bound)
    hidx: np.ndarray  # int64[n]: heap items
    tmp: np.ndarray  # int64[n]: this slot's exact head of the order
    sel: np.ndarray  # int64[size]: placed items in order
    meta: np.ndarray  # int64[4]: placed count, heap size, the slot the prefix belongs to, prefix length
    par: np.ndarray  # float64[1]: diversity


def prepare(rel: np.ndarray, vectors: np.ndarray | None, diversity: float, size: int) -> MMRState:
    """The state for ``rel`` and unit ``vectors``; raises ValueError without vectors."""
    if vectors is None:
        raise ValueError("MMR needs vectors")
    n = len(rel)
    rel = np.ascontiguousarray(rel, dtype=np.float64)
    w = (1.0 - diversity) * rel
    order = np.lexsort((np.arange(n), -w))  # a sorted array is a valid heap
    meta = np.array([0, n, -1, 0], dtype=np.int64)  # -1: the prefix belongs to no slot yet
    return MMRState(rel, np.ascontiguousarray(vectors, dtype=np.float32), np.full(n, -np.inf), np.zeros(n, dtype=np.int64),
                    w, -w[order], order.astype(np.int64), np.zeros(n, dtype=np.int64), placed_buffer(n, size), meta,
                    np.array([diversity]))


@njit(cache=True)
def _push(hkey, hidx, meta, key: float, item: int) -> None:
    """Heap of (key, item), smallest first; a key tie goes to the smaller item."""
    pos = meta[1]
    meta[1] += 1
    while pos > 0:
        parent = (pos - 1) // 2
        pk, pi = hkey[parent], hidx[parent]
        if not (key < pk or (key == pk and item < pi)):
            break
        hkey[pos], hidx[pos] = pk, pi
        pos = parent
    hkey[pos], hidx[pos] = key, item


@njit(cache=True)
def _pop(hkey, hidx, meta) -> int:
    top = hidx[0]
    meta[1] -= 1
    size = meta[1]
    key, item = hkey[size], hidx[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and (hkey[right] < hkey[child] or (hkey[right] == hkey[child] and hidx[right] < hidx[child])):
            child = right
        ck, ci = hkey[child], hidx[child]
        if not (ck < key or (ck == key and ci < item)):
            break
        hkey[pos], hidx[pos] = ck, ci
        pos = child
    hkey[pos], hidx[pos] = key, item
    return top


@njit(cache=True)
def _score(a, w, diversity: float, i: int, placed_count: int) -> float:
    """i's score as of its last refresh: exact when it has seen every placed item, else an upper
    bound. Before anything is placed it is (1 - d) * rel; an item that has seen no placed item yet
    is bounded by (1 - d) * rel + d, since a cosine is at least -1."""
    if a[i] == -np.inf:
        return w[i] + diversity if placed_count > 0 else w[i]
    return w[i] - diversity * a[i]


@njit(cache=True, inline="always")
def value(st, i: int) -> float:
    """i's marginal score (exact for an item ``first`` returned)."""
    return _score(st.a, st.w, st.par[0], i, st.meta[0])


@njit(cache=True, fastmath={"reassoc", "contract"})  # lets the float32 sum vectorise; no inf/nan assumptions
def _max_similarity(vec, sel, start: int, stop: int, i: int, m: float) -> float:
    """max(m, cosine(i, sel[s]) for s in start..stop): the placed items i has not seen yet."""
    d = vec.shape[1]
    for s in range(start, stop):
        j = sel[s]
        x = np.float32(0.0)
        for t in range(d):
            x += vec[i, t] * vec[j, t]
        if np.float64(x) > m:
            m = np.float64(x)
    return m


PREFIX_STEP = 16  # items an agent's query may add to the shared prefix before it scans instead


@njit(cache=True)
def first(st, ag, c: int, coop: bool) -> int:
    """The first eligible item in the current MMR order.

    Each slot keeps the exact head of the order as a prefix (``tmp[:meta[3]]``), grown by popping
    the heap: an up-to-date item on top is the next in exact order (every other key is an upper
    bound), a stale one is refreshed and pushed back. The default query grows it as far as it
    needs; an agent's query reads it, grows it by at most ``PREFIX_STEP`` items, and otherwise
    scans every eligible item once, refreshing only those whose bound beats the best exact score
    found so far (a rare property sits deep in the order; its search must not refresh everything
    above it). When the slot changes, the prefix returns to the heap."""
    _, vec, a, b, w, hkey, hidx, tmp, sel, meta, par = st
    kind, frac, has, codes, counts, k, caps, placed, start = ag
    diversity = par[0]
    placed_count = meta[0]
    if meta[2] != placed_count:  # a new slot: the old prefix returns to the heap
        for t in range(meta[3]):
            i = tmp[t]
            if not placed[i]:
                _push(hkey, hidx, meta, -_score(a, w, diversity, i, placed_count), i)
        meta[2], meta[3] = placed_count, 0
    for t in range(meta[3]):
        i = tmp[t]
        if not placed[i] and eligible(kind, has, codes, counts, k, caps, placed, c, coop, i):
            return i
    budget = meta[3] + PREFIX_STEP if (c >= 0 or coop) else placed.shape[0]
    while meta[1] > 0 and meta[3] < budget:
        key = hkey[0]
        i = _pop(hkey, hidx, meta)
        if placed[i]:
            continue
        if diversity != 0.0 and b[i] < placed_count:
            a[i] = _max_similarity(vec, sel, b[i], placed_count, i, a[i])
            b[i] = placed_count
            _push(hkey, hidx, meta, -_score(a, w, diversity, i, placed_count), i)
            continue
        exact = _score(a, w, diversity, i, placed_count)
        if key != -exact:  # refreshed by a scan while in the heap: its key was only a bound
            _push(hkey, hidx, meta, -exact, i)
            continue
        tmp[meta[3]] = i
        meta[3] += 1
        if eligible(kind, has, codes, counts, k, caps, placed, c, coop, i):
            return i
    if meta[1] == 0:
        return -1
    best, best_v = -1, -np.inf  # the scan: eligible items only, refreshed only when they could win
    for i in range(placed.shape[0]):
        if not eligible(kind, has, codes, counts, k, caps, placed, c, coop, i):
            continue
        v = _score(a, w, diversity, i, placed_count)
        if v < best_v or (v == best_v and i > best):
            continue
        if diversity != 0.0 and b[i] < placed_count:
            a[i] = _max_similarity(vec, sel, b[i], placed_count, i, a[i])  # its heap key stays a valid bound
            b[i] = placed_count
            v = _score(a, w, diversity, i, placed_count)
        if v > best_v or (v == best_v and i < best):
            best, best_v = i, v
    return best


@njit(cache=True)
def add(st, i: int) -> None:
    """Place item ``i`` (bounds of the others are refreshed lazily, when they reach the heap's top)."""
    hkey, sel, meta, par = st.hkey, st.sel, st.meta, st.par
    sel[meta[0]] = i
    meta[0] += 1
    if meta[0] == 1:
        # before the first pick the keys are the exact (1 - d) * rel; from now on a never
        # refreshed item's bound is (1 - d) * rel + d (see _score): shift every key by d (a
        # uniform shift keeps the heap valid)
        for h in range(meta[1]):
            hkey[h] -= par[0]


STRATEGY = Strategy("mmr", True, "MMR", "marginal", "MMR replaces score order as the base order", MMRState,
                    prepare, first, value, add)
