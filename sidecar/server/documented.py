"""Each route's OpenAPI operation, written beside its view: ``@documented`` and the pieces
operations are made of (media types, references to ``contract``'s schemas, the error answers,
the request examples). ``openapi.py`` builds the document from the routes that carry them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    "EventsRequest": {
        "click": {"summary": "a click on the third hit of a page", "value": {"events": [{
            "action_name": "click", "query_id": "<the request_id /search returned>", "client_id": "shopper-42",
            "event_attributes": {"object": {"object_id": "15970", "object_id_field": "id"},
                                 "position": {"ordinal": 3}}}]}},
    },
    "ProxySearch": {
        "reranked": {"summary": "OpenSearch query DSL, reranked under a rule", "value": {
            "query": {"match": {"title": "black jacket"}}, "size": 10,
            "ext": {"rerank": {"query": "black jacket", "explain": True}}}},
        "plain": {"summary": "passed through unchanged", "value": {"query": {"match_all": {}}, "size": 3}},
    },
}


def ref(name: str) -> dict[str, str]:
    """A reference to one of the schemas of ``contract`` (components/schemas)."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON body of ``schema`` (request or response), with named ``examples``."""
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = examples
    return {"content": {"application/json": media}}


ANY_OBJECT = {"type": "object"}
ERRORS = {"400": {"description": "invalid request; error.field names the field", **json_content(ref("Error"))},
          "503": {"description": "OpenSearch is unavailable", **json_content(ref("Error"))},
          "504": {"description": "OpenSearch did not answer in time", **json_content(ref("Error"))},
          "429": {"description": "too many requests from this client (Retry-After says when to retry)",
                  **json_content(ref("Error"))},
          "422": {"description": "the rule files were rejected; the last good rules serve on", **json_content(ANY_OBJECT)}}
INDEX = {"name": "index", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[^_/][^/]*$"}}
PROXY_BODY = {"type": "object", "description": "OpenSearch query DSL; ext.rerank asks for reranking",
              "properties": {"ext": {"type": "object", "properties": {"rerank": ref("RerankExt")}}}}


def _op(summary: str, ok: dict[str, Any], body: dict[str, Any] | None = None, errors: tuple[str, ...] = (),
        ok_status: str = "200", **extra: Any) -> dict[str, Any]:
    description = {"200": "OK", "202": "Accepted: stored, to be shipped"}.get(ok_status, "OK")
    op: dict[str, Any] = {"summary": summary, "responses": {ok_status: {"description": description, **ok},
                                                           **{c: ERRORS[c] for c in errors}}, **extra}
    if body is not None:
        op["requestBody"] = {"required": True, **body}
    return op


NDJSON = {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}
ADMIN = {"security": [{"bearer": []}]}


def documented(*methods: str, summary: str, ok: dict[str, Any] | None = None, body: dict[str, Any] | None = None,
               errors: tuple[str, ...] = (), ok_status: str = "200", **extra: Any) -> Callable[[Callable], Callable]:
    """A view's OpenAPI operation for ``methods``, kept on the view itself: the document is built
    from the routes (``document``), so a route is documented where it is written. ``ok_status``:
    the status of its success (202 for POST /events)."""
    def mark(view: Callable) -> Callable:
        ops = view.__dict__.setdefault("openapi", {})
        for m in methods:
            ops[m.lower()] = _op(summary, ok if ok is not None else json_content(ANY_OBJECT), body, errors, ok_status,
                                 **extra)
        return view
    return mark
