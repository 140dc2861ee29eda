"""Constraint properties: one class per kind of property, each parsed from a constraint mapping,
labelled for explanations, and evaluated on a whole batch column at once (no per-candidate Python).

A new property type is one class here plus its entry in ``PROPERTIES``: ``keys`` names the
constraint keys that select it, ``parse`` validates them, ``evaluate`` returns the per-candidate
answer (a bool array ``has``, or for a per-value property the value codes).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar

import numpy as np

from .batch import Column

_RELATIVE_DATE = re.compile(r"^now(?:-(\d+)([dhw]))?$")


@dataclass(frozen=True)
class Equals:
    """``field: value``: the field equals the value (or, for a list-valued field, contains it)."""

    value: Any
    keys: ClassVar[frozenset[str]] = frozenset({"value"})
    per_value: ClassVar[bool] = False

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> Equals:
        return cls(c["value"])

    def label(self, field: str) -> str:
        return f"{field}={self.value}"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        return column.matches({self.value})


@dataclass(frozen=True)
class OneOf:
    """``field: values``: the field is one of the values."""

    values: tuple[Any, ...]
    keys: ClassVar[frozenset[str]] = frozenset({"values"})
    per_value: ClassVar[bool] = False

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> OneOf:
        if not isinstance(c["values"], list) or not c["values"]:
            raise ValueError(f"{where}: 'values' must be a non-empty list")
        return cls(tuple(c["values"]))

    def label(self, field: str) -> str:
        return f"{field} in {list(self.values)}"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        return column.matches(set(self.values))


@dataclass(frozen=True)
class Range:
    """``gte`` / ``lte``: a number, an ISO date, or ``now``/``now-30d`` (evaluated against the
    caller's ``now``: the core reads no clock)."""

    gte: Any = None
    lte: Any = None
    keys: ClassVar[frozenset[str]] = frozenset({"gte", "lte"})
    per_value: ClassVar[bool] = False

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> Range:
        for op in ("gte", "lte"):
            if op in c:
                v = c[op]
                if not (isinstance(v, (int, float, str)) and not isinstance(v, bool)):
                    raise ValueError(f"{where}: '{op}' must be a number or an ISO date, got {v!r}")
                if isinstance(v, str):
                    parse_bound(v, where=f"{where}: {op}", now=datetime(2000, 1, 1, tzinfo=timezone.utc))
        return cls(c.get("gte"), c.get("lte"))

    def label(self, field: str) -> str:
        return f"{field} " + " ".join(f"{op} {v}" for op, v in (("gte", self.gte), ("lte", self.lte)) if v is not None)

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        x = column.epochs()
        lo = _bound(self.gte, now)
        hi = _bound(self.lte, now)
        with np.errstate(invalid="ignore"):
            has = ~np.isnan(x)
            if lo is not None:
                has &= x >= lo
            if hi is not None:
                has &= x <= hi
        return has


@dataclass(frozen=True)
class PerValue:
    """``any: true``: one agent per distinct value of the field (max only, e.g. no brand above 30%)."""

    keys: ClassVar[frozenset[str]] = frozenset({"any"})
    per_value: ClassVar[bool] = True

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> PerValue:
        if c["any"] is not True:
            raise ValueError(f"{where}: 'any' must be true when given")
        if "min" in c:
            raise ValueError(f"{where}: 'any: true' goes with 'max' only (a minimum per distinct value is not defined)")
        return cls()

    def label(self, field: str) -> str:
        return f"{field}=*"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        """Value codes, -1 where the field is missing (a missing value never counts toward a cap)."""
        return column.codes


PROPERTIES: tuple[type, ...] = (Equals, OneOf, Range, PerValue)


def parse_property(c: dict[str, Any], where: str) -> Equals | OneOf | Range | PerValue:
    """The one property a constraint mapping names; ValueError unless exactly one is given."""
    chosen = [p for p in PROPERTIES if p.keys & c.keys()]
    if len(chosen) != 1:
        raise ValueError(f"{where}: exactly one property is required: 'value', 'values', 'gte'/'lte' or 'any: true'")
    return chosen[0].parse(c, where)


def _bound(value: Any, now: datetime | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_bound(value, where="bound", now=now)
    return float(value)


def parse_bound(text: str, *, where: str, now: datetime | None = None) -> float:
    """An ISO date/datetime, or ``now``/``now-30d`` (d, h, w), as epoch seconds (UTC).

    ``now`` comes from the caller (the request's ``now``, else the service's clock); without one a
    relative bound is an error here, so that the core never reads the clock itself."""
    m = _RELATIVE_DATE.match(text.strip())
    if m:
        if now is None:
            raise ValueError(f"{where}: {text!r} is relative to now, and no 'now' was given")
        base = now
        if m.group(1):
            unit = {"d": "days", "h": "hours", "w": "weeks"}[m.group(2)]
            base = base - timedelta(**{unit: int(m.group(1))})
        return base.timestamp()
    parsed = to_epoch(text)
    if parsed is None:
        raise ValueError(f"{where}: {text!r} is neither a number, an ISO date nor now-<N>d")
    return parsed


def to_epoch(value: Any) -> float | None:
    """Numbers pass through; ISO dates/datetimes become epoch seconds (naive = UTC); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            d = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                d0 = date.fromisoformat(value)
            except ValueError:
                return None
            d = datetime(d0.year, d0.month, d0.day)
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        return d.timestamp()
    return None
