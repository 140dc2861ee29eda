"""A constraint's share of a page and whether it holds there: the one measurement the
evaluation and the decision log report, computed as the reranker compiles the constraint."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .reranking import compile_agent
from .batch import CandidateBatch
from .rule import Constraint


def agent_over(con: Constraint, items: list[dict[str, Any]], named: frozenset[str] = frozenset()) -> Any:
    """The constraint compiled over items ({"id", "fields"}) exactly as the reranker compiles it,
    leaving alone the values of its field that the query names (``named``, folded): None when
    that drops it (a min that lists none of them)."""
    batch = CandidateBatch.from_rows([str(c["id"]) for c in items], np.zeros(len(items)),
                                     [c.get("fields") or {} for c in items])
    return compile_agent(con, batch, named=named)


def count(con: Constraint, items: list[dict[str, Any]], named: frozenset[str] = frozenset()) -> int | None:
    """k of a constraint on items: with the property, or for `any` the largest count of one value
    (None: the query's named values drop the constraint)."""
    agent = agent_over(con, items, named)
    if agent is None:
        return None
    if agent.codes is not None:
        counts = Counter(c for c in agent.codes.tolist() if c >= 0)
        return max(counts.values()) if counts else 0
    return int(agent.has.sum())


def measure(con: Constraint, page: list[dict[str, Any]], named: frozenset[str] = frozenset()) -> tuple[float, bool]:
    """(share, holds) from one pass over the page: the constraint's k as a share of the page
    (0 for an empty page), and whether it holds: min: k >= f·K; max: k <= f·K (K = page length).
    ``named``: the values of its field the query names, which it leaves alone as the reranker
    does (a min they drop holds). An empty page holds every constraint vacuously; callers that
    report pages say so apart."""
    k = count(con, page, named)
    if k is None:
        return (count(con, page) or 0) / len(page) if page else 0.0, True
    bound = con.fraction * len(page)
    ok = k >= bound - 1e-9 if con.kind == "min" else k <= bound + 1e-9
    return (k / len(page) if page else 0.0), ok
