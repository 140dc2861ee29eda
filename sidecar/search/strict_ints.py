"""Where a JSON Schema says integer, a JSON number written with a fraction or exponent is refused.

JSON Schema counts 10.0 and 1e4 as integers (their value is whole), and so do both validators the
project uses; Python then hands the code a float (``range(10.0)``, numpy indices and slices fail).
OpenSearch itself refuses ``"size": 10.0``. After a value has passed its schema, ``non_integers``
walks the value beside the schema and returns the path of each float where only an integer is
allowed (``"type": "integer"``, or a type list with "integer" but not "number"). The schema is
read once into a ``plan`` of the parts that can hold an integer; each value walks only those.
"""
from __future__ import annotations

from typing import Any, NamedTuple


def plan(schema: dict[str, Any], defs: dict[str, Any]) -> _Plan | None:
    """What of ``schema`` can hold an integer, worked out once (None: nothing can); the caller
    keeps it for every value checked against that schema."""
    return _plan(schema, defs, {})


def non_integers(schema_plan: _Plan | None, value: Any, path: tuple = ()) -> list[tuple]:
    """Paths (tuples of keys and indices) of floats standing where the planned schema wants an
    integer. Only the parts of a schema that can hold an integer are walked (a vector of numbers
    or free-form fields are not): a /rerank body of 1,000 candidates with 384-d vectors costs one
    look at each candidate's id."""
    found: list[tuple] = []
    _walk(schema_plan, value, path, found, 0)
    return found


class _Plan(NamedTuple):
    """What of one schema node can hold an integer: the node itself (``int_only``), the schemas it
    points to or branches into, its properties that can, its additional properties, its items."""

    int_only: bool
    branches: tuple[_Plan, ...]
    props: tuple[tuple[str, _Plan], ...]
    extra: _Plan | None
    items: _Plan | None


def _plan(schema: Any, defs: dict[str, Any], plans: dict[int, _Plan | None], depth: int = 0) -> _Plan | None:
    """The node's plan, or None when nothing under it can hold an integer (memoised per call)."""
    if not isinstance(schema, dict) or depth > 64:
        return None
    key = id(schema)
    if key in plans:
        return plans[key]
    plans[key] = None  # a recursive schema: nothing, while it is being looked at
    ref = schema.get("$ref")
    targets = [defs.get(ref.rsplit("/", 1)[1])] if isinstance(ref, str) and ref.startswith("#/$defs/") else []
    targets += [*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())]
    branches = tuple(b for b in (_plan(t, defs, plans, depth + 1) for t in targets) if b is not None)
    props = tuple((k, sub) for k, sub in ((k, _plan(v, defs, plans, depth + 1))
                                          for k, v in schema.get("properties", {}).items()) if sub is not None)
    extra = _plan(schema.get("additionalProperties"), defs, plans, depth + 1)
    items = _plan(schema.get("items"), defs, plans, depth + 1)
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
    int_only = "integer" in kinds and "number" not in kinds
    plan = _Plan(int_only, branches, props, extra, items) if (int_only or branches or props or extra or items) else None
    plans[key] = plan
    return plan


def _walk(plan: _Plan | None, value: Any, path: tuple, found: list[tuple], depth: int) -> None:
    if plan is None or depth > 64:
        return
    if plan.int_only and isinstance(value, float) and path not in found:
        found.append(path)
    for branch in plan.branches:
        _walk(branch, value, path, found, depth + 1)
    if isinstance(value, dict):
        if plan.extra is not None:
            named = dict(plan.props)
            for k, v in value.items():
                _walk(named.get(k, plan.extra), v, path + (k,), found, depth + 1)
        else:
            for k, sub in plan.props:
                if k in value:
                    _walk(sub, value[k], path + (k,), found, depth + 1)
    elif isinstance(value, list) and plan.items is not None:
        for i, v in enumerate(value):
            _walk(plan.items, v, path + (i,), found, depth + 1)
