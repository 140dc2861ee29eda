"""Where a JSON Schema says integer, a JSON number written with a fraction or exponent is refused.

JSON Schema counts 10.0 and 1e4 as integers (their value is whole), and so do both validators the
project uses; Python then hands the code a float (``range(10.0)``, numpy indices and slices fail).
OpenSearch itself refuses ``"size": 10.0``. After a value has passed its schema, ``non_integers``
walks the value beside the schema and returns the path of each float where only an integer is
allowed (``"type": "integer"``, or a type list with "integer" but not "number").
"""
from __future__ import annotations

from typing import Any


def non_integers(schema: dict[str, Any], value: Any, defs: dict[str, Any], path: tuple = ()) -> list[tuple]:
    """Paths (tuples of keys and indices) of floats standing where ``schema`` wants an integer."""
    found: list[tuple] = []
    _walk(schema, value, defs, path, found, 0)
    return found


def _walk(schema: Any, value: Any, defs: dict[str, Any], path: tuple, found: list[tuple], depth: int) -> None:
    if not isinstance(schema, dict) or depth > 64:
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        _walk(defs.get(ref.rsplit("/", 1)[1]), value, defs, path, found, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            _walk(branch, value, defs, path, found, depth + 1)
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
    if isinstance(value, float) and "integer" in kinds and "number" not in kinds and path not in found:
        found.append(path)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                _walk(sub, v, defs, path + (k,), found, depth + 1)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            _walk(schema["items"], v, defs, path + (i,), found, depth + 1)
