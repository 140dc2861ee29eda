"""The OpenAPI 3.1 document of the API, served at /openapi.json: the paths from the app's own
routes, each operation written beside its view (``@documented``), the schemas from ``contract``'s
definitions (the ones requests are validated with). A route without an operation is an error when
the document is built, so the document cannot miss one."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = examples
    return {"content": {"application/json": media}}


ANY_OBJECT = {"type": "object"}
ERRORS = {"400": {"description": "invalid request; error.field names the field", **_json(_ref("Error"))},
          "503": {"description": "OpenSearch is unavailable", **_json(_ref("Error"))},
          "504": {"description": "OpenSearch did not answer in time", **_json(_ref("Error"))},
          "429": {"description": "too many requests from this client (Retry-After says when to retry)",
                  **_json(_ref("Error"))},
          "422": {"description": "the rule files were rejected; the last good rules serve on", **_json(ANY_OBJECT)}}
INDEX = {"name": "index", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[^_/][^/]*$"}}
PROXY_BODY = {"type": "object", "description": "OpenSearch query DSL; ext.rerank asks for reranking",
              "properties": {"ext": {"type": "object", "properties": {"rerank": _ref("RerankExt")}}}}


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
            ops[m.lower()] = _op(summary, ok if ok is not None else _json(ANY_OBJECT), body, errors, ok_status,
                                 **extra)
        return view
    return mark


class Undocumented(RuntimeError):
    """A route without its OpenAPI operation (``documented``)."""


def _path(rule: Any) -> str:
    """/<index>/_search -> /{index}/_search (any converter)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _paths(app: Any) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    missing = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        ops = getattr(app.view_functions[rule.endpoint], "openapi", {})
        item = paths.setdefault(_path(rule), {})
        for method in sorted(rule.methods - {"OPTIONS"}):
            op = ops.get(method.lower())
            if op is None:
                if method != "HEAD":  # Flask adds HEAD to every GET
                    missing.append(f"{method} {rule.rule}")
                continue
            item[method.lower()] = op
        if "{index}" in _path(rule):
            item["parameters"] = [INDEX]
    if missing:
        raise Undocumented(f"routes without an OpenAPI operation (@documented): {', '.join(missing)}")
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict) and "security" in op:
                op["responses"].update({"401": {"description": "no or wrong bearer token", **_json(_ref("Error"))},
                                        "403": {"description": "admin disabled", **_json(_ref("Error"))}})
    return paths


def routes_only() -> Any:
    """A Flask app holding the blueprints and nothing else (no services): the routes as served."""
    from flask import Flask

    from .routes import BLUEPRINTS

    app = Flask("sidecar-routes")
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    return app


def document(app: Any = None) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s routes (default: ``routes_only()``), a fresh copy
    (callers may change theirs); built once per app."""
    app = app if app is not None else routes_only()
    cached = app.extensions.get("openapi")
    if cached is None:
        schemas = json.loads(json.dumps(definitions()).replace('"#/$defs/', '"#/components/schemas/'))
        cached = app.extensions["openapi"] = json.dumps({
            "openapi": "3.1.0",
            "info": {"title": "SRP diversity sidecar", "version": __version__,
                     "description": "Reranks OpenSearch candidates under per-query rules: caps, minimums, "
                                    "near-duplicates, MMR. Every error body names its field."},
            "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
            "paths": _paths(app),
            "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        })
    return json.loads(cached)
