"""One search: validate the request, pick the rule, build the ranked list, slice a page.

The phases pass typed values, each a phase's output and the next one's input, so none can run
before the one it needs: ``parse`` -> ``Parsed``; ``choose(Parsed)`` -> ``Chosen`` (a rule of None
means no reranking, and only that); ``rank(Parsed, Chosen)`` -> the ranked list and ``Counted``
(facets, fusion); ``page`` -> the response, each hit's ``Explanation`` typed.

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
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

import numpy as np

from . import paging
from ..rerank.named import Vocabulary, named_in
from ..rerank.rule import FusionSpec, Rule, parse_rule
from ..retrieval import Backend, NotFound, RetrievalRequest, facets
from ..retrieval.boosts import boosted, moved_by
from ..retrieval.filters import validate_filters
from .contract import DEFAULT_SIZE, validate
from .limits import Limits
from .outcome import Decision
from ..rules import RuleSet
from ..understand import Policy, Understood, read


RuleChoice = Literal["exact", "pattern", "default", "explicit", "none"]  # how the rule was chosen


@dataclass
class SearchOutcome:
    """The response, and the typed decision the decision log and metrics read."""

    response: dict[str, Any]
    decision: Decision


def parse_vector(value: list[float], key: str = "vector") -> np.ndarray:
    """A schema-checked list of numbers as float32; ValueError when one does not fit (1e39)."""
    with np.errstate(over="ignore"):  # a number past float32 becomes inf, refused below (no warning in the log)
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
    return named_in(q, {f: vocabulary(f) for f in rule.named_fields})


def default_mode(has_vector: bool, has_text: bool, can_encode: bool, backend: Backend) -> str:
    """The mode of a request that names none: a vector (or ``like``) with text is hybrid, alone
    kNN; text alone is hybrid when the query encoder is on and the index has vectors (the
    shopper's words, embedded), else BM25."""
    if has_vector:
        return "hybrid" if has_text else "knn"
    return "hybrid" if has_text and can_encode and backend.dimension() is not None else "bm25"


def choose_rule(ruleset: RuleSet, requested: Any, query: str, filters: dict[str, Any]
                ) -> tuple[Rule | None, RuleChoice]:
    """(rule or None for no reranking, how it was chosen)."""
    if requested is None:
        m = ruleset.match(query, filters)
        return (m.rule, m.how) if m else (None, "none")  # type: ignore[return-value]
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


@dataclass(frozen=True)
class Parsed:
    """Phase 1 (``parse``): the request, checked against the contract and the limits, the query
    vector found and the mode settled."""

    body: dict[str, Any]
    q: str
    text: str  # q as retrieval reads it (NFKC)
    frm: int
    explain: bool
    filters: dict[str, Any]
    vector: np.ndarray | None
    mode: str
    facets: dict[str, Any] | None
    understood: Understood | None = None  # what the query was read to ask (None: nothing, or off)
    asked: dict[str, Any] | None = None  # the request's own filters (``filters`` adds the understood ones)


@dataclass(frozen=True)
class Chosen:
    """Phase 2 (``choose``): the rule (None: no reranking, whatever ``how`` says why), how it was
    chosen, the page's size and the values the query names."""

    rule: Rule | None
    how: RuleChoice
    size: int
    named: dict[str, frozenset[str]]


@dataclass
class Counted:
    """What the first retrieval window brought besides hits: the facets asked for and, for a
    hybrid search, how its two lists were fused. Filled by ``rank`` (once)."""

    facets: dict[str, list[dict[str, Any]]] | None = None
    fusion: dict[str, Any] | None = None
    done: bool = False


class Explanation(TypedDict, total=False):
    """A hit's ``explanation`` (``"explain": true``): its place in retrieval order, and the
    reason the core gives for its place on the page (``{"type": ...}`` and that type's keys)."""

    original_rank: int
    reason: dict[str, Any]
    boosted: list[str]  # the boosts and buries that moved it in retrieval order (rewrites, understanding)


def parse(body: Any, backend: Backend, limits: Limits, encode: Callable[[str], np.ndarray] | None,
          understanding: Policy | None = None) -> Parsed:
    """The request checked against the contract and the limits, the query understood (prices and
    the catalog's values as filters, under ``understanding``), the query vector found (given,
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
    understood, asked = None, filters
    if understanding is not None and body.get("understand", True) and text.strip():
        text, filters, understood = read(text, backend, understanding, filters, encode)
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
    return Parsed(body, q, text, body.get("from", 0), body.get("explain", False), filters, vector, mode, wanted,
                  understood, asked)


def choose(p: Parsed, ruleset: RuleSet, backend: Backend, max_window: int) -> Chosen:
    """The rule (matched or named, with the request's overrides), the page size (the request's,
    else the rule's) and the values the query names. ValueError: an unknown rule, bad overrides,
    a page past the window."""
    rule, how = choose_rule(ruleset, p.body.get("rule"), p.q, p.filters)
    rule = apply_overrides(rule, p.body.get("overrides"))
    size = page_size(rule, p.body.get("size"))
    paging.check_window(p.frm, size, max_window)
    return Chosen(rule, how, size, named_values(rule, p.q, backend.vocabulary))


def rank(p: Parsed, c: Chosen, backend: Backend, max_window: int, now: datetime, max_pairs: int,
         clock: Callable[[], float]) -> tuple[paging.Ranked, Counted]:
    """The ranked list, window by window, through the first item of the next page; facets and
    the fusion's account come with the first window (one round trip)."""
    rule = c.rule
    counted = Counted()
    boosts = p.understood.boosts if p.understood is not None else ()

    def fetch(window: int) -> Any:
        first = not counted.done
        r = backend.retrieve(RetrievalRequest(p.mode, p.text, p.vector, p.filters, window,
                                              with_vectors=bool(rule and rule.needs_vectors),
                                              facets=p.facets if first else None,
                                              fusion=rule.fusion if rule else FusionSpec()))
        if first:
            counted.facets, counted.fusion, counted.done = r.facets, r.fusion, True
        if boosts:
            r = replace(r, hits=boosted(r.hits, boosts))
        seed = p.body.get("like")
        if seed is not None and str(seed) in r.hits.ids:  # "more like this" never offers this itself
            keep = [k for k, doc_id in enumerate(r.hits.ids) if doc_id != str(seed)]
            r = replace(r, hits=r.hits.take(keep), total=max(0, r.total - 1))
        return r

    if c.size == 0:  # the total and the facets alone (a filters panel): nothing to rank
        return paging.rank(fetch, None, 1, max_window, 1, clock), counted
    # MMR/DPP relevance: the cosine to the query vector for a vector-only search, else the
    # normalised retrieval score (BM25, or the fused hybrid score)
    rerank = None if rule is None else paging.reranker(rule, explain=p.explain, now=now,
                                                       query_vector=p.vector if p.mode == "knn" else None,
                                                       max_pairs=max_pairs, named=c.named)
    ranked = paging.rank(fetch, rerank, rule.window if rule else paging.RETRIEVAL_WINDOW, max_window,
                         p.frm + c.size + 1, clock)
    return ranked, counted


def page(p: Parsed, c: Chosen, ranked: paging.Ranked, counted: Counted, max_window: int,
         timings: dict[str, float]) -> dict[str, Any]:
    """The response: the page's slice of the ranked list with each hit's fields (and reasons),
    the counts, and what the request's options asked for (facets) or brought about (named, fusion).
    Raises RuntimeError when ``counted`` was not filled by ``rank`` (a phase skipped)."""
    if not counted.done:
        raise RuntimeError("page() before rank() brought the first window")
    pool = ranked.pool
    row = {doc_id: k for k, doc_id in enumerate(pool.ids)} if pool is not None else {}
    hits = []
    for h in ranked.placed[p.frm:p.frm + c.size]:
        k = row[h["id"]]
        hit = {"id": h["id"], "score": float(pool.scores[k]), "rank": h["rank"], "fields": pool.sources[k]}
        if p.explain:
            explanation: Explanation = {"original_rank": h["original_rank"]}
            if "reason" in h:
                explanation["reason"] = h["reason"]
            moved = moved_by(pool.sources[k], p.understood.boosts) if p.understood is not None else []
            if moved:
                explanation["boosted"] = moved
            hit["explanation"] = explanation
        hits.append(hit)
    response = {
        "rule": c.rule.id if c.rule else None,
        "rule_match": c.how,
        "mode": p.mode,
        "from": p.frm,
        "size": c.size,
        "total": {"value": ranked.total, "relation": ranked.relation},
        "has_next": paging.has_next(ranked, p.frm, c.size, max_window),
        "window": ranked.window,
        "candidates": ranked.candidates,
        "hits": hits,
        "timings": timings,
        "backend_took_ms": ranked.took_ms,
    }
    if p.understood is not None:
        response["understood"] = p.understood.shown()
    if c.named:
        response["named"] = {f: sorted(v) for f, v in c.named.items()}
    if counted.fusion:
        response["fusion"] = counted.fusion
    if p.facets:
        response["facets"] = facets.mark_selected(counted.facets or {f: [] for f in p.facets}, p.filters)
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
    p = parse(body, backend, limits, encode, ruleset.understanding)
    c = choose(p, ruleset, backend, max_window)
    reading = ruleset.reading(c.rule)
    if reading is not ruleset.understanding:  # the serving rule's own rewrites: the query read again with them
        p = parse(body, backend, limits, encode, reading)
    t_ret = clock()
    ranked, counted = rank(p, c, backend, max_window, now or datetime.now(timezone.utc), limits.dedup_pairs, clock)
    t_done = clock()
    timings = {"retrieval_ms": round((t_done - t_ret - ranked.rerank_seconds) * 1000, 3),
               "rerank_ms": round(ranked.rerank_seconds * 1000, 3), "total_ms": round((t_done - t0) * 1000, 3)}
    response = page(p, c, ranked, counted, max_window, timings)
    decision = Decision("search", c.rule, c.how, p.mode, p.q or None, index, ranked.window, p.frm, c.size, ranked.pool,
                        ranked.placed[p.frm:p.frm + c.size], ranked.dedup, timings["rerank_ms"],
                        timings["retrieval_ms"], timings["total_ms"], ranked.took_ms, p.asked or None,
                        understood=response.get("understood"))
    return SearchOutcome(response, decision)
