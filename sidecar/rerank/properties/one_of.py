"""``values``: the field is one of the values."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from ..batch import Column
from .base import Property


@dataclass(frozen=True)
class OneOf(Property):
    """The field is one of ``values``."""
    values: tuple[Any, ...]
    keys: ClassVar[frozenset[str]] = frozenset({"values"})
    schema: ClassVar[dict[str, dict[str, Any]]] = {
        "values": {"type": "array", "items": {"$ref": "#/$defs/scalar"}, "minItems": 1,
                   "description": "property: field is one of values"}}
    example: ClassVar[dict[str, Any]] = {"field": "condition", "values": ["used"], "min": 0.2}
    by_value: ClassVar[bool] = True

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> OneOf:
        """Raises ValueError unless ``values`` is a non-empty list."""
        if not isinstance(c["values"], list) or not c["values"]:
            raise ValueError(f"{where}: 'values' must be a non-empty list")
        return cls(tuple(c["values"]))

    @classmethod
    def label_of(cls, field: str, c: dict[str, Any]) -> str:
        """``condition in ['used']``."""
        values = c["values"]
        return f"{field} in {list(values) if isinstance(values, list) else values}"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        """Whether each item's field is one of the values."""
        return column.matches(set(self.values))

    @property
    def listed(self) -> tuple[Any, ...]:
        """The values."""
        return self.values
