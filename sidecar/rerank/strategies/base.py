"""What a base order is, as the registry (``strategies/__init__.py``) holds it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit


@dataclass(frozen=True)
class Strategy:
    """A base order: the order the agents work over.

    ``key``: its name, and the rule key that selects it (``mmr: {diversity: 0.3}``; ``score`` is
    the default and has no key); ``needs_vectors``: retrieval fetches vectors for it;
    ``title`` and ``description``: what the explanation, the inspector and the rule reference
    call it; ``value_name``: the name of an item's base score in an explanation (``marginal``
    for MMR), None for score order (its default placements are explained as ``default``).

    ``prepare(rel, unit_vectors, diversity, size)`` returns the strategy's state, an instance of
    ``state`` (a NamedTuple of arrays: numba compiles the agent loop once per state type, so the
    type picks the three compiled functions below, with no id and no positional slots):
    ``first(st, ag, c, coop)`` the first eligible item in the current order, ``value(st, i)``
    item i's current base score (penalties are differences of these) and ``add(st, i)``.
    """

    key: str
    needs_vectors: bool
    title: str
    value_name: str | None
    description: str
    state: type
    prepare: Callable[[np.ndarray, np.ndarray | None, float, int], Any]
    first: Any
    value: Any
    add: Any

    @property
    def reason(self) -> str:
        """The explanation type of an item this order placed by default."""
        return self.key if self.value_name else "default"


def placed_buffer(n: int, size: int) -> np.ndarray:
    """The placed items in order (every state has one: ``sel``)."""
    return np.zeros(max(1, min(size, n)), dtype=np.int64)


@njit(cache=True, fastmath={"reassoc", "contract"})  # lets the float32 sum vectorise
def dot32(vec, i: int, j: int) -> np.float32:
    """The cosine of unit rows i and j, summed in float32 as pyversity's arithmetic is."""
    s = np.float32(0.0)
    for t in range(vec.shape[1]):
        s += vec[i, t] * vec[j, t]
    return s
