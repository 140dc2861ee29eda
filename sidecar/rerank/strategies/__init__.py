"""Base orders: the order the agents work over. One file per strategy, registered here.

A strategy file provides ``prepare(rel, unit_vectors, diversity, size) -> state`` (the tuple of
``state.py``) and three compiled functions over that state: ``first(st, ag, c, coop)`` (the first
eligible item in the current order), ``value(st, i)`` (item i's current base score: penalties
are differences of these) and ``add(st, i)``. A new strategy is its file plus one entry in
``STRATEGIES`` and one branch in each dispatcher below (numba cannot cache a kernel that takes
functions as arguments, so the loop reaches strategies through an id).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from . import dpp, mmr, score


@dataclass(frozen=True)
class Strategy:
    """``key``: the rule key that selects it (the rule writes ``mmr: {diversity: 0.3}``);
    ``needs_vectors``: retrieval fetches vectors for it; ``reason``: a default placement's
    explanation type."""

    key: str
    sid: int
    needs_vectors: bool
    reason: str
    prepare: Callable[[np.ndarray, np.ndarray | None, float, int], tuple]


STRATEGIES: dict[str, Strategy] = {
    "score": Strategy("score", 0, False, "default", score.prepare),
    "mmr": Strategy("mmr", 1, True, "mmr", mmr.prepare),
    "dpp": Strategy("dpp", 2, True, "dpp", dpp.prepare),
}


@njit(cache=True, inline="always")
def first(sid: int, st, ag, c: int, coop: bool) -> int:
    if sid == 1:
        return mmr.first(st, ag, c, coop)
    if sid == 2:
        return dpp.first(st, ag, c, coop)
    return score.first(st, ag, c, coop)


@njit(cache=True, inline="always")
def value(sid: int, st, i: int) -> float:
    if sid == 1:
        return mmr.value(st, i)
    if sid == 2:
        return dpp.value(st, i)
    return score.value(st, i)


@njit(cache=True, inline="always")
def add(sid: int, st, i: int) -> None:
    if sid == 1:
        mmr.add(st, i)
    elif sid == 2:
        dpp.add(st, i)
    else:
        score.add(st, i)
