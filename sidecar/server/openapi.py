"""The OpenAPI 3.1 document of the API, served at /openapi.json: the paths from the app's own
routes, each operation written beside its view (``documented``), the schemas from ``contract``'s
definitions (the ones requests are validated with). A route without an operation is an error when
the document is built, so the document cannot miss one."""
from __future__ import annotations

import json
import re
from typing import Any

from .. import __version__
from ..search.contract import definitions
from .documented import INDEX, json_content, ref


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
                op["responses"].update({"401": {"description": "no or wrong bearer token", **json_content(ref("Error"))},
                                        "403": {"description": "admin disabled", **json_content(ref("Error"))}})
    return paths


def document(app: Any) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s routes (the served app, or ``routes.routes_only()``), a
    fresh copy (callers may change theirs); built once per app. Raises ``Undocumented`` when a
    route has no operation."""
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
