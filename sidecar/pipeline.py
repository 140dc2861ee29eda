"""One search: validate the request, pick the rule, build the ranked list, slice a page.

Shared by POST /search and the evaluation harness, so both see exactly the same behaviour.
Pages are slices of one deterministic ranked list (``paging``): the agent loop is greedy, so
placing from+size items gives the same first items as placing fewer, page 2 never repeats page 1,
and a page is filled from further retrieval windows when collapsing left the first one short.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import paging
from .rerank.rule import Rule, parse_rule
from .retrieval import MODES, Backend, NotFound, RetrievalRequest
from .retrieval.filters import validate_filters
from .retrieval.hits import Hits
from .rules import RuleSet

SEARCH_KEYS = frozenset({"q", "vector", "like", "mode", "filters", "from", "size", "explain", "rule", "overrides"})
DEFAULT_SIZE = 20


@dataclass
class SearchOutcome:
    """The response, plus what the decision log and metrics want to know."""

    response: dict[str, Any]
    rule: Rule | None
    pool: Hits | None = None  # every retrieved hit, in retrieval order
    placed: list[dict[str, Any]] = field(default_factory=list)  # the page's placements: id, rank, original_rank
    dedup: dict[str, Any] | None = None


def _int(body: dict[str, Any], key: str, default: int, lo: int) -> int:
    v = body.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{key}: must be an integer, got {v!r}")
    if v < lo:
        raise ValueError(f"{key}: must be >= {lo}, got {v}")
    return v


def parse_vector(value: Any, key: str = "vector") -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key}: must be a non-empty list of numbers")
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or any(isinstance(x, bool) for x in value[:1]):
        raise ValueError(f"{key}: must be a non-empty list of numbers")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{key}: must contain finite numbers only")
    return arr


def choose_rule(ruleset: RuleSet, requested: Any, query: str, filters: dict[str, Any]) -> tuple[Rule | None, str]:
    """(rule or None for no reranking, how it was chosen)."""
    if requested is None:
        m = ruleset.match(query, filters)
        return (m.rule, m.how) if m else (None, "none")
    if requested == "none":
        return None, "explicit"
    if not isinstance(requested, str):
        raise ValueError("rule: must be a rule id string or 'none'")
    rule = ruleset.get(requested)
    if rule is None:
        raise ValueError(f"rule: unknown rule id {requested!r}")
    return rule, "explicit"


def apply_overrides(rule: Rule | None, overrides: Any) -> Rule | None:
    if overrides is None:
        return rule
    if not isinstance(overrides, dict):
        raise ValueError("overrides: must be an object of rule keys")
    if rule is None:
        raise ValueError("overrides: no rule applies to this request (rule is 'none' and there is no default)")
    if "id" in overrides or "match" in overrides:
        raise ValueError("overrides: 'id' and 'match' cannot be overridden")
    merged = {**rule.raw, **overrides}
    try:
        return parse_rule({k: v for k, v in merged.items() if v is not None}, where="overrides")
    except ValueError as exc:
        raise ValueError(f"overrides: {exc}") from None


def run_search(body: Any, backend: Backend, ruleset: RuleSet, max_window: int,
               clock: Callable[[], float] = time.perf_counter, now: datetime | None = None) -> SearchOutcome:
    """Validate and run one /search request; ValueError (naming the field) means HTTP 400."""
    t0 = clock()
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object")
    unknown = sorted(set(body) - SEARCH_KEYS)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field (allowed: {', '.join(sorted(SEARCH_KEYS))})")
    q = body.get("q")
    if q is not None and not isinstance(q, str):
        raise ValueError(f"q: must be a string, got {type(q).__name__}")
    q = q or ""
    frm = _int(body, "from", 0, 0)
    asked = _int(body, "size", DEFAULT_SIZE, 1) if body.get("size") is not None else None
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        raise ValueError("explain: must be true or false")
    filters = validate_filters(body.get("filters"))
    if body.get("vector") is not None and body.get("like") is not None:
        raise ValueError("like: give either 'vector' or 'like', not both")
    vector = parse_vector(body["vector"]) if body.get("vector") is not None else None
    if body.get("like") is not None:
        if not isinstance(body["like"], (str, int)) or isinstance(body["like"], bool):
            raise ValueError("like: must be a product id")
        try:
            vector = backend.vector_of(str(body["like"]))
        except NotFound as exc:
            raise ValueError(f"like: no product with a vector: {exc}") from None
    mode = body.get("mode") or ("bm25" if vector is None else ("hybrid" if q else "knn"))
    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    if mode in ("knn", "hybrid") and vector is None:
        raise ValueError(f"vector: mode {mode} needs 'vector' or 'like'")
    if mode in ("bm25", "hybrid") and not q.strip():
        raise ValueError(f"q: mode {mode} needs a query text")

    rule, how = choose_rule(ruleset, body.get("rule"), q, filters)
    rule = apply_overrides(rule, body.get("overrides"))
    size = asked if asked is not None else (rule.size if rule else DEFAULT_SIZE)  # a rule's size, as /rerank
    if frm + size > max_window:
        raise ValueError(f"{'from' if frm else 'size'}: from + size = {frm + size} exceeds the maximum window {max_window}")

    def fetch(window: int) -> Any:
        return backend.retrieve(RetrievalRequest(mode, q, vector, filters, window,
                                                 with_vectors=bool(rule and rule.needs_vectors)))

    # MMR/DPP relevance: the cosine to the query vector for a vector-only search, else the
    # normalised retrieval score (BM25, or the fused hybrid score)
    rerank = None if rule is None else paging.reranker(rule, explain=explain, now=now or datetime.now(timezone.utc),
                                                       query_vector=vector if mode == "knn" else None)

    t_ret = clock()
    ranked = paging.rank(fetch, rerank, rule.window if rule else frm + size, max_window, frm + size + 1, clock)
    t_done = clock()
    pool = ranked.pool
    row = {doc_id: k for k, doc_id in enumerate(pool.ids)} if pool is not None else {}
    page = ranked.placed[frm:frm + size]
    hits = []
    for h in page:
        k = row[h["id"]]
        hit = {"id": h["id"], "score": float(pool.scores[k]), "rank": h["rank"], "fields": pool.sources[k]}
        if explain:
            hit["explanation"] = {"original_rank": h["original_rank"], **({"reason": h["reason"]} if "reason" in h else {})}
        hits.append(hit)
    response = {
        "rule": rule.id if rule else None,
        "rule_match": how,
        "mode": mode,
        "from": frm,
        "size": size,
        "total": {"value": ranked.total, "relation": ranked.relation},
        "has_next": len(ranked.placed) > frm + size,
        "window": ranked.window,
        "candidates": ranked.candidates,
        "hits": hits,
        "timings": {"retrieval_ms": round((t_done - t_ret - ranked.rerank_seconds) * 1000, 3),
                    "rerank_ms": round(ranked.rerank_seconds * 1000, 3), "total_ms": round((t_done - t0) * 1000, 3)},
        "backend_took_ms": ranked.took_ms,
    }
    return SearchOutcome(response, rule, pool, page, ranked.dedup)
