"""POST /search (retrieve, rerank, page) and POST /rerank (rerank the caller's candidates)."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
from flask import Blueprint, g, jsonify, request

from ...search.contract import validate
from ...search.outcome import Decision
from ...experiments import serve
from ...search.pipeline import SearchOutcome, run_search
from ...rerank import rerank
from ...rerank.reranking import resolve_rule
from ...retrieval.hits import Hits
from ...retrieval.shared import SharedRetrieval
from ..errors import invalid
from ..jsonio import json_body
from ..documented import EXAMPLES, documented, json_content, ref
from ..services import services

bp = Blueprint("search", __name__)


@bp.post("/search")
@documented("POST", summary="Retrieve, rerank under the query's rule, and return one page",
            ok=json_content(ref("SearchResponse")), body=json_content(ref("SearchRequest"), EXAMPLES["SearchRequest"]),
            errors=("400", "503", "504"))
def search():
    s = services()
    body = json_body()
    rules = s.store.current
    client = serve.client_of(body, request.headers)
    if client != request.headers.get(serve.HEADER):  # the body's client_id: the page is issued to it
        g.request_id = s.signer.mint(client)
    chosen = serve.assignment(rules, body, client, datetime.now(timezone.utc), s.signer.key)

    # an interleaved request ranks twice: its arms share what they retrieve alike
    backend = SharedRetrieval(s.backend) if chosen is not None and chosen.arm == "interleaved" else s.backend

    def one(request_body: dict, ruleset) -> SearchOutcome:
        return run_search(request_body, backend, ruleset, s.config.max_window,
                          index=s.config.index if s.config.backend == "opensearch" else None, limits=s.limits,
                          encode=s.encode)

    try:
        outcome = serve.run(body, rules, chosen, client, one, s.config.max_window) if chosen else one(body, rules)
    except ValueError as exc:
        raise invalid(exc) from None
    outcome.decision.client_id = client
    g.decision = outcome.decision
    echo = {"client_request_id": g.client_request_id} if g.client_request_id else {}
    return jsonify({**outcome.response, "request_id": g.request_id, **echo})


def _check_read_fields(candidates: list[dict], rule) -> None:
    """The fields the rule reads hold a value or a flat list of values in every candidate
    (ValueError naming the first that does not: an object there has no value to cap)."""
    read = list(dict.fromkeys([c.field for c in rule.constraints] + ([rule.dedup.field] if rule.dedup else [])))
    for i, cand in enumerate(candidates):
        fields = cand.get("fields") or {}
        for name in read:
            value = fields.get(name)
            if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
                raise ValueError(f"candidates[{i}].fields.{name}: the rule reads this field, so it must be a value "
                                 "or a list of values (not an object or a nested list)")


@bp.post("/rerank")
@documented("POST", summary="Rerank the caller's candidates under a rule", ok=json_content(ref("RerankResponse")),
            body=json_content(ref("RerankRequest"), EXAMPLES["RerankRequest"]), errors=("400",))
def rerank_endpoint():
    s = services()
    body = json_body()
    t0 = time.perf_counter()
    try:
        validate("RerankRequest", body)
        s.limits.check_candidates(body["candidates"])
        s.limits.check_rule(body["rule"], "rule")
        rule = resolve_rule(body["rule"], s.store.current.by_id)  # parsed once, for the rerank and the record
        _check_read_fields(body["candidates"], rule)
        resp = rerank({**body, "rule": rule}, now=datetime.now(timezone.utc), max_pairs=s.limits.dedup_pairs)
    except ValueError as exc:
        raise invalid(exc) from None
    ms = round((time.perf_counter() - t0) * 1000, 3)
    cands = body["candidates"]
    pool = Hits([str(c["id"]) for c in cands], np.array([float(c["score"]) for c in cands]),
                [c.get("fields") or {} for c in cands])
    g.decision = Decision("rerank", rule, "explicit", query=body.get("query"),
                          window=len(cands), size=len(resp["hits"]), pool=pool, placed=resp["hits"],
                          dedup=resp.get("dedup"), rerank_ms=ms, total_ms=ms)
    return jsonify(resp)
