"""Constraint properties: one file per kind, registered here. Each parses its keys of a
constraint mapping, labels itself for explanations and evaluates a whole batch column at once
(no per-candidate Python); ``base.Property`` says what a property provides.

Adding one is its file plus its class in ``REGISTERED``: the constraint keys, the rule file's
schema, the parse error that lists the properties, the labels and the warm-up all follow.
"""
from __future__ import annotations

from typing import Any

from .bands import Bands
from .base import Property
from .equals import Equals
from .one_of import OneOf
from .per_value import PerValue
from .range import Range

REGISTERED: tuple[type[Property], ...] = (Equals, OneOf, Range, PerValue, Bands)
KEYS = frozenset().union(*(p.keys for p in REGISTERED))  # the constraint keys that name a property


def _named(keys: frozenset[str]) -> str:
    return "/".join(f"'{k}'" for k in sorted(keys))


def chosen(c: dict[str, Any], where: str) -> type[Property]:
    """The one property class a constraint mapping names; ValueError unless exactly one is."""
    found = [p for p in REGISTERED if p.keys & c.keys()]
    if len(found) != 1:
        raise ValueError(f"{where}: exactly one property is required: "
                         f"{', '.join(_named(p.keys) for p in REGISTERED)}")
    return found[0]


def parse_property(c: dict[str, Any], where: str) -> Property:
    """The constraint's property, parsed; a per-value property goes with ``max`` only."""
    cls = chosen(c, where)
    if cls.per_value and "min" in c:
        raise ValueError(f"{where}: {_named(cls.keys)} goes with 'max' only (a minimum per value is not defined)")
    return cls.parse(c, where)


def label_of(c: dict[str, Any]) -> str:
    """A constraint's property as explanations show it, from the mapping (before parsing)."""
    fld = c.get("field", "?")
    found = [p for p in REGISTERED if p.keys & c.keys()]  # several (an error to report): the first
    if not found:
        return f"{fld} ?"
    try:
        return found[0].label_of(fld, c)
    except (KeyError, TypeError):
        return f"{fld} ?"


def schema() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every property key (the rule file's ``constraint`` is built from it)."""
    return {k: spec for p in REGISTERED for k, spec in p.schema.items()}


def max_only_keys() -> list[str]:
    """The keys of per-value properties (they go with ``max`` only)."""
    return sorted(k for p in REGISTERED if p.per_value for k in p.keys)


__all__ = ["KEYS", "REGISTERED", "Bands", "Equals", "OneOf", "PerValue", "Property", "Range", "chosen", "label_of",
           "parse_property", "schema"]
