"""Request filters: one definition, turned into OpenSearch query DSL or a numpy mask.

    {"brand": "Nike"}                        term
    {"brand": ["Nike", "Puma"]}              terms
    {"price": {"gte": 100, "lte": 500}}      range (numbers, or ISO dates on listed_at)

Keyword values match case- and width-blind: ``nike``, ``NIKE`` and ``ｎｉｋｅ`` all find Nike.
The products mapping gives each keyword field a ``folded`` sub-field (normalizer: width folding
then lower case); filters go to it with the value folded the same way here (``fold``). An index
written before the sub-field existed is searched case-sensitively, as before, until re-indexed.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..rerank.named import fold  # the one definition, also for the named values of a query
from ..rerank.dates import to_epoch

RANGE_FIELDS = ("price", "listed_at")
RANGE_OPS = ("gt", "gte", "lt", "lte")
FOLDED = "folded"  # the keyword sub-field with the normalizer (mappings/products.json)


def validate_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    """The range bounds that must parse as numbers or ISO dates, a lower bound not above the
    upper; the shape (which fields, term, terms or range) is checked before, by ``contract``'s
    ``Filters``. ValueError names the bound, e.g. 'filters.listed_at.gte: ...'."""
    for fld, cond in (filters or {}).items():
        for op, v in (cond.items() if isinstance(cond, dict) else ()):
            if to_epoch(v) is None:
                raise ValueError(f"filters.{fld}.{op}: must be a number or an ISO date, got {v!r}")
        if isinstance(cond, dict):
            low = max((to_epoch(cond[k]) for k in ("gt", "gte") if k in cond), default=None)
            high = min((to_epoch(cond[k]) for k in ("lt", "lte") if k in cond), default=None)
            if low is not None and high is not None and (low > high or (low == high and ("gt" in cond or "lt" in cond))):
                raise ValueError(f"filters.{fld}: the range {cond} holds nothing: its lower bound is above its upper")
    return filters or {}


def to_dsl(filters: dict[str, Any], folded: bool = True) -> list[dict[str, Any]]:
    """OpenSearch filter clauses; values go in as values, never spliced into strings. ``folded``:
    the index has the keyword fields' ``folded`` sub-fields (False: an older index)."""
    clauses: list[dict[str, Any]] = []
    for fld, cond in filters.items():
        keyword = fld not in RANGE_FIELDS and fld != "id"
        target = "_id" if fld == "id" else (f"{fld}.{FOLDED}" if keyword and folded else fld)
        value = (lambda v: fold(v)) if keyword and folded else (lambda v: v)
        if isinstance(cond, dict):
            clauses.append({"range": {target: dict(cond)}})
        elif isinstance(cond, list):
            clauses.append({"terms": {target: [value(v) for v in cond]}})
        else:
            clauses.append({"term": {target: value(cond)}})
    return clauses


def mask(columns: dict[str, np.ndarray], filters: dict[str, Any], n: int) -> np.ndarray:
    """The same semantics over in-memory columns (keyword columns: object arrays of ``fold``ed
    values; range columns: float arrays of numbers or epoch seconds, NaN when missing)."""
    keep = np.ones(n, dtype=bool)
    for fld, cond in filters.items():
        col = columns[fld]
        if isinstance(cond, dict):
            for op, bound in cond.items():
                b = to_epoch(bound)
                with np.errstate(invalid="ignore"):
                    keep &= {"gt": col > b, "gte": col >= b, "lt": col < b, "lte": col <= b}[op]
        elif isinstance(cond, list):
            keep &= np.isin(col, [fold(v) for v in cond])
        else:
            keep &= col == fold(cond)
    return keep
