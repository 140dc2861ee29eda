"""Facets: the counts a results page shows beside its hits (brands, price bands, months listed).

A request asks for them by field (``/search``'s ``facets``):

    {"brand": {"size": 10}}                                      terms: the top values by count
    {"price": {"ranges": [[0, 500], [500, 1500], [1500, null]]}}  ranges: [from, to), null open
    {"listed_at": {"interval": "month"}}                          a calendar histogram (UTC)

The OpenSearch backend asks for them with the first retrieval window, in one round trip: over BM25
matches as a search of no hits of its own beside the hits' search in the same msearch (OpenSearch
runs them side by side), over a kNN window as aggregations of that search; the memory backend
counts the same (tests compare the two). Counts are over the **match set** of the search, the
same set ``total`` counts, not over the reranked page: a BM25 or hybrid search's match set is every
product that matches the text (one of its terms) and the filters; a kNN search's is its window
(the k nearest that pass the filters: kNN has no "matches" beyond them).

Facets are **multi-select**, as every shop's are: a facet counts over the match set of the other
facets' selections but not its own (OpenSearch's post_filter pattern: a filter on a faceted field
narrows the hits, the total and the other facets, each facet an aggregation under the filters of
the other faceted fields). So with Nike selected the brand facet still lists Puma with the count
a click on it would add, and Nike's count equals ``total``. Limit: a kNN search's facets count its
window, which was retrieved under every filter, so they are not multi-select.

Each facet comes back as a list of buckets ``{"value", "count", "selected"}`` (ranges also carry
``from`` and ``to``; a date bucket's value is its first day, ``YYYY-MM-DD``), in OpenSearch's order:
terms by count then value, ranges as asked, dates ascending. ``selected`` says the request's
filters hold that value (terms: case-blind, as filters match; ranges: a range filter with exactly
those bounds).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ..catalog import KEYWORD_FIELDS
from ..rerank.dates import to_epoch
from .filters import RANGE_FIELDS, fold

INTERVALS = ("day", "week", "month", "quarter", "year")
DATE_FIELDS = ("listed_at",)
MAX_FACETS = 20  # facets of one search; the proxy's bound on aggregations too (server.policy.MAX_AGGS)
MAX_RANGES = 20


def check(spec: Mapping[str, Any], max_buckets: int) -> None:
    """What the schema cannot say: bounds. ValueError names the field ('facets.brand.size: ...')."""
    if len(spec) > MAX_FACETS:
        raise ValueError(f"facets: {len(spec)} facets; at most {MAX_FACETS}")
    for fld, f in spec.items():
        if "size" in f and f["size"] > max_buckets:
            raise ValueError(f"facets.{fld}.size: {f['size']} is over {max_buckets} (SIDECAR_PROXY_MAX_BUCKETS)")
        if "ranges" in f and len(f["ranges"]) > MAX_RANGES:
            raise ValueError(f"facets.{fld}.ranges: at most {MAX_RANGES} ranges")
        for i, (lo, hi) in enumerate(f.get("ranges", ())):
            for bound in (lo, hi):
                if bound is not None and to_epoch(bound) is None:
                    raise ValueError(f"facets.{fld}.ranges[{i}]: {bound!r} is not a number or an ISO date")
            if lo is not None and hi is not None and to_epoch(lo) >= to_epoch(hi):
                raise ValueError(f"facets.{fld}.ranges[{i}]: [{lo!r}, {hi!r}) is empty: its start must be below its end")
        if "interval" in f and fld not in DATE_FIELDS:
            raise ValueError(f"facets.{fld}.interval: only on a date field ({', '.join(DATE_FIELDS)})")


def to_aggs(spec: Mapping[str, Any], others: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """OpenSearch aggregations, one per facet, named by its field; ``others`` (multi-select):
    per facet, the filter clauses of the other faceted fields, under which it counts."""
    aggs: dict[str, Any] = {}
    for fld, agg in _plain_aggs(spec).items():
        clauses = (others or {}).get(fld)
        aggs[fld] = {"filter": {"bool": {"filter": clauses}}, "aggs": {fld: agg}} if clauses else agg
    return aggs


def _plain_aggs(spec: Mapping[str, Any]) -> dict[str, Any]:
    aggs: dict[str, Any] = {}
    for fld, f in spec.items():
        if "ranges" in f:
            kind = "date_range" if fld in DATE_FIELDS else "range"
            ranges = [{"key": str(i), **{k: v for k, v in (("from", lo), ("to", hi)) if v is not None}}
                      for i, (lo, hi) in enumerate(f["ranges"])]  # keyed by position: OpenSearch sorts them
            aggs[fld] = {kind: {"field": fld, "ranges": ranges}}
        elif "interval" in f:
            aggs[fld] = {"date_histogram": {"field": fld, "calendar_interval": f["interval"], "min_doc_count": 1,
                                            "format": "yyyy-MM-dd", "time_zone": "UTC"}}
        else:
            aggs[fld] = {"terms": {"field": fld, "size": f.get("size", 10)}}
    return aggs


def from_aggs(spec: Mapping[str, Any], aggs: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """OpenSearch's aggregation results as facets (without ``selected``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for fld, f in spec.items():
        agg = aggs.get(fld) or {}
        if fld in agg:  # under a filter of the other facets' selections (``to_aggs``)
            agg = agg[fld]
        buckets = agg.get("buckets", [])
        if "ranges" in f:
            by_key = {b.get("key"): b.get("doc_count", 0) for b in buckets}
            out[fld] = [_range_bucket(lo, hi, by_key.get(str(i), 0)) for i, (lo, hi) in enumerate(f["ranges"])]
        elif "interval" in f:
            out[fld] = [{"value": b.get("key_as_string"), "count": b["doc_count"]} for b in buckets]
        else:
            out[fld] = [{"value": b["key"], "count": b["doc_count"]} for b in buckets]
    return out


