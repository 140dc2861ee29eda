"""Request filters: one definition, turned into OpenSearch query DSL or a numpy mask.

    {"brand": "Nike"}                        term
    {"brand": ["Nike", "Puma"]}              terms
    {"price": {"gte": 100, "lte": 500}}      range (numbers, or ISO dates on listed_at)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog import KEYWORD_FIELDS
from ..rerank.properties import to_epoch

RANGE_FIELDS = ("price", "listed_at")
FILTERABLE = (*KEYWORD_FIELDS, *RANGE_FIELDS, "id")
RANGE_OPS = ("gt", "gte", "lt", "lte")


def validate_filters(filters: Any) -> dict[str, Any]:
    """ValueError naming the field, e.g. 'filters.price: unknown range operator'."""
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise ValueError("filters: must be an object of field -> value, list of values, or range")
    for fld, cond in filters.items():
        where = f"filters.{fld}"
        if fld not in FILTERABLE:
            raise ValueError(f"{where}: unknown field (filterable: {', '.join(FILTERABLE)})")
        if isinstance(cond, dict):
            if fld not in RANGE_FIELDS:
                raise ValueError(f"{where}: ranges apply to {', '.join(RANGE_FIELDS)} only")
            bad = sorted(set(cond) - set(RANGE_OPS))
            if bad or not cond:
                raise ValueError(f"{where}: range needs operators among {', '.join(RANGE_OPS)}, got {sorted(cond)}")
            for op, v in cond.items():
                if to_epoch(v) is None:
                    raise ValueError(f"{where}.{op}: must be a number or an ISO date, got {v!r}")
        elif isinstance(cond, list):
            if not cond or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in cond):
                raise ValueError(f"{where}: a list of values must be non-empty strings or numbers")
        elif not isinstance(cond, (str, int, float)) or isinstance(cond, bool):
            raise ValueError(f"{where}: must be a value, a list of values or a range object")
    return filters


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
