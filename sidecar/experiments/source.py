"""An experiment's pages and the events on them, read from OpenSearch for the report.

The pages are the decision records naming the experiment (``SIDECAR_DECISION_LOG`` on, every
/search of the experiment logged: ``SIDECAR_DECISION_LOG_SAMPLE`` below 1 drops pages and
their events with them); the events are those of the events index since the same time. Events
whose query id no decision record holds at all are counted as ``unknown``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opensearchpy import helpers

from ..preview.sources import since_clause

PAGE_FIELDS = ["@timestamp", "request_id", "experiment", "arm", "ids_after", "teams", "constraint_satisfaction",
               "dedup_collapsed"]


def pages(client: Any, prefix: str, name: str, since: str) -> list[dict[str, Any]]:
    query = {"bool": {"filter": [{"term": {"experiment": name}}, {"range": {"@timestamp": {"gte": since_clause(since)}}}]}}
    return [h["_source"] for h in helpers.scan(client, index=f"{prefix}-*", query={"query": query}, _source=PAGE_FIELDS,
                                               ignore_unavailable=True, size=1000)]


def events(client: Any, index: str, since: str) -> Iterator[dict[str, Any]]:
    query = {"range": {"timestamp": {"gte": since_clause(since)}}}
    for h in helpers.scan(client, index=index, query={"query": query}, ignore_unavailable=True, size=1000):
        yield h["_source"]


def unknown(client: Any, prefix: str, query_ids: set[str]) -> set[str]:
    """Those of ``query_ids`` no decision record holds (looked up 1,000 at a time)."""
    ids, found = sorted(query_ids), set()
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        resp = client.search(index=f"{prefix}-*", body={"size": len(chunk), "_source": ["request_id"],
                                                          "query": {"terms": {"request_id": chunk}}},
                             params={"ignore_unavailable": "true"})
        found |= {h["_source"]["request_id"] for h in resp["hits"]["hits"]}
    return query_ids - found


def read_report(client: Any, prefix: str, events_index: str, name: str, since: str) -> dict[str, Any]:
    """The report of experiment ``name`` (``report.summarize``) from what OpenSearch holds since
    ``since``, with the events whose query id no decision record holds counted."""
    from .report import summarize

    found = pages(client, prefix, name, since)
    read = list(events(client, events_index, since))
    out = summarize(name, found, read)
    elsewhere = {e.get("query_id") for e in read} - {p["request_id"] for p in found} - {None}
    missing = unknown(client, prefix, elsewhere) if elsewhere else set()
    out["events_unknown_query"] = sum(1 for e in read if e.get("query_id") in missing)
    return out
