"""The plugin-style proxy: native OpenSearch query DSL in, OpenSearch's response shape out.

An optional ``ext.rerank`` block ({"rule"?: id, "query"?: text to match a rule by,
"overrides"?: {...}}) turns reranking on: the sidecar widens ``size`` to the rule's window,
forwards the search, reranks the hits once and returns the page asked for, each hit with a
``_rerank`` object. Without it the search passes through unchanged. Only _search is proxied.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch

from ..config import Config
from ..pipeline import apply_overrides, choose_rule
from ..rerank import rerank_candidates, validate_candidates
from ..rerank.rule import Rule
from ..retrieval.opensearch_backend import call
from ..rules import RuleSet

RERANK_KEYS = frozenset({"rule", "query", "overrides", "explain"})


@dataclass
class ProxyOutcome:
    response: dict[str, Any]
    rule: Rule | None = None
    rerank_seconds: float = 0.0
    candidates: list[dict[str, Any]] = field(default_factory=list)
    placed: list[dict[str, Any]] = field(default_factory=list)
    dedup: dict[str, Any] | None = None
    window: int | None = None
    frm: int = 0
    size: int = 10
    query: str | None = None


def proxy_search(client: OpenSearch, index: str, body: Any, ruleset: RuleSet, cfg: Config) -> ProxyOutcome:
    """Forward one _search, reranked when ext.rerank asks. ValueError -> 400; TransportError passes through."""
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
    window = min(max(rule.window, frm + size), cfg.max_window)
    body["size"], body["from"] = window, 0
    if "_source" not in body and rule.mmr is None:
        body["_source"] = {"excludes": ["vector"]}  # vectors only when MMR needs them
    resp = call(client.search, index=index, body=body, request_timeout=cfg.backend_timeout)
    t0 = time.perf_counter()
    hits = resp["hits"]["hits"]
    cands = []
    for h in hits:
        src = h.get("_source") or {}
        c: dict[str, Any] = {"id": h["_id"], "score": float(h.get("_score") or 0.0), "fields": src}
        if isinstance(src.get("title"), str):
            c["title"] = src["title"]
        if src.get("minhash") is not None:
            c["signature"] = src["minhash"]
        if rule.mmr is not None and src.get("vector") is not None:
            c["vector"] = src["vector"]
        cands.append(c)
    reranked = rerank_candidates(validate_candidates(cands), rule, size=frm + size,
                                 explain=bool(spec.get("explain", True))) if cands else {"hits": []}
    placed = reranked["hits"]
    by_id = {h["_id"]: h for h in hits}
    page = []
    for p in placed[frm:frm + size]:
        hit = dict(by_id[p["id"]])
        hit["_rerank"] = {k: v for k, v in p.items() if k != "id"}
        page.append(hit)
    elapsed = time.perf_counter() - t0
    out = dict(resp)
    out["hits"] = {**resp["hits"], "hits": page}
    out["_rerank"] = {"rule": rule.id, "window": window, "candidates": len(hits), "rerank_ms": round(elapsed * 1000, 3)}
    return ProxyOutcome(out, rule, elapsed, cands, placed[frm:frm + size], reranked.get("dedup"), window, frm, size,
                        str(spec.get("query") or "") or None)
