"""Which items an agent may propose: the compiled predicates shared by the agent loop and by every
base order's search for "the first eligible item in my order".

Agent arrays (a tuple, so one kernel signature serves every rule):
  kind   int8[C]     0 min, 1 max, 2 any (per value)
  frac   float64[C]  the constraint's fraction f
  has    bool[C, n]  min/max: the item has the property
  codes  int64[C, n] any: the item's value code, -1 = field missing
  counts int64[C, V] any: items placed per value code
  k      int64[C]    min/max: placed items with the property; any: the top count of one value
  caps   bool[C]     this slot's unhappy max/any agents (the U of the pseudo-code)
  placed bool[n]
"""
from __future__ import annotations

from numba import njit

MIN, MAX, ANY = 0, 1, 2


@njit(cache=True)
def reduces(ag, c: int, i: int) -> bool:
    """Would placing item i reduce agent c's deviance? min: has it; max: lacks it; any: lacks the
    field, or its value's count is below the top count."""
    kind, frac, has, codes, counts, k, caps, placed = ag
    if kind[c] == MIN:
        return has[c, i]
    if kind[c] == MAX:
        return not has[c, i]
    code = codes[c, i]
    return code < 0 or counts[c, code] < k[c]


@njit(cache=True)
def eligible(ag, c: int, coop: bool, i: int) -> bool:
    """Item i is unplaced and, for agent c >= 0, reduces c's deviance; with ``coop`` it also
    reduces every other unhappy cap's (correction 3)."""
    kind, frac, has, codes, counts, k, caps, placed = ag
    if placed[i]:
        return False
    if c >= 0 and not reduces(ag, c, i):
        return False
    if coop:
        for d in range(kind.shape[0]):
            if caps[d] and d != c and not reduces(ag, d, i):
                return False
    return True


@njit(cache=True)
def any_eligible(ag, c: int, coop: bool) -> bool:
    placed = ag[7]
    for i in range(placed.shape[0]):
        if eligible(ag, c, coop, i):
            return True
    return False
