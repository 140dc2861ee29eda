"""``value``: the field equals the value (or, for a list-valued field, contains it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from ..batch import Column
from .base import Property


@dataclass(frozen=True)
class Equals(Property):
    """The field equals ``value`` exactly (a list field: one of its items does)."""
    value: Any
    keys: ClassVar[frozenset[str]] = frozenset({"value"})
    schema: ClassVar[dict[str, dict[str, Any]]] = {
        "value": {"$ref": "#/$defs/scalar", "description": "property: field equals value"}}
    example: ClassVar[dict[str, Any]] = {"field": "brand", "value": "A", "max": 0.5}
    by_value: ClassVar[bool] = True

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> Equals:
        """Any scalar ``value`` (the schema checks its type)."""
        return cls(c["value"])

    @classmethod
    def label_of(cls, field: str, c: dict[str, Any]) -> str:
        """``brand=A``."""
        return f"{field}={c['value']}"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        """Whether each item's field equals the value."""
        return column.matches({self.value})

    @property
    def listed(self) -> tuple[Any, ...]:
        """The one value."""
        return (self.value,)
