"""``bands: [500, 1000, 2000]``: one agent per numeric band of the field (max only: no price band
above half the page). The edges cut the line into len(edges) + 1 bands, each closed below and
open above: with the edges above, 499.99 is in the first band, 500 in the second and 2000 in
the last. An item without a number in the field is in no band (it never counts toward a cap)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from ..batch import Column
from .base import Property


@dataclass(frozen=True)
class Bands(Property):
    """Per numeric band of the field (max only): each item's band between increasing edges, so that
    no band holds more than its share of the page."""
    edges: tuple[float, ...]
    keys: ClassVar[frozenset[str]] = frozenset({"bands"})
    schema: ClassVar[dict[str, dict[str, Any]]] = {
        "bands": {"type": "array", "items": {"type": "number"}, "minItems": 1,
                  "description": "per numeric band of the field, cut at these increasing edges (max only)"}}
    example: ClassVar[dict[str, Any]] = {"field": "price", "bands": [3, 6], "max": 0.5}
    per_value: ClassVar[bool] = True

    @classmethod
    def parse(cls, c: dict[str, Any], where: str) -> Bands:
        """Raises ValueError unless ``bands`` is a non-empty, strictly increasing list of finite numbers."""
        edges = c["bands"]
        if not isinstance(edges, list) or not edges or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in edges):
            raise ValueError(f"{where}: 'bands' must be a non-empty list of finite numbers")
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"{where}: 'bands' must increase strictly, got {edges}")
        return cls(tuple(float(x) for x in edges))

    @classmethod
    def label_of(cls, field: str, c: dict[str, Any]) -> str:
        """``price bands [3, 6]``."""
        return f"{field} bands {c['bands']}"

    def evaluate(self, column: Column, now: datetime | None) -> np.ndarray:
        """The band of each item (0 below the first edge), -1 without a number."""
        x = column.epochs()
        band = np.searchsorted(np.asarray(self.edges), x, side="right").astype(np.int64)
        return np.where(np.isnan(x), -1, band)

    def n_values(self, column: Column) -> int:
        """The bands: one more than the edges."""
        return len(self.edges) + 1
