"""The plugin-style proxy: native OpenSearch query DSL in, OpenSearch's response shape out.

An optional ``ext.rerank`` block ({"rule"?: id, "query"?: text to match a rule by,
"overrides"?: {...}}) turns reranking on: the sidecar forwards the search with ``size`` widened
to the rule's window (and further windows when collapsing leaves the page short, as /search
does: ``paging``), fetching the `_source` fields the rule needs, reranks, and returns the page
asked for with the client's own `_source`, each hit with a ``_rerank`` object. Without it the
search passes through unchanged. Only _search is proxied.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from opensearchpy import OpenSearch

from .. import paging
from ..config import Config
from ..pipeline import apply_overrides, choose_rule
from ..rerank.rule import Rule
from ..retrieval import Retrieved
from ..retrieval.hits import VECTOR_BINARY_FIELD, Hits, from_hits
from ..retrieval.opensearch_backend import call
from ..rules import RuleSet
from . import source

log = logging.getLogger(__name__)

RERANK_KEYS = frozenset({"rule", "query", "overrides", "explain"})


@dataclass
class ProxyOutcome:
    response: dict[str, Any]
    rule: Rule | None = None
    rerank_seconds: float = 0.0
    pool: Hits | None = None
    placed: list[dict[str, Any]] = field(default_factory=list)
    dedup: dict[str, Any] | None = None
    window: int | None = None
    frm: int = 0
    size: int = 10
    query: str | None = None


def proxy_search(client: OpenSearch, index: str, body: Any, ruleset: RuleSet, cfg: Config,
                 legacy_indices: set[str] | None = None) -> ProxyOutcome:
    """Forward one _search, reranked when ext.rerank asks. ValueError -> 400; TransportError passes
    through. ``legacy_indices``: indices known to lack ``vector_f16`` (kept by the caller)."""
    if not isinstance(body, dict):
        raise ValueError("body: must be a JSON object (OpenSearch query DSL)")
    body = dict(body)
    ext = dict(body.pop("ext", None) or {})
    spec = ext.pop("rerank", None)
    if ext:
        body["ext"] = ext
    if spec is None:
        return ProxyOutcome(call(client.search, index=index, body=body, request_timeout=cfg.backend_timeout))
    if not isinstance(spec, dict):
        raise ValueError("ext.rerank: must be an object")
    unknown = sorted(set(spec) - RERANK_KEYS)
    if unknown:
        raise ValueError(f"ext.rerank: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(RERANK_KEYS))})")
    size, frm = body.get("size", 10), body.get("from", 0)
    for key, v in (("size", size), ("from", frm)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{key}: must be a non-negative integer")
    rule, _ = choose_rule(ruleset, spec.get("rule"), str(spec.get("query") or ""), {})
    rule = apply_overrides(rule, spec.get("overrides"))
    if rule is None:
        return ProxyOutcome(call(client.search, index=index, body=body, request_timeout=cfg.backend_timeout))
    if frm + size > cfg.max_window:
        raise ValueError(f"from: from + size = {frm + size} exceeds the maximum window {cfg.max_window}")
    wanted = source.client_spec(body.get("_source"))
    legacy = legacy_indices if legacy_indices is not None else set()
    raw: dict[str, dict[str, Any]] = {}  # id -> hit as OpenSearch returned it
    first_resp: dict[str, Any] = {}

    def search(window: int) -> dict[str, Any]:
        fetched = source.fetch_spec(wanted, rule, legacy_vectors=index in legacy)
        return call(client.search, index=index, body={**body, "_source": fetched, "size": window, "from": 0},
                    request_timeout=cfg.backend_timeout)

    def fetch(window: int) -> Retrieved:
        resp = search(window)
        hits = resp["hits"]["hits"]
        cols = from_hits(hits, with_vectors=rule.needs_vectors, keep_source=True)
        if rule.needs_vectors and hits and cols.vectors is None and index not in legacy:
            legacy.add(index)  # an index written before vector_f16: ask again for the float lists
            log.warning("index %s has no %s field: vectors travel as JSON float lists (slow); re-index it "
                        "with `sidecar index --recreate` to store them compactly", index, VECTOR_BINARY_FIELD)
            resp = search(window)
            hits = resp["hits"]["hits"]
            cols = from_hits(hits, with_vectors=True, keep_source=True)
        first_resp.setdefault("resp", resp)
        for h in hits:
            raw.setdefault(h["_id"], h)
        total = resp["hits"].get("total") or {}
        return Retrieved(cols, float(resp.get("took", 0)), int(total.get("value", len(hits))),
                         total.get("relation", "eq"), exhausted=len(hits) < window)

    rerank = paging.reranker(rule, explain=bool(spec.get("explain", True)), now=datetime.now(timezone.utc))
    ranked = paging.rank(fetch, rerank, rule.window, cfg.max_window, frm + size + 1)
    page = []
    for p in ranked.placed[frm:frm + size]:
        hit = dict(raw[p["id"]])
        if "_source" in hit:
            kept = source.cut(hit["_source"], wanted)
            if kept is None:
                del hit["_source"]
            else:
                hit["_source"] = kept
        hit["_rerank"] = {k: v for k, v in p.items() if k != "id"}
        page.append(hit)
    resp = first_resp["resp"]
    out = dict(resp)
    out["took"] = int(ranked.took_ms)
    out["hits"] = {**resp["hits"], "hits": page}
    out["_rerank"] = {"rule": rule.id, "window": ranked.window, "candidates": ranked.candidates,
                      "has_next": len(ranked.placed) > frm + size, "rerank_ms": round(ranked.rerank_seconds * 1000, 3)}
    return ProxyOutcome(out, rule, ranked.rerank_seconds, ranked.pool, ranked.placed[frm:frm + size], ranked.dedup,
                        ranked.window, frm, size, str(spec.get("query") or "") or None)
