"""One search: validate the request, pick the rule, build the ranked list, slice a page.

Shared by POST /search and the evaluation harness, so both see exactly the same behaviour.
Pages are slices of one deterministic ranked list (``paging``): the agent loop is greedy, so
placing from+size items gives the same first items as placing fewer, page 2 never repeats page 1,
and a page is filled from further retrieval windows when collapsing left the first one short.
"""
from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import paging
from ..rerank.named import Vocabulary, named_in
from ..rerank.rule import FusionSpec, Rule, parse_rule
from ..retrieval import Backend, NotFound, RetrievalRequest, facets
from ..retrieval.filters import validate_filters
from .contract import DEFAULT_SIZE, validate
from .limits import Limits
from .outcome import Decision
from ..rules import RuleSet


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


def named_values(rule: Rule | None, q: str | None, vocabulary: Callable[[str], Vocabulary] | None
                 ) -> dict[str, frozenset[str]]:
    """Per constrained field, the values the query names (``rerank.named``): their constraints
    leave them alone. ``vocabulary``: a field's values in the index (a backend's). Empty without
    a rule, with ``respect_query: false``, without text or without a vocabulary."""
    if rule is None or not rule.respect_query or not (q or "").strip() or vocabulary is None:
        return {}
    fields = dict.fromkeys(c.field for c in rule.constraints if c.prop.by_value)
    return named_in(q, {f: vocabulary(f) for f in fields})


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


def page_size(rule: Rule | None, asked: int | None) -> int:
    """The request's size, else the rule's (as /rerank takes it), else DEFAULT_SIZE."""
    return asked if asked is not None else (rule.size if rule else DEFAULT_SIZE)


def apply_overrides(rule: Rule | None, overrides: Any) -> Rule | None:
    """``rule`` with the request's ``overrides`` (None removes a key); raises ValueError naming
    ``overrides.<key>`` for a bad value, or when no rule applies."""
    if overrides is None:
        return rule
    if rule is None:
        raise ValueError("overrides: no rule applies to this request (rule is 'none' and there is no default)")
    if "id" in overrides or "match" in overrides:
        raise ValueError("overrides: 'id' and 'match' cannot be overridden")
    merged = {**rule.raw, **overrides}
    try:
        return parse_rule({k: v for k, v in merged.items() if v is not None}, where="overrides")
    except ValueError as exc:  # "rule 'x': dedup.threshold: ..." names overrides.dedup.threshold
        key = re.match(r"rule '[^']*': ([A-Za-z_][\w.\[\]]*)", str(exc))
        raise ValueError(f"overrides.{key.group(1)}: {exc}" if key else f"overrides: {exc}") from None


@dataclass
class Search:
    """One /search as its phases fill it in: ``parse`` (the request, checked; the query vector),
    ``choose`` (the rule and the page's size), ``rank`` (the ranked list), ``page`` (the response)."""

    body: dict[str, Any]
    q: str
    text: str  # q as retrieval reads it (NFKC)
    frm: int
    explain: bool
    filters: dict[str, Any]
    vector: np.ndarray | None
    mode: str
    facets: dict[str, Any] | None
    rule: Rule | None = None
    how: str = "none"
    size: int = DEFAULT_SIZE
    named: dict[str, frozenset[str]] = field(default_factory=dict)
    counted: dict[str, Any] = field(default_factory=dict)  # what the first window brought: facets, fusion


def parse(body: Any, backend: Backend, limits: Limits, encode: Callable[[str], np.ndarray] | None) -> Search:
    """The request checked against the contract and the limits, the query vector found (given,
    ``like``, or the encoded text) and the mode settled; ValueError names the field."""
    validate("SearchRequest", body)
    limits.check_rule(body.get("overrides"), "overrides")
    limits.check_query(body.get("q"))
    q = body.get("q") or ""
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
    if body.get("mode") is None and vector is None and not q.strip():
        raise ValueError("q: a search needs a query text 'q', a 'vector' or 'like' (a product id)")
    mode = body.get("mode") or default_mode(vector is not None, bool(q.strip()), encode is not None, backend)
    if mode in ("knn", "hybrid") and vector is None and encode is not None and text.strip():
        vector = encode(text)  # the shopper's words, embedded by the query encoder
        if body.get("mode") is None and len(vector) != backend.dimension():  # a model the index was not built with
            mode, vector = "bm25", None
    if mode in ("knn", "hybrid") and vector is None:
        raise ValueError(f"vector: mode {mode} needs 'vector', 'like'" + (" or a query text" if encode else ""))
    if mode in ("bm25", "hybrid") and not q.strip():
        raise ValueError(f"q: mode {mode} needs a query text")
    wanted = body.get("facets") or None
    if wanted:
        facets.check(wanted, limits.facet_buckets)
    return Search(body, q, text, body.get("from", 0), body.get("explain", False), filters, vector, mode, wanted)


def choose(s: Search, ruleset: RuleSet, backend: Backend, max_window: int) -> None:
    """The rule (matched or named, with the request's overrides), the page size (the request's,
    else the rule's) and the values the query names."""
    s.rule, s.how = choose_rule(ruleset, s.body.get("rule"), s.q, s.filters)
    s.rule = apply_overrides(s.rule, s.body.get("overrides"))
    s.size = page_size(s.rule, s.body.get("size"))
    paging.check_window(s.frm, s.size, max_window)
    s.named = named_values(s.rule, s.q, backend.vocabulary)


