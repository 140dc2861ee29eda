"""A constraint's share of a page and whether it holds there: the one measurement the
evaluation and the decision log report, computed as the reranker compiles the constraint."""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .api import compile_agent
from .batch import CandidateBatch
from .rule import Constraint


def agent_over(con: Constraint, items: list[dict[str, Any]]) -> Any:
    """The constraint compiled over items ({"id", "fields"}) exactly as the reranker compiles it."""
    batch = CandidateBatch.from_rows([str(c["id"]) for c in items], np.zeros(len(items)),
                                     [c.get("fields") or {} for c in items])
    return compile_agent(con, batch)


def count(con: Constraint, items: list[dict[str, Any]]) -> int:
    """k of a constraint on items: with the property, or for `any` the largest count of one value."""
    agent = agent_over(con, items)
    if agent.codes is not None:
        counts = Counter(c for c in agent.codes.tolist() if c >= 0)
        return max(counts.values()) if counts else 0
    return int(agent.has.sum())


def measure(con: Constraint, page: list[dict[str, Any]]) -> tuple[float, bool]:
    """(share, holds) from one pass over the page: the constraint's k as a share of the page
    (0 for an empty page), and whether it holds: min: k >= f·K; max: k <= f·K (K = page length).
    An empty page holds every constraint vacuously; callers that report pages say so apart."""
    k = count(con, page)
    bound = con.fraction * len(page)
    ok = k >= bound - 1e-9 if con.kind == "min" else k <= bound + 1e-9
    return (k / len(page) if page else 0.0), ok
