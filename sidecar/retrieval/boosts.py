"""Boost and bury: a retrieval window's scores moved by field values (the rule files' rewrites and
the ``boost`` action of query understanding), the same on both backends and in every mode.

Guarantees: a hit whose field holds a boosted value (compared folded, as filters are; a list field
holds it when any item is it) has its score multiplied by each matching boost's factor; the window
is then in descending score order, ties kept in retrieval order, so it is the retrieval order the
reranker and ``original_rank`` read. Limits: only the hits of the window move; a boost brings no
product into it (a filter does), and one window is not compared with the next.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .filters import fold
from .hits import Hits


@dataclass(frozen=True)
class Boost:
    """Hits whose ``field`` holds ``value`` (folded) have their retrieval score multiplied by
    ``factor`` (> 1 boosts, < 1 buries); ``where`` says which rewrite or setting asked it."""

    field: str
    value: str
    factor: float
    where: str

    def what(self) -> str:
        """What it does: "boost usage=formal x2"."""
        return f"{'boost' if self.factor > 1 else 'bury'} {self.field}={self.value} x{self.factor:.3g}"

    def shown(self) -> str:
        """One line: what it does and where it is written."""
        return f"{self.what()} ({self.where})"


def holds(source: dict, boost: Boost) -> bool:
    """The hit's ``boost.field`` holds ``boost.value`` (folded)."""
    value = source.get(boost.field)
    if isinstance(value, list):
        return any(fold(v) == boost.value for v in value)
    return fold(value) == boost.value


def boosted(hits: Hits, boosts: Sequence[Boost]) -> Hits:
    """``hits`` with the boosts applied and re-ordered by the new scores (stable); the same
    object when no hit holds a boosted value."""
    if not boosts or not len(hits):
        return hits
    factors = np.ones(len(hits))
    for k, src in enumerate(hits.sources):
        for b in boosts:
            if holds(src, b):
                factors[k] *= b.factor
    if np.all(factors == 1.0):
        return hits
    scores = hits.scores * factors
    order = np.argsort(-scores, kind="stable")
    out = hits.take(order)
    out.scores = scores[order]
    return out


def moved_by(source: dict, boosts: Sequence[Boost]) -> list[str]:
    """The boosts that moved this hit, one line each (``explain``)."""
    return [b.shown() for b in boosts if holds(source, b)]
