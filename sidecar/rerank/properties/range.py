"""``gte`` / ``lte``: the field within bounds, each a number, an ISO date, or ``now``/``now-30d``
(evaluated against the caller's ``now``: the core reads no clock). Both bounds are inclusive; an
item without a number (or date) in the field is outside every range."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

import numpy as np

from ..batch import Column
from .base import Property
from ..dates import bound, parse_bound


@dataclass(frozen=True)
class Range(Property):
    """The field within ``gte``/``lte`` (numbers, ISO dates or ``now-30d``; both ends inclusive)."""
    gte: Any = None
    lte: Any = None
    keys: ClassVar[frozenset[str]] = frozenset({"gte", "lte"})
    schema: ClassVar[dict[str, dict[str, Any]]] = {
        "gte": {"type": ["number", "string"], "description": "property: field >= bound (number, ISO date or now-30d)"},
        "lte": {"type": ["number", "string"], "description": "property: field <= bound"}}
    example: ClassVar[dict[str, Any]] = {"field": "listed_at", "gte": "now-30d", "min": 0.1}

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> Range:
        """Raises ValueError for a bound that is neither a number nor an ISO date / ``now`` expression."""
        for op in ("gte", "lte"):
            if op in c:
                v = c[op]
                if not (isinstance(v, (int, float, str)) and not isinstance(v, bool)):
                    raise ValueError(f"{where}: '{op}' must be a number or an ISO date, got {v!r}")
                if isinstance(v, str):
                    parse_bound(v, where=f"{where}: {op}", now=datetime(2000, 1, 1, tzinfo=timezone.utc))
        return cls(c.get("gte"), c.get("lte"))

    @classmethod
    def label_of(cls, field: str, c: dict[str, Any]) -> str:
        """``listed_at gte now-30d``."""
        return f"{field} " + " ".join(f"{op} {c[op]}" for op in ("gte", "lte") if op in c)

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        """Whether each item's value lies within both bounds (a missing or non-numeric value never does)."""
        x = column.epochs()
        lo = bound(self.gte, now)
        hi = bound(self.lte, now)
        with np.errstate(invalid="ignore"):
            has = ~np.isnan(x)
            if lo is not None:
                has &= x >= lo
            if hi is not None:
                has &= x <= hi
        return has
