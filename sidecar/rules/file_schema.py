"""The rule file's JSON Schema (sidecar/schema/rules.schema.json, with the strategy and property
registries' keys), its compiled yes/no for the happy path, and a merchandiser-readable reason
for each error of a file that failed it."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft7Validator

from ..rerank import properties
from ..rerank.strategies import BASE_ORDER_KEYS, STRATEGIES

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "rules.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The rule file's JSON Schema: the file, with one rule key per base order of the strategy
    registry (after ``normalize``), each the ``order`` parameters, at most one per rule, and each
    constraint property's keys from the property registry (a per-value one with ``max`` only)."""
    s = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    rule = s["$defs"]["rule"]
    props = {}
    for key, spec in rule["properties"].items():
        props[key] = spec
        if key == "normalize":
            props.update({k: {"$ref": "#/$defs/order", "description": STRATEGIES[k].description} for k in BASE_ORDER_KEYS})
    rule["properties"] = props
    rule["not"] = {"anyOf": [{"required": [a, b]} for i, a in enumerate(BASE_ORDER_KEYS) for b in BASE_ORDER_KEYS[i + 1:]]}
    constraint = s["$defs"]["constraint"]
    props = dict(constraint["properties"])
    constraint["properties"] = {"field": props.pop("field"), **properties.schema(), **props}
    constraint["not"] = {"anyOf": [{"required": [k, "min"]} for k in properties.max_only_keys()]}
    # a rule in a file may carry rewrites applied when it serves a query; the rule shape the core
    # parses (and /rerank and overrides take) has no such key: the loader takes them off first
    file_rule = copy.deepcopy(rule)
    file_rule["properties"]["rewrites"] = {"type": "array", "items": {"$ref": "#/$defs/rewrite"},
                                           "description": "rewrites applied after the set's when this rule serves "
                                                          "the query (docs/understanding.md)"}
    s["$defs"]["file_rule"] = file_rule
    s["properties"]["rules"]["items"]["allOf"][0] = {"$ref": "#/$defs/file_rule"}
    return s


@lru_cache(maxsize=1)
def explaining_validator() -> Draft7Validator:
    """Lists every error with its path: used to explain a file that failed the fast check."""
    return Draft7Validator(schema())


@lru_cache(maxsize=1)
def fast_check() -> Any:
    """The same schema compiled in Rust: the happy path's yes/no (10k rules in tens of ms)."""
    return jsonschema_rs.validator_for(schema())


def schema_errors(data: Any) -> list[Any]:
    """Every schema error of ``data``, in path order (none: the compiled check passed, and the
    slow validator is not run)."""
    if fast_check().is_valid(data):
        return []
    return sorted(explaining_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))


def schema_message(err: Any) -> tuple[str, str | None]:
    """A merchandiser-readable reason for one jsonschema error, and the offending key if any."""
    where = "/".join(str(p) for p in err.absolute_path) or "file"
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return f"unknown key {extra[0]!r} in {where} (allowed: {', '.join(allowed)})", extra[0]
    if v == "oneOf" and "min" in json.dumps(err.schema["oneOf"]):
        return f"{where}: exactly one of 'min' or 'max' is required", None
    if v == "not" and isinstance(err.instance, dict):
        per_value = [k for k in properties.max_only_keys() if k in err.instance]
        if per_value and "min" in err.instance:
            return f"{where}: '{per_value[0]}' goes with 'max' only (a minimum per value is not defined)", None
        orders = [k for k in BASE_ORDER_KEYS if k in err.instance]
        if len(orders) > 1:
            return f"{where}: {' and '.join(orders)} both set a base order; keep one", None
    if v in ("exclusiveMinimum", "maximum", "minimum") and err.absolute_path and err.absolute_path[-1] in ("min", "max"):
        return f"{where}: a fraction must be in (0, 1], got {err.instance!r}", None
    if v == "required" and "match" in err.validator_value and "match" not in err.instance:
        return f"{where}: a rule in a file needs 'match' (queries, patterns, categories, filters or default: true); " \
               "without one it never applies", None
    if v == "minProperties" and err.absolute_path and err.absolute_path[-1] == "match":
        return f"{where}: an empty match never applies; give queries, patterns, categories, filters or default: true", None
    if v == "required":
        return f"{where}: {err.message}", None
    if v == "const" and err.absolute_path and err.absolute_path[-1] in ("default", "any"):
        return f"{where}: must be true when given, got {err.instance!r}", None
    return f"{where}: {err.message}", None
