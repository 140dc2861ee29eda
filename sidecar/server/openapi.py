"""The OpenAPI 3.1 document of the API, served at /openapi.json, built from ``contract``'s
definitions (the ones requests are validated with) plus the routes and their examples."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .. import __version__
from ..contract import definitions

EXAMPLES: dict[str, dict[str, Any]] = {
    "SearchRequest": {
        "text": {"summary": "a text search under the matching rule", "value": {"q": "black jacket", "size": 10}},
        "explained": {"summary": "filters, an explicit rule and the reasons", "value": {
            "q": "watch", "filters": {"price": {"gte": 50}}, "rule": "watches-preowned", "size": 10, "explain": True}},
        "override": {"summary": "a rule with one key overridden for this request", "value": {
            "q": "tshirt", "overrides": {"lambda": 0, "dedup": None}, "size": 5}},
    },
    "RerankRequest": {
        "inline": {"summary": "your candidates under an inline rule: at least 10% Panasonic", "value": {
            "candidates": [{"id": "s1", "score": 2.0, "fields": {"brand": "Sony"}},
                           {"id": "s2", "score": 1.9, "fields": {"brand": "Sony"}},
                           {"id": "p1", "score": 1.0, "fields": {"brand": "Panasonic"}}],
            "rule": {"id": "tv", "lambda": 0, "constraints": [{"field": "brand", "value": "Panasonic", "min": 0.3}]},
            "size": 3, "explain": True}},
    },
    "ProxySearch": {
        "reranked": {"summary": "OpenSearch query DSL, reranked under a rule", "value": {
            "query": {"match": {"title": "black jacket"}}, "size": 10,
            "ext": {"rerank": {"query": "black jacket", "explain": True}}}},
        "plain": {"summary": "passed through unchanged", "value": {"query": {"match_all": {}}, "size": 3}},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = examples
    return {"content": {"application/json": media}}


ERRORS = {"400": {"description": "invalid request; error.field names the field", **_json(_ref("Error"))},
          "503": {"description": "OpenSearch is unavailable", **_json(_ref("Error"))},
          "504": {"description": "OpenSearch did not answer in time", **_json(_ref("Error"))}}
ANY_OBJECT = {"type": "object"}
INDEX = {"name": "index", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[^_/][^/]*$"}}
PROXY_BODY = {"type": "object", "description": "OpenSearch query DSL; ext.rerank asks for reranking",
              "properties": {"ext": {"type": "object", "properties": {"rerank": _ref("RerankExt")}}}}


def _op(summary: str, ok: dict[str, Any], body: dict[str, Any] | None = None, errors: tuple[str, ...] = (),
        **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK", **ok},
                                                           **{c: ERRORS[c] for c in errors}}, **extra}
    if body is not None:
        op["requestBody"] = {"required": True, **body}
    return op


NDJSON = {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}


@lru_cache(maxsize=1)
def _document() -> str:
    schemas = json.loads(json.dumps(definitions()).replace('"#/$defs/', '"#/components/schemas/'))
    admin = {"security": [{"bearer": []}]}
    paths = {
        "/search": {"post": _op("Retrieve, rerank under the query's rule, and return one page", _json(_ref("SearchResponse")),
                                _json(_ref("SearchRequest"), EXAMPLES["SearchRequest"]), ("400", "503", "504"))},
        "/rerank": {"post": _op("Rerank the caller's candidates under a rule", _json(_ref("RerankResponse")),
                                _json(_ref("RerankRequest"), EXAMPLES["RerankRequest"]), ("400",))},
        "/{index}/_search": {
            "parameters": [INDEX],
            "get": _op("OpenSearch _search, passed through", _json(ANY_OBJECT), errors=("400", "503", "504")),
            "post": _op("OpenSearch _search; reranked when ext.rerank is given", _json(ANY_OBJECT),
                        _json(PROXY_BODY, EXAMPLES["ProxySearch"]), ("400", "503", "504"))},
        "/{index}/_count": {"parameters": [INDEX],
                            "get": _op("OpenSearch _count, passed through", _json(ANY_OBJECT), errors=("400", "503"))},
        "/{index}/_msearch": {"parameters": [INDEX],
                              "post": _op("OpenSearch _msearch: each search checked and run as a _search (ext.rerank "
                                          "per search)", _json(ANY_OBJECT), NDJSON, ("400", "503", "504"))},
        "/_msearch": {"post": _op("OpenSearch _msearch, each header naming its index", _json(ANY_OBJECT), NDJSON,
                                  ("400", "503", "504"))},
        "/{index}/_mapping": {"parameters": [INDEX],
                              "get": _op("The mapping of a proxied index (read-only)", _json(ANY_OBJECT),
                                         errors=("400", "503"))},
        "/": {"get": _op("OpenSearch's cluster info (clients' info() and ping())", _json(ANY_OBJECT), errors=("503",))},
        "/healthz": {"get": _op("The process is alive", _json(ANY_OBJECT))},
        "/readyz": {"get": _op("Backend reachable and kernels compiled", _json(ANY_OBJECT))},
        "/metrics": {"get": _op("Prometheus metrics of every worker", {"content": {"text/plain": {"schema": {"type": "string"}}}})},
        "/version": {"get": _op("Package and OpenSearch versions, rule-set hash", _json(ANY_OBJECT))},
        "/openapi.json": {"get": _op("This document", _json(ANY_OBJECT))},
        "/admin/rules": {"get": _op("Rule status of every worker", _json(ANY_OBJECT), **admin)},
        "/admin/rules/reload": {"post": _op("Reload the rules on every worker (422 when rejected)", _json(ANY_OBJECT), **admin)},
    }
    paths["/readyz"]["get"]["responses"]["503"] = {"description": "warming, or the backend is away", **_json(ANY_OBJECT)}
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict) and "responses" in op:
                if "security" in op:
                    op["responses"].update({"401": {"description": "no or wrong bearer token", **_json(_ref("Error"))},
                                            "403": {"description": "admin disabled", **_json(_ref("Error"))}})
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "SRP diversity sidecar", "version": __version__,
                 "description": "Reranks OpenSearch candidates under per-query rules: caps, minimums, "
                                "near-duplicates, MMR. Every error body names its field."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
    return json.dumps(doc)


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change theirs)."""
    return json.loads(_document())
