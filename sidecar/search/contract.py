"""The request and response shapes of the HTTP API, defined once as JSON Schema (2020-12).

Validation of /search, /rerank and the proxy's ``ext.rerank`` block comes from these
definitions, and so does the OpenAPI document (``server/openapi.py``): what is documented is
what is checked. A rule given inline reuses the rule file's own schema. The compiled validator
(jsonschema-rs) answers yes/no and lists the errors; a 400 names the first one's field, e.g.
``filters.brnd`` or ``candidates[3].score``. What a schema cannot say (a mode that needs a
vector, a window too large) stays in the code that knows it and names its field the same way.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import jsonschema_rs

from ..catalog import KEYWORD_FIELDS
from ..rerank.rule import DEFAULT_SIZE
from ..retrieval import facets
from ..retrieval.base import MODES
from ..retrieval.filters import RANGE_FIELDS, RANGE_OPS
from ..rules.file_schema import schema as rule_file_schema
from . import strict_ints

_SCALAR = {"type": ["string", "number"]}
_VALUES = {"type": "array", "items": _SCALAR, "minItems": 1}
_RANGE = {"type": "object", "additionalProperties": False, "minProperties": 1,
          "properties": {op: {"type": ["number", "string"]} for op in RANGE_OPS}}

DEFS: dict[str, Any] = {
    "Filters": {
        "type": "object", "additionalProperties": False,
        "description": "term (a value), terms (a list) or, on price and listed_at, a range (gt/gte/lt/lte: "
                       "numbers or ISO dates)",
        "properties": {**{f: {"anyOf": [_SCALAR, _VALUES]} for f in (*KEYWORD_FIELDS, "id")},
                       **{f: {"anyOf": [_SCALAR, _VALUES, _RANGE]} for f in RANGE_FIELDS}},
    },
    "Vector": {"type": "array", "items": {"type": "number"}, "minItems": 1},
    "SearchRequest": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "q": {"type": "string", "description": "query text (BM25, and the rule match)"},
            "vector": {"$ref": "#/$defs/Vector", "description": "query vector (kNN)"},
            "like": {"type": ["string", "integer"], "minLength": 1, "maxLength": 512,
                     "description": "a product id whose stored vector is the query"},
            "mode": {"enum": list(MODES), "description": "default: hybrid with text and a vector, knn with a vector "
                                                         "alone; text alone is hybrid (the text embedded by the query "
                                                         "encoder) when the encoder is on and the index has vectors, "
                                                         "else bm25"},
            "filters": {"$ref": "#/$defs/Filters"},
            "from": {"type": "integer", "minimum": 0, "default": 0},
            "size": {"type": "integer", "minimum": 0, "description": f"default: the rule's size, {DEFAULT_SIZE} without a "
                     "rule; 0: no hits, the total and the facets alone (a filters panel)"},
            "explain": {"type": "boolean", "default": False},
            "understand": {"type": "boolean", "default": True,
                           "description": "read prices and the catalog's values (colour, gender) in q as filters "
                                          "(the rule set's understanding); false: the words alone"},
            "rule": {"type": "string", "minLength": 1, "description": "a rule id, or 'none' for no reranking"},
            "overrides": {"type": "object", "description": "rule keys for this request (not id or match); null removes one"},
            "facets": {"$ref": "#/$defs/Facets"},
            "client_id": {"type": "string", "minLength": 1, "maxLength": 256,
                          "description": "the shopper's client (or session) id: it assigns the request to an "
                                         "experiment's arm (else the X-Client-Id header)"},
        },
    },
    "Facets": facets.schema(),
    "Event": {
        "type": "object", "required": ["action_name", "query_id"],
        "description": "one shopper action in the shape of OpenSearch User Behavior Insights (ubi_events)",
        "properties": {
            "action_name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$",
                            "description": "click, add_to_cart, purchase (the report reads these), or another action"},
            "query_id": {"type": "string", "minLength": 1, "maxLength": 256,
                         "description": "the request_id of the search whose page the action is on"},
            "client_id": {"type": "string", "minLength": 1, "maxLength": 256},
            "session_id": {"type": "string", "minLength": 1, "maxLength": 256},
            "application": {"type": "string", "maxLength": 256},
            "timestamp": {"type": "string", "minLength": 1, "description": "ISO 8601; default: when it arrived"},
            "message_type": {"type": "string", "maxLength": 256},
            "message": {"type": "string", "maxLength": 4096},
            "event_attributes": {
                "type": "object", "required": ["object"],
                "properties": {
                    "object": {"type": "object", "required": ["object_id"],
                               "properties": {"object_id": {"type": "string", "minLength": 1, "maxLength": 512},
                                              "object_id_field": {"type": "string", "maxLength": 256}}},
                    "position": {"type": "object", "required": ["ordinal"],
                                 "properties": {"ordinal": {"type": "integer", "minimum": 1,
                                                            "description": "the hit's rank on the page (1 = first)"}}},
                },
            },
        },
    },
    "EventsRequest": {
        "type": "object", "additionalProperties": False, "required": ["events"],
        "properties": {"events": {"type": "array", "items": {"$ref": "#/$defs/Event"}, "minItems": 1,
                                  "maxItems": 1000}},
    },
    "Candidate": {
        "type": "object", "additionalProperties": False, "required": ["id", "score"],
        "properties": {
            "id": {"type": ["string", "integer"], "minLength": 1},
            "score": {"type": "number", "description": "retrieval score"},
            "fields": {"type": "object", "description": "the fields constraints read"},
            "vector": {"$ref": "#/$defs/Vector"},
            "title": {"type": "string", "description": "the dedup text when fields have no title"},
            "signature": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}],
                          "description": "a stored MinHash signature (base64 uint32 or a list)"},
        },
    },
    "RerankRequest": {
        "type": "object", "additionalProperties": False, "required": ["candidates", "rule"],
        "properties": {
            "candidates": {"type": "array", "items": {"$ref": "#/$defs/Candidate"}, "description": "retrieval order"},
            "rule": {"anyOf": [{"type": "string", "minLength": 1}, {"$ref": "#/$defs/rule"}],
                     "description": "a rule id, or a rule written inline as in a rule file"},
            "query": {"type": "string"},
            "query_vector": {"$ref": "#/$defs/Vector"},
            "size": {"type": "integer", "minimum": 1},
            "explain": {"type": "boolean"},
            "now": {"type": "string", "description": "ISO datetime the rule's now-30d bounds count from"},
        },
    },
    "RerankExt": {
        "type": "object", "additionalProperties": False,
        "description": "ext.rerank of a proxied _search: rerank the hits under a rule",
        "properties": {
            "rule": {"type": "string", "minLength": 1, "description": "a rule id (else the rule matching 'query')"},
            "query": {"type": "string", "description": "the text a rule is matched by"},
            "overrides": {"type": "object"},
            "explain": {"type": "boolean", "default": True},
        },
    },
    "Hit": {
        "type": "object", "required": ["id", "score", "rank", "fields"],
        "properties": {"id": {"type": "string"}, "score": {"type": "number"}, "rank": {"type": "integer"},
                       "fields": {"type": "object"}, "explanation": {"type": "object"},
                       "team": {"enum": ["a", "b", "both"], "description": "an interleaved page: the arm that placed "
                                                                          "the hit (both: the arms' common top, credited "
                                                                          "to neither)"}},
    },
    "SearchResponse": {
        "type": "object",
        "required": ["rule", "rule_match", "mode", "from", "size", "total", "has_next", "hits", "timings"],
        "properties": {
            "rule": {"type": ["string", "null"]}, "rule_match": {"type": "string"}, "mode": {"enum": list(MODES)},
            "from": {"type": "integer"}, "size": {"type": "integer"},
            "total": {"type": "object", "properties": {"value": {"type": "integer"}, "relation": {"enum": ["eq", "gte"]}}},
            "has_next": {"type": "boolean"}, "window": {"type": ["integer", "null"]},
            "candidates": {"type": "integer"}, "hits": {"type": "array", "items": {"$ref": "#/$defs/Hit"}},
            "timings": {"type": "object"}, "backend_took_ms": {"type": ["number", "null"]},
            "request_id": {"type": "string", "description": "the query id events about this page refer to"},
            "experiment": {"type": "object", "description": "the experiment the request took part in: name, method, "
                                                            "arm (a, b, or interleaved)",
                           "properties": {"name": {"type": "string"}, "method": {"enum": ["ab", "interleave"]},
                                          "arm": {"enum": ["a", "b", "interleaved"]}}},
            "fusion": {"type": "object", "description": "hybrid: how the BM25 and kNN lists were fused (method, "
                                                        "weights, and the share of the query's words BM25 matched)"},
            "named": {"type": "object", "description": "the values of constrained fields the query names, per field: "
                                                       "their constraints do not push them down (respect_query)"},
            "understood": {"type": "object", "description": "what the query became under the rule set's understanding "
                                                            "(absent: read as typed): the text searched, the filters added, "
                                                            "each finding, the rewrites applied (file:line) and the boosts; "
                                                            "a hit's explanation.boosted names the boosts that moved it",
                           "required": ["text", "filters", "found"],
                           "properties": {"text": {"type": "string"}, "filters": {"type": "object"},
                                          "found": {"type": "array"},
                                          "rewrites": {"type": "array", "items": {"type": "string"}},
                                          "boosts": {"type": "array", "items": {"type": "string"}}}},
            "facets": {"type": "object", "description": "per field, buckets {value, count, selected} (ranges also "
                                                         "from, to): counts over the matches, not the page",
                       "additionalProperties": {"type": "array", "items": {
                           "type": "object", "required": ["value", "count", "selected"],
                           "properties": {"count": {"type": "integer"}, "selected": {"type": "boolean"}}}}},
        },
    },
    "RerankResponse": {
        "type": "object", "required": ["rule", "hits"],
        "properties": {
            "rule": {"type": "string"},
            "hits": {"type": "array", "items": {"type": "object", "required": ["id", "rank", "original_rank"]}},
            "dedup": {"type": "object"},
        },
    },
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["type", "message", "status"],
                                 "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                                                "status": {"type": "integer"}, "field": {"type": "string"}}}},
    },
}


def definitions() -> dict[str, Any]:
    """Every definition, the rule file's ($defs rule, match, constraint, ...) included (a copy)."""
    return copy.deepcopy(_definitions())


@lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    """The definitions this module reads (never changed; ``definitions`` gives callers a copy)."""
    return {**rule_file_schema()["$defs"], **DEFS}


@lru_cache(maxsize=None)
def _validator(name: str) -> Any:
    return jsonschema_rs.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                        "$ref": f"#/$defs/{name}", "$defs": _definitions()})


def field_path(path: Any) -> str:
    """('candidates', 3, 'score') -> 'candidates[3].score'."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def errors(name: str, value: Any) -> list[tuple[str, str]]:
    """(field, message) for each way ``value`` breaks definition ``name``, in document order."""
    return sorted(_errors({"$ref": f"#/$defs/{name}"}, value, []), key=lambda fm: fm[0])


def _errors(schema: dict[str, Any], value: Any, prefix: list[Any]) -> list[tuple[str, str]]:
    v = _validator(schema["$ref"].rsplit("/", 1)[1]) if set(schema) == {"$ref"} else _compiled(schema)
    if v.is_valid(value):
        return []
    found = []
    for err in v.iter_errors(value):
        path = prefix + list(err.instance_path)
        kind = type(err.kind).__name__
        message = _short(err.message)
        if kind == "AnyOf":  # explain by the branch of the value's own type ({"id": ...} is an inline rule)
            branches = _at(list(err.schema_path), schema)
            branch = _branch_for(branches, err.instance)
            if branch is not None:
                found += _errors(branch, err.instance, path)
                continue
            message = "must be " + " or ".join(dict.fromkeys(map(_kind_of, branches)))
        if kind == "Required":  # name the missing field itself, not the object that lacks it
            path.append(err.kind.property)
            message = "required, missing"
        if kind == "AdditionalProperties":
            path.append(sorted(err.kind.unexpected)[0])
            message = f"unknown field (allowed: {', '.join(sorted(_at(list(err.schema_path)[:-1], schema).get('properties', {})))})"
        found.append((field_path(path) or "body", message))
    return found


def _short(message: str, limit: int = 200) -> str:
    """A message that quotes the value cut to ``limit`` characters: a 4,100-character ``like``
    is named, not echoed back whole."""
    return message if len(message) <= limit else f"{message[:limit // 2]}...{message[-limit // 2:]}"


def _compiled(schema: dict[str, Any]) -> Any:
    """A validator for a branch of a definition (error path only)."""
    return jsonschema_rs.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                        "$defs": _definitions(), **schema})


def _at(schema_path: list[Any], root: dict[str, Any]) -> Any:
    """The schema node at a validator's schema path, from ``root`` (with the $defs beside it)."""
    node: Any = {"$defs": _definitions(), **root}
    for p in schema_path:
        if isinstance(node, dict) and "$ref" in node and p not in node:
            node = _resolved(node)
        node = node[p]
    return node


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    """The definition a {"$ref": "#/$defs/X"} node points to (the node itself otherwise)."""
    return _at(node["$ref"][2:].split("/"), {}) if "$ref" in node else node


