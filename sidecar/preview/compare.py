"""One query's page under two rule choices, from one retrieval: what a rule edit changes.

``retrieve_once`` wraps a backend so that both sides read the same retrieval (a second, larger
retrieval only when a side's paging asks for more than the first brought, as the service's
paging would). ``rank_side`` builds a side's page exactly as /search does (``paging.rank``), and
``compare`` measures each constraint of either rule on both pages (``rerank.shares.measure``,
the decision log's measurement): a constraint of the old rule that held before and does not
after is *broken*; one that did not hold and now does is *newly met*.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from ..search import paging
from ..rerank.rule import Constraint, Rule
from ..rerank.shares import measure
from ..retrieval import Backend, RetrievalRequest, Retrieved
from ..retrieval.boosts import Boost, boosted


@dataclass
class Side:
    """One side of a comparison: the rule (None: retrieval order), how it was chosen, the page."""

    rule: Rule | None
    how: str
    placed: list[dict[str, Any]]  # {"id", "rank", "original_rank", "reason"?}
    dedup: dict[str, Any] | None = None
    named: dict[str, frozenset[str]] = field(default_factory=dict)  # values the query names, which the rule leaves alone

    @property
    def ids(self) -> list[str]:
        return [p["id"] for p in self.placed]


@dataclass
class Comparison:
    query: str
    filters: dict[str, Any]
    before: Side
    after: Side
    sources: dict[str, dict[str, Any]]  # id -> fields, for every item of either page
    constraints: list[dict[str, Any]] = field(default_factory=list)
    ndcg: tuple[float, float] | None = None  # (before, after) when the query has judgments
    # what the query became on each side (``Understood.shown``; None: read as typed)
    read: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)

    @property
    def entered(self) -> list[str]:
        was = set(self.before.ids)
        return [i for i in self.after.ids if i not in was]

    @property
    def left(self) -> list[str]:
        now = set(self.after.ids)
        return [i for i in self.before.ids if i not in now]

    @property
    def moved(self) -> int:
        """Items on both pages at a different position."""
        pos = {i: r for r, i in enumerate(self.before.ids)}
        return sum(1 for r, i in enumerate(self.after.ids) if i in pos and pos[i] != r)

    @property
    def changed(self) -> bool:
        return self.before.ids != self.after.ids

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query, "filters": self.filters,
            "before": {"rule": _rule_id(self.before.rule), "how": self.before.how, "page": self.before.ids},
            "after": {"rule": _rule_id(self.after.rule), "how": self.after.how, "page": self.after.ids},
            "rule_changed": _rule_id(self.before.rule) != _rule_id(self.after.rule),
            "page_changed": self.changed, "moved": self.moved, "entered": self.entered, "left": self.left,
            "constraints": self.constraints,
        }
        for side, shown in zip(("read_before", "read_after"), self.read):
            if shown is not None:
                out[side] = shown
        if self.ndcg is not None:
            out["ndcg_before"], out["ndcg_after"] = round(self.ndcg[0], 4), round(self.ndcg[1], 4)
        return out


def _rule_id(rule: Rule | None) -> str:
    return rule.id if rule is not None else "none"


def retrieve_once(backend: Backend, mode: str, text: str, vector: np.ndarray | None, filters: dict[str, Any],
                  with_vectors: bool, boosts: Sequence[Boost] = ()) -> Callable[[int], Retrieved]:
    """A ``paging.Fetch`` that asks the backend only when a larger window than any so far is
    wanted, and otherwise cuts the largest one: both sides of a comparison see one retrieval
    (``boosts``: the reading's boosts and buries, applied to each window as /search applies them)."""
    got: list[Retrieved] = []

    def fetch(window: int) -> Retrieved:
        if not got or len(got[-1].hits) < window and not got[-1].exhausted:
            r = backend.retrieve(RetrievalRequest(mode, text, vector, filters, window, with_vectors=with_vectors))
            got.append(replace(r, hits=boosted(r.hits, boosts)) if boosts else r)
        r = got[-1]
        if len(r.hits) <= window:
            return r
        return Retrieved(r.hits.take(np.arange(window)), r.took_ms, r.total, r.relation, exhausted=False)
    return fetch


def rank_side(fetch: Callable[[int], Retrieved], rule: Rule | None, how: str, k: int, now: datetime,
              max_window: int, query_vector: Any = None, max_pairs: int = -1,
              named: dict[str, frozenset[str]] | None = None) -> tuple[Side, paging.Ranked]:
    """A side's first page of ``k`` as /search builds it (``explain`` on: each item says why;
    ``named``: the values the query names, ``pipeline.named_values``)."""
    rerank = None if rule is None else paging.reranker(rule, explain=True, now=now, query_vector=query_vector,
                                                       max_pairs=max_pairs, named=named)
    ranked = paging.rank(fetch, rerank, rule.window if rule else k, max_window, k)
    return Side(rule, how, ranked.placed[:k], ranked.dedup, named or {}), ranked


def compare(query: str, filters: dict[str, Any], before: tuple[Side, paging.Ranked], after: tuple[Side, paging.Ranked],
            judgments: Mapping[str, int] | None = None) -> Comparison:
    (b, rb), (a, ra) = before, after
    sources: dict[str, dict[str, Any]] = {}
    for ranked in (rb, ra):
        if ranked.pool is not None:
            sources.update(zip(ranked.pool.ids, ranked.pool.sources))
    page_b = [{"id": i, "fields": sources.get(i, {})} for i in b.ids]
    page_a = [{"id": i, "fields": sources.get(i, {})} for i in a.ids]
    old = {c.label: c for c in (b.rule.constraints if b.rule else ())}
    new = {c.label: c for c in (a.rule.constraints if a.rule else ())}
    rows = [_constraint_row(con, label in old, label in new, page_b, page_a, b.named, a.named)
            for label, con in {**new, **old}.items()]
    cmp = Comparison(query, filters, b, a, {i: sources.get(i, {}) for i in {*b.ids, *a.ids}}, rows)
    if judgments:
        k = max(len(b.ids), len(a.ids), 1)
        cmp.ndcg = (ndcg(b.ids, judgments, k), ndcg(a.ids, judgments, k))
    return cmp


def _constraint_row(con: Constraint, in_old: bool, in_new: bool, page_b: list[dict[str, Any]],
                    page_a: list[dict[str, Any]], named_b: dict[str, frozenset[str]] | None = None,
                    named_a: dict[str, frozenset[str]] | None = None) -> dict[str, Any]:
    """A constraint measured on both pages as each side's reranker holds it: leaving alone the
    values the query names (a brand cap yields to "puma shoes": held, not unmet)."""
    share_b, held_b = measure(con, page_b, (named_b or {}).get(con.field, frozenset()))
    share_a, held_a = measure(con, page_a, (named_a or {}).get(con.field, frozenset()))
    held_b, held_a = (held_b if page_b else None), (held_a if page_a else None)
    if held_b and held_a is False and in_old:
        status = "broken"
    elif held_b is False and held_a:
        status = "newly met"
    elif held_b and held_a:
        status = "held"
    else:
        status = "unmet"
    return {"label": con.label, "field": con.field, "kind": con.kind, "fraction": con.fraction,
            "rule": "both" if in_old and in_new else ("before" if in_old else "after"),
            "share_before": round(share_b, 4), "held_before": held_b, "share_after": round(share_a, 4),
            "held_after": held_a, "status": status}


def ndcg(ids: list[str], judgments: Mapping[str, int], k: int) -> float:
    """nDCG@k with gains 2^grade - 1 (0 when nothing is judged relevant)."""
    dcg = sum((2 ** judgments.get(i, 0) - 1) / math.log2(r + 2) for r, i in enumerate(ids[:k]))
    best = sorted(judgments.values(), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(r + 2) for r, g in enumerate(best))
    return dcg / idcg if idcg > 0 else 0.0
