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
    value: Any
    keys: ClassVar[frozenset[str]] = frozenset({"value"})
    schema: ClassVar[dict[str, dict[str, Any]]] = {
        "value": {"$ref": "#/$defs/scalar", "description": "property: field equals value"}}
    example: ClassVar[dict[str, Any]] = {"field": "brand", "value": "A", "max": 0.5}
    by_value: ClassVar[bool] = True

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> Equals:
        return cls(c["value"])

    @classmethod
    def label_of(cls, field: str, c: dict[str, Any]) -> str:
        return f"{field}={c['value']}"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        return column.matches({self.value})

    @property
    def listed(self) -> tuple[Any, ...]:
        return (self.value,)