def _kind_of(branch: dict[str, Any]) -> str:
    types = _resolved(branch).get("type", "value")
    return " or ".join(types) if isinstance(types, list) else types


def _branch_for(branches: list[dict[str, Any]], value: Any) -> dict[str, Any] | None:
    """The anyOf branch written for the value's JSON type (object, array, ...), if exactly one is."""
    kind = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")
    fits = []
    for b in branches:
        types = _resolved(b).get("type", [])
        if kind in ([types] if isinstance(types, str) else types):
            fits.append(b)
    return fits[0] if len(fits) == 1 else None


@lru_cache(maxsize=None)
def _int_plan(name: str) -> Any:
    """Where definition ``name`` can hold an integer (``strict_ints.plan``), worked out once."""
    return strict_ints.plan({"$ref": f"#/$defs/{name}"}, _definitions())


def validate(name: str, value: Any, prefix: str = "") -> None:
    """ValueError('<field>: <reason>') for the first error; ``prefix`` places a nested block
    (the proxy's 'ext.rerank'). An integer written as 10.0 or 1e4 is an error too (``strict_ints``)."""
    found = errors(name, value)
    if not found:
        found = [(field_path(p) or "body", f"must be an integer, got {_short(repr(v))}")
                 for p in strict_ints.non_integers(_int_plan(name), value)
                 for v in [_get(value, p)]]
    if found:
        field, message = found[0]
        field = f"{prefix}.{field}" if prefix and field != "body" else (prefix or field)
        raise ValueError(f"{field}: {message}")


def _get(value: Any, path: tuple) -> Any:
    for p in path:
        value = value[p]
    return value
