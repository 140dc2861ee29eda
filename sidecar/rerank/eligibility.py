"""Which items an agent may propose: the compiled predicates shared by the agent loop and by every
base order's search for "the first eligible item in my order".

The agents reach the kernels as ``AgentArrays`` (one type, so one kernel signature serves every rule).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

MIN, MAX, ANY = 0, 1, 2


class AgentArrays(NamedTuple):
    """The agents of one reranking as arrays the compiled loop reads (one row per constraint)."""
    kind: np.ndarray  # int8[C]: 0 min, 1 max, 2 any (per value)
    frac: np.ndarray  # float64[C]: the constraint's fraction f
    has: np.ndarray  # bool[C, n]: min/max: the item has the property
    codes: np.ndarray  # int64[C, n]: any: the item's value code, -1 = field missing
    counts: np.ndarray  # int64[C, V]: any: items placed per value code
    k: np.ndarray  # int64[C]: min/max: placed items with the property; any: the top count of one value
    caps: np.ndarray  # bool[C]: this slot's unhappy max/any agents (the U of the pseudo-code)
    placed: np.ndarray  # bool[n]
    start: np.ndarray  # int64[C]: score order: no item before it reduces agent c (an ``any``
    # agent's is reset when its top count grows: only then can a skipped item qualify again)


@njit(cache=True, inline="always")
def reduces(kind, has, codes, counts, k, c: int, i: int) -> bool:
    """Would placing item i reduce agent c's deviance? min: has it; max: lacks it; any: lacks the
    field, or its value's count is below the top count."""
    if kind[c] == MIN:
        return has[c, i]
    if kind[c] == MAX:
        return not has[c, i]
    code = codes[c, i]
    return code < 0 or counts[c, code] < k[c]


@njit(cache=True, inline="always")
def eligible(kind, has, codes, counts, k, caps, placed, c: int, coop: bool, i: int) -> bool:
    """Item i is unplaced and, for agent c >= 0, reduces c's deviance; with ``coop`` it also
    reduces every other unhappy cap's (correction 3). (Arrays, not the named tuple: numba reaches
    an array through a tuple several times slower in these hot paths.)"""
    if placed[i]:
        return False
    if c >= 0 and not reduces(kind, has, codes, counts, k, c, i):
        return False
    if coop:
        for d in range(kind.shape[0]):
            if caps[d] and d != c and not reduces(kind, has, codes, counts, k, d, i):
                return False
    return True


@njit(cache=True)
def first_eligible(ag, scores, c: int, coop: bool, begin: int) -> int:
    """The eligible item with the largest score (ties: lower index), from index ``begin`` on; with
    ``scores`` empty, the first eligible item in index order."""
    kind, frac, has, codes, counts, k, caps, placed, _ = ag
    best = -1
    best_v = -np.inf
    ordered = scores.shape[0] == 0
    for i in range(begin, placed.shape[0]):
        if ordered:
            if eligible(kind, has, codes, counts, k, caps, placed, c, coop, i):
                return i
        elif scores[i] > best_v and eligible(kind, has, codes, counts, k, caps, placed, c, coop, i):
            best, best_v = i, scores[i]
    return best