def rank(s: Search, backend: Backend, max_window: int, now: datetime, max_pairs: int,
         clock: Callable[[], float]) -> paging.Ranked:
    """The ranked list, window by window, through the first item of the next page; facets and
    the fusion's account come with the first window (one round trip)."""
    rule = s.rule

    def fetch(window: int) -> Any:
        first = "facets" not in s.counted
        r = backend.retrieve(RetrievalRequest(s.mode, s.text, s.vector, s.filters, window,
                                              with_vectors=bool(rule and rule.needs_vectors),
                                              facets=s.facets if first else None,
                                              fusion=rule.fusion if rule else FusionSpec()))
        if first:
            s.counted["facets"], s.counted["fusion"] = r.facets, r.fusion
        seed = s.body.get("like")
        if seed is not None and str(seed) in r.hits.ids:  # "more like this" never offers this itself
            keep = [k for k, doc_id in enumerate(r.hits.ids) if doc_id != str(seed)]
            r = replace(r, hits=r.hits.take(keep), total=max(0, r.total - 1))
        return r

    if s.size == 0:  # the total and the facets alone (a filters panel): nothing to rank
        return paging.rank(fetch, None, 1, max_window, 1, clock)
    # MMR/DPP relevance: the cosine to the query vector for a vector-only search, else the
    # normalised retrieval score (BM25, or the fused hybrid score)
    rerank = None if rule is None else paging.reranker(rule, explain=s.explain, now=now,
                                                       query_vector=s.vector if s.mode == "knn" else None,
                                                       max_pairs=max_pairs, named=s.named)
    return paging.rank(fetch, rerank, rule.window if rule else paging.RETRIEVAL_WINDOW, max_window, s.frm + s.size + 1,
                       clock)


def page(s: Search, ranked: paging.Ranked, max_window: int, timings: dict[str, float]) -> dict[str, Any]:
    """The response: the page's slice of the ranked list with each hit's fields (and reasons),
    the counts, and what the request's options asked for (facets) or brought about (named, fusion)."""
    pool = ranked.pool
    row = {doc_id: k for k, doc_id in enumerate(pool.ids)} if pool is not None else {}
    hits = []
    for h in ranked.placed[s.frm:s.frm + s.size]:
        k = row[h["id"]]
        hit = {"id": h["id"], "score": float(pool.scores[k]), "rank": h["rank"], "fields": pool.sources[k]}
        if s.explain:
            hit["explanation"] = {"original_rank": h["original_rank"], **({"reason": h["reason"]} if "reason" in h else {})}
        hits.append(hit)
    response = {
        "rule": s.rule.id if s.rule else None,
        "rule_match": s.how,
        "mode": s.mode,
        "from": s.frm,
        "size": s.size,
        "total": {"value": ranked.total, "relation": ranked.relation},
        "has_next": paging.has_next(ranked, s.frm, s.size, max_window),
        "window": ranked.window,
        "candidates": ranked.candidates,
        "hits": hits,
        "timings": timings,
        "backend_took_ms": ranked.took_ms,
    }
    if s.named:
        response["named"] = {f: sorted(v) for f, v in s.named.items()}
    if s.counted.get("fusion"):
        response["fusion"] = s.counted["fusion"]
    if s.facets:
        response["facets"] = facets.mark_selected(s.counted.get("facets") or {f: [] for f in s.facets}, s.filters)
    return response


def run_search(body: Any, backend: Backend, ruleset: RuleSet, max_window: int,
               clock: Callable[[], float] = time.perf_counter, now: datetime | None = None,
               index: str | None = None, limits: Limits | None = None,
               encode: Callable[[str], np.ndarray] | None = None) -> SearchOutcome:
    """Validate and run one /search request through its phases (parse, choose, rank, page);
    ValueError (naming the field) means HTTP 400. ``encode``: the query encoder; with it, a text
    query is embedded (the default mode for text alone, or ``mode`` knn or hybrid)."""
    t0 = clock()
    limits = limits or Limits()
    s = parse(body, backend, limits, encode)
    choose(s, ruleset, backend, max_window)
    t_ret = clock()
    ranked = rank(s, backend, max_window, now or datetime.now(timezone.utc), limits.dedup_pairs, clock)
    t_done = clock()
    timings = {"retrieval_ms": round((t_done - t_ret - ranked.rerank_seconds) * 1000, 3),
               "rerank_ms": round(ranked.rerank_seconds * 1000, 3), "total_ms": round((t_done - t0) * 1000, 3)}
    response = page(s, ranked, max_window, timings)
    decision = Decision("search", s.rule, s.how, s.mode, s.q or None, index, ranked.window, s.frm, s.size, ranked.pool,
                        ranked.placed[s.frm:s.frm + s.size], ranked.dedup, timings["rerank_ms"],
                        timings["retrieval_ms"], timings["total_ms"], ranked.took_ms, s.filters or None)
    return SearchOutcome(response, decision)
