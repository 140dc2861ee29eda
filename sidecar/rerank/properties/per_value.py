"""``any: true``: one agent per distinct value of the field (max only: no brand above 30%)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from ..batch import Column
from .base import Property


@dataclass(frozen=True)
class PerValue(Property):
    """Per distinct value of the field (``any: true``, max only): no single value above the share."""
    keys: ClassVar[frozenset[str]] = frozenset({"any"})
    schema: ClassVar[dict[str, dict[str, Any]]] = {
        "any": {"const": True, "description": "per distinct value of the field (max only)"}}
    example: ClassVar[dict[str, Any]] = {"field": "brand", "any": True, "max": 0.3}
    per_value: ClassVar[bool] = True
    by_value: ClassVar[bool] = True

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> PerValue:
        """Raises ValueError unless ``any`` is true."""
        if c["any"] is not True:
            raise ValueError(f"{where}: 'any' must be true when given")
        return cls()

    @classmethod
    def label_of(cls, field: str, c: dict[str, Any]) -> str:
        """``brand=*``."""
        return f"{field}=*"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        """Value codes, -1 where the field is missing (a missing value never counts toward a cap)."""
        return column.codes
