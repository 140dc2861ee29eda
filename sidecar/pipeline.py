"""One search: validate the request, pick the rule, build the ranked list, slice a page.

Shared by POST /search and the evaluation harness, so both see exactly the same behaviour.
Pages are slices of one deterministic ranked list (``paging``): the agent loop is greedy, so
placing from+size items gives the same first items as placing fewer, page 2 never repeats page 1,
and a page is filled from further retrieval windows when collapsing left the first one short.
"""
from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import paging
from .rerank.named import named_in
from .rerank.properties import Range
from .rerank.rule import FusionSpec, Rule, parse_rule
from .retrieval import Backend, NotFound, RetrievalRequest, facets
from .retrieval.filters import validate_filters
from .contract import DEFAULT_SIZE, validate
from .limits import Limits
from .outcome import Decision
from .rules import RuleSet


@dataclass
class SearchOutcome:
    """The response, and the typed decision the decision log and metrics read."""

    response: dict[str, Any]
    decision: Decision


def parse_vector(value: list[float], key: str = "vector") -> np.ndarray:
    """A schema-checked list of numbers as float32; ValueError when one does not fit (1e39)."""
    arr = np.asarray(value, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{key}: must contain finite float32 numbers only")
    if not np.any(arr):
        raise ValueError(f"{key}: an all-zero vector has no direction (its cosine to anything is undefined)")
    return arr


def named_values(rule: Rule | None, q: str, backend: Backend) -> dict[str, frozenset[str]]:
    """Per constrained field, the values the query names (``rerank.named``): their constraints
    leave them alone. Empty without a rule, with ``respect_query: false`` or without text."""
    if rule is None or not rule.respect_query or not q.strip():
        return {}
    fields = dict.fromkeys(c.field for c in rule.constraints if not isinstance(c.prop, Range))
    return named_in(q, {f: backend.vocabulary(f) for f in fields})


def default_mode(has_vector: bool, has_text: bool, can_encode: bool, backend: Backend) -> str:
    """The mode of a request that names none: a vector (or ``like``) with text is hybrid, alone
    kNN; text alone is hybrid when the query encoder is on and the index has vectors (the
    shopper's words, embedded), else BM25."""
    if has_vector:
        return "hybrid" if has_text else "knn"
    return "hybrid" if has_text and can_encode and backend.dimension() is not None else "bm25"


def choose_rule(ruleset: RuleSet, requested: Any, query: str, filters: dict[str, Any]) -> tuple[Rule | None, str]:
    """(rule or None for no reranking, how it was chosen)."""
    if requested is None:
        m = ruleset.match(query, filters)
        return (m.rule, m.how) if m else (None, "none")
    if requested == "none":
        return None, "explicit"
    rule = ruleset.get(requested)
    if rule is None:
        raise ValueError(f"rule: unknown rule id {requested!r}")
    return rule, "explicit"


def apply_overrides(rule: Rule | None, overrides: Any) -> Rule | None:
    if overrides is None:
        return rule
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
               clock: Callable[[], float] = time.perf_counter, now: datetime | None = None,
               index: str | None = None, limits: Limits | None = None,
               encode: Callable[[str], np.ndarray] | None = None) -> SearchOutcome:
    """Validate and run one /search request; ValueError (naming the field) means HTTP 400.
    ``encode``: the query encoder; with it, ``mode`` knn or hybrid needs only the text."""
    t0 = clock()
    limits = limits or Limits()
    validate("SearchRequest", body)
    limits.check_rule(body.get("overrides"), "overrides")
    limits.check_query(body.get("q"))
    q = body.get("q") or ""
    frm = body.get("from", 0)
    asked = body.get("size")
    explain = body.get("explain", False)
    filters = validate_filters(body.get("filters"))
    if body.get("vector") is not None and body.get("like") is not None:
        raise ValueError("like: give either 'vector' or 'like', not both")
    vector = parse_vector(body["vector"]) if body.get("vector") is not None else None
    if body.get("like") is not None:
        try:
            vector = backend.vector_of(str(body["like"]))
        except NotFound as exc:
            raise ValueError(f"like: no product with a vector: {exc}") from None
    text = unicodedata.normalize("NFKC", q) if q and not q.isascii() else q  # ｐｕｍａ is puma to the analyzer too
    mode = body.get("mode") or default_mode(vector is not None, bool(q.strip()), encode is not None, backend)
    if mode in ("knn", "hybrid") and vector is None and encode is not None and text.strip():
        vector = encode(text)  # the shopper's words, embedded by the query encoder
        if body.get("mode") is None and len(vector) != backend.dimension():  # a model the index was not built with
            mode, vector = "bm25", None
    if mode in ("knn", "hybrid") and vector is None:
        raise ValueError(f"vector: mode {mode} needs 'vector', 'like'" + (" or a query text" if encode else ""))
    if mode in ("bm25", "hybrid") and not q.strip():
        raise ValueError(f"q: mode {mode} needs a query text")

    rule, how = choose_rule(ruleset, body.get("rule"), q, filters)
    rule = apply_overrides(rule, body.get("overrides"))
    size = asked if asked is not None else (rule.size if rule else DEFAULT_SIZE)  # a rule's size, as /rerank
    if frm + size > max_window:
        raise ValueError(f"{'from' if frm else 'size'}: from + size = {frm + size} exceeds the maximum window {max_window}")

    wanted = body.get("facets") or None
    if wanted:
        facets.check(wanted, limits.facet_buckets)
    counted: dict[str, Any] = {}

    def fetch(window: int) -> Any:
        first = "facets" not in counted  # facets come with the first window: one round trip
        r = backend.retrieve(RetrievalRequest(mode, text, vector, filters, window,
                                              with_vectors=bool(rule and rule.needs_vectors),
                                              facets=wanted if first else None,
                                              fusion=rule.fusion if rule else FusionSpec()))
        if first:
            counted["facets"], counted["fusion"] = r.facets, r.fusion
        return r

    # MMR/DPP relevance: the cosine to the query vector for a vector-only search, else the
    # normalised retrieval score (BM25, or the fused hybrid score)
    named = named_values(rule, q, backend)
    rerank = None if rule is None else paging.reranker(rule, explain=explain, now=now or datetime.now(timezone.utc),
                                                       query_vector=vector if mode == "knn" else None,
                                                       max_pairs=limits.dedup_pairs, named=named)

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
    timings = {"retrieval_ms": round((t_done - t_ret - ranked.rerank_seconds) * 1000, 3),
               "rerank_ms": round(ranked.rerank_seconds * 1000, 3), "total_ms": round((t_done - t0) * 1000, 3)}
    response = {
        "rule": rule.id if rule else None,
        "rule_match": how,
        "mode": mode,
        "from": frm,
        "size": size,
        "total": {"value": ranked.total, "relation": ranked.relation},
        "has_next": paging.has_next(ranked, frm, size, max_window),
        "window": ranked.window,
        "candidates": ranked.candidates,
        "hits": hits,
        "timings": timings,
        "backend_took_ms": ranked.took_ms,
    }
    if named:
        response["named"] = {f: sorted(v) for f, v in named.items()}
    if counted.get("fusion"):
        response["fusion"] = counted["fusion"]
    if wanted:
        response["facets"] = facets.mark_selected(counted.get("facets") or {f: [] for f in wanted}, filters)
    decision = Decision("search", rule, how, mode, q or None, index, ranked.window, frm, size, pool, page, ranked.dedup,
                        timings["rerank_ms"], timings["retrieval_ms"], timings["total_ms"], ranked.took_ms,
                        filters or None)
    return SearchOutcome(response, decision)
