"""Per-page diversity and constraint metrics (pure). Relevance metrics come from ranx, not here."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..rerank.rule import Constraint
from ..rerank.shares import agent_over, measure
from ..rerank.tokens import jaccard, shingle_set

NEAR_DUP_JACCARD = 0.8


def near_dup_pairs(titles: Sequence[str], threshold: float = NEAR_DUP_JACCARD) -> int:
    """Pairs of the page whose title token sets (the dedup tokenizer's) have Jaccard >= threshold."""
    toks = [shingle_set(t) for t in titles]
    return sum(1 for i in range(len(toks)) for j in range(i + 1, len(toks))
               if jaccard(toks[i], toks[j]) >= threshold - 1e-12)


def max_share(values: Sequence[Any]) -> float:
    """Largest share of the page held by one value (missing values hold none)."""
    present = [v for v in values if v is not None]
    if not values or not present:
        return 0.0
    return max(Counter(present).values()) / len(values)


def ild(vectors: np.ndarray) -> float:
    """Intra-list diversity: 1 - mean pairwise cosine of the page (0 for fewer than two items)."""
    if len(vectors) < 2:
        return 0.0
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = v @ v.T
    iu = np.triu_indices(len(v), k=1)
    return float(1.0 - sims[iu].mean())


def holds(con: Constraint, page: list[dict[str, Any]], named: frozenset[str] = frozenset()) -> bool:
    """Does the page satisfy the constraint, the values of its field the query names left alone?"""
    return measure(con, page, named)[1]


def feasible(con: Constraint, window: list[dict[str, Any]], page_len: int, named: frozenset[str] = frozenset()) -> bool:
    """Could some page of page_len items from the window satisfy the constraint (as ``holds``
    judges it)? A constraint the named values drop is not counted."""
    if page_len == 0:
        return False
    agent = agent_over(con, window, named)
    if agent is None:
        return False
    if con.kind == "min":
        return int(agent.has.sum()) >= math.ceil(con.fraction * page_len - 1e-9)
    cap = math.floor(con.fraction * page_len + 1e-9)
    if agent.codes is not None:
        counts = Counter(agent.codes.tolist())
        missing = counts.pop(-1, 0)
        return missing + sum(min(c, cap) for c in counts.values()) >= page_len
    n_has = int(agent.has.sum())
    return (len(window) - n_has) + min(n_has, cap) >= page_len