def split(spec: Mapping[str, Any], filters: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the filters on fields that are not faceted, the filters on faceted fields): the first
    narrow everything, the second the hits and the other facets (multi-select)."""
    return ({k: v for k, v in filters.items() if k not in spec}, {k: v for k, v in filters.items() if k in spec})


def count(spec: Mapping[str, Any], docs_of: Callable[[str], Iterable[Mapping[str, Any]]]
          ) -> dict[str, list[dict[str, Any]]]:
    """The same facets counted over products in memory (the memory backend); ``docs_of(field)``:
    the products that facet counts over."""
    out: dict[str, list[dict[str, Any]]] = {}
    for fld, f in spec.items():
        values = [v for d in docs_of(fld) for v in _values(d.get(fld))]
        if "ranges" in f:
            epochs = [to_epoch(v) for v in values]
            out[fld] = []
            for lo, hi in f["ranges"]:
                a, b = to_epoch(lo) if lo is not None else None, to_epoch(hi) if hi is not None else None
                n = sum(1 for e in epochs if e is not None and (a is None or e >= a) and (b is None or e < b))
                out[fld].append(_range_bucket(lo, hi, n))
        elif "interval" in f:
            starts = Counter(_bucket_start(to_epoch(v), f["interval"]) for v in values if to_epoch(v) is not None)
            out[fld] = [{"value": k, "count": n} for k, n in sorted(starts.items())]
        else:
            counts = Counter(values)
            top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[: f.get("size", 10)]
            out[fld] = [{"value": k, "count": n} for k, n in top]
    return out


def mark_selected(facets: dict[str, list[dict[str, Any]]], filters: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each bucket with ``selected``: the request's filters hold its value."""
    for fld, buckets in facets.items():
        cond = filters.get(fld)
        values = cond if isinstance(cond, list) else [] if cond is None or isinstance(cond, dict) else [cond]
        wanted = {fold(w) for w in values}  # a term or terms filter's values, folded as filters match
        for b in buckets:
            if cond is None:
                b["selected"] = False
            elif "from" in b or "to" in b:
                b["selected"] = isinstance(cond, dict) and _range_filter(cond) == (b.get("from"), b.get("to"))
            elif isinstance(cond, dict):
                b["selected"] = False
            else:
                b["selected"] = fold(b["value"]) in wanted
    return facets


def _range_filter(cond: Mapping[str, Any]) -> tuple[Any, Any]:
    """A range filter's bounds in a facet range's terms ([from, to)); only gte/lt compare."""
    if set(cond) - {"gte", "lt"}:
        return (object(), object())
    return cond.get("gte"), cond.get("lt")


def _range_bucket(lo: Any, hi: Any, n: int) -> dict[str, Any]:
    return {"value": [lo, hi], "from": lo, "to": hi, "count": n}


def _values(v: Any) -> list[Any]:
    if v is None:
        return []
    return [x for x in v if x is not None] if isinstance(v, list) else [v]


def _bucket_start(epoch: float, interval: str) -> str:
    """The first day of the calendar bucket holding ``epoch`` (UTC), as OpenSearch's
    date_histogram keys it (weeks start on Monday)."""
    d = datetime.fromtimestamp(epoch, timezone.utc).date()
    if interval == "week":
        d -= timedelta(days=d.weekday())
    elif interval == "month":
        d = d.replace(day=1)
    elif interval == "quarter":
        d = d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
    elif interval == "year":
        d = d.replace(month=1, day=1)
    return d.isoformat()


def schema() -> dict[str, Any]:
    """The request's ``facets`` as JSON Schema (contract.py)."""
    terms = {"type": "object", "additionalProperties": False,
             "properties": {"size": {"type": "integer", "minimum": 1, "default": 10}}}
    bound = {"type": ["number", "string", "null"]}
    ranges = {"type": "array", "minItems": 1, "items": {"type": "array", "prefixItems": [bound, bound],
                                                         "minItems": 2, "maxItems": 2}}
    ranged = {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
              "properties": {"ranges": ranges, "interval": {"enum": list(INTERVALS)}}}
    return {"type": "object", "additionalProperties": False,
            "description": "counts beside the hits, over the matches (not the page): terms {size}, "
                           "ranges {ranges: [[from, to), ...]}, or on listed_at a calendar {interval}",
            "properties": {**{f: terms for f in KEYWORD_FIELDS}, **{f: ranged for f in RANGE_FIELDS}}}
