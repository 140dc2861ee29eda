"""Request filters: one definition, turned into OpenSearch query DSL or a numpy mask.

    {"brand": "Nike"}                        term
    {"brand": ["Nike", "Puma"]}              terms
    {"price": {"gte": 100, "lte": 500}}      range (numbers, or ISO dates on listed_at)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..rerank.properties import to_epoch

RANGE_FIELDS = ("price", "listed_at")
RANGE_OPS = ("gt", "gte", "lt", "lte")


def validate_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    """The range bounds that must parse as numbers or ISO dates; the shape (which fields, term,
    terms or range) is checked before, by ``contract``'s ``Filters``. ValueError names the bound,
    e.g. 'filters.listed_at.gte: ...'."""
    for fld, cond in (filters or {}).items():
        for op, v in (cond.items() if isinstance(cond, dict) else ()):
            if to_epoch(v) is None:
                raise ValueError(f"filters.{fld}.{op}: must be a number or an ISO date, got {v!r}")
    return filters or {}


def to_dsl(filters: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenSearch filter clauses; values go in as values, never spliced into strings."""
    clauses: list[dict[str, Any]] = []
    for fld, cond in filters.items():
        target = "_id" if fld == "id" else fld
        if isinstance(cond, dict):
            clauses.append({"range": {target: dict(cond)}})
        elif isinstance(cond, list):
            clauses.append({"terms": {target: list(cond)}})
        else:
            clauses.append({"term": {target: cond}})
    return clauses


def mask(columns: dict[str, np.ndarray], filters: dict[str, Any], n: int) -> np.ndarray:
    """The same semantics over in-memory columns (keyword columns: object arrays; range columns:
    float arrays of numbers or epoch seconds, NaN when missing)."""
    keep = np.ones(n, dtype=bool)
    for fld, cond in filters.items():
        col = columns[fld]
        if isinstance(cond, dict):
            for op, bound in cond.items():
                b = to_epoch(bound)
                with np.errstate(invalid="ignore"):
                    keep &= {"gt": col > b, "gte": col >= b, "lt": col < b, "lte": col <= b}[op]
        elif isinstance(cond, list):
            keep &= np.isin(col, cond)
        else:
            keep &= col == cond
    return keep
