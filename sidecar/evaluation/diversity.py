"""Per-page diversity and constraint metrics (pure). Relevance metrics come from ranx, not here."""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..rerank.api import compile_agent
from ..rerank.rule import Constraint

_TOKEN = re.compile(r"[a-z0-9]+")
NEAR_DUP_JACCARD = 0.8


def title_tokens(title: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(title.lower()))


def near_dup_pairs(titles: Sequence[str], threshold: float = NEAR_DUP_JACCARD) -> int:
    """Pairs of the page whose title token sets have Jaccard >= threshold."""
    toks = [title_tokens(t) for t in titles]
    n = 0
    for i in range(len(toks)):
        for j in range(i + 1, len(toks)):
            union = len(toks[i] | toks[j])
            if union and len(toks[i] & toks[j]) / union >= threshold:
                n += 1
    return n


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


def _count(con: Constraint, items: list[dict[str, Any]]) -> int:
    """k of a constraint on items: with the property, or for `any` the largest count of one value."""
    agent = compile_agent(con, items)
    if agent.codes is not None:
        counts = Counter(c for c in agent.codes if c >= 0)
        return max(counts.values()) if counts else 0
    return sum(agent.has)


def measure(con: Constraint, page: list[dict[str, Any]]) -> tuple[float, bool]:
    """(share, holds) from one pass over the page: the constraint's k as a share of the page
    (0 for an empty page), and whether it holds: min: k >= f·K; max: k <= f·K (K = page length)."""
    k = _count(con, page)
    bound = con.fraction * len(page)
    ok = k >= bound - 1e-9 if con.kind == "min" else k <= bound + 1e-9
    return (k / len(page) if page else 0.0), ok


def holds(con: Constraint, page: list[dict[str, Any]]) -> bool:
    return measure(con, page)[1]


def feasible(con: Constraint, window: list[dict[str, Any]], page_len: int) -> bool:
    """Could some page of page_len items from the window satisfy the constraint?"""
    if page_len == 0:
        return False
    agent = compile_agent(con, window)
    if con.kind == "min":
        return sum(agent.has) >= math.ceil(con.fraction * page_len - 1e-9)
    cap = math.floor(con.fraction * page_len + 1e-9)
    if agent.codes is not None:
        counts = Counter(agent.codes)
        missing = counts.pop(-1, 0)
        return missing + sum(min(c, cap) for c in counts.values()) >= page_len
    return (len(window) - sum(agent.has)) + min(sum(agent.has), cap) >= page_len
