"""An experiment's pages and the events on them, read from OpenSearch for the report, in bounded
memory.

Three streams are read in the order of the page id, each through a point in time with
``search_after`` in slices of ``BATCH``: the events since ``since`` (by ``query_id``), the
experiment's decision records (by ``request_id``) and every decision record's id and client (to
tell a genuine page of another experiment, or an unlogged one, from a forgery). They are joined
as they come, like a merge: the report (``report.Tally``) sees each page id once, with its events,
and keeps a few numbers per page; nothing is held per event. The pages are the decision records
naming the experiment (``SIDECAR_DECISION_LOG`` on, every /search of the experiment logged:
``SIDECAR_DECISION_LOG_SAMPLE`` below 1 leaves pages out, and their events count as
``unknown_page``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from opensearchpy.exceptions import NotFoundError

from ..opensearch.decision_log import since_clause
from .report import Tally

PAGE_FIELDS = ["@timestamp", "request_id", "client_id", "experiment", "arm", "from", "ids_after", "teams",
               "constraint_satisfaction", "dedup_collapsed"]
EVENT_FIELDS = ["query_id", "client_id", "action_name", "event_attributes.object.object_id",
                "event_attributes.position.ordinal"]
BATCH = 5000
KEEP_ALIVE = "2m"


def in_order(client: Any, index: str, query: dict[str, Any], key: str, fields: list[str],
             batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """The ``_source`` (``fields``) of every document of ``index`` matching ``query``, in the
    order of the keyword ``key`` (documents sharing a key in index order), read through a point
    in time. Nothing when the index does not exist."""
    if not client.indices.exists(index=index, params={"allow_no_indices": "false"}):  # (its PIT would be refused)
        return
    try:
        pit = client.create_pit(index=index, params={"keep_alive": KEEP_ALIVE})["pit_id"]
    except NotFoundError:
        return
    try:
        after = None
        while True:
            body: dict[str, Any] = {"size": batch, "query": query, "_source": fields, "track_total_hits": False,
                                    "pit": {"id": pit, "keep_alive": KEEP_ALIVE},
                                    "sort": [{key: "asc"}, {"_shard_doc": "asc"}]}
            if after is not None:
                body["search_after"] = after
            hits = client.search(body=body)["hits"]["hits"]
            if not hits:
                return
            for hit in hits:
                yield hit["_source"]
            after = hits[-1]["sort"]
    finally:
        try:
            client.delete_pit(body={"pit_id": [pit]})
        except Exception:  # noqa: BLE001 - it expires by itself (KEEP_ALIVE)
            pass


def read_report(client: Any, prefix: str, events_index: str, name: str, since: str,
                verify: Callable[[Any, Any], bool]) -> dict[str, Any]:
    """The report of experiment ``name`` (``report.Tally``) from what OpenSearch holds since
    ``since``; ``verify(query_id, client_id)``: whether the sidecar issued that page id to that
    client (``identity.PageSigner.verify``)."""
    when = {"range": {"@timestamp": {"gte": since_clause(since)}}}
    events = in_order(client, events_index, {"bool": {"filter": [
        {"range": {"timestamp": {"gte": since_clause(since)}}}, {"exists": {"field": "query_id"}}]}},
        "query_id", EVENT_FIELDS)
    pages = in_order(client, f"{prefix}-*", {"bool": {"filter": [{"term": {"experiment": name}}, when]}},
                     "request_id", PAGE_FIELDS)
    owners = in_order(client, f"{prefix}-*", {"bool": {"filter": [{"exists": {"field": "request_id"}}, when]}},
                      "request_id", ["request_id", "client_id"])
    tally = Tally(name, verify)
    for key, group, page, owner in merge(events, pages, owners):
        tally.add(key, group, page, owner)
    return tally.result()


def merge(events: Iterator[dict[str, Any]], pages: Iterator[dict[str, Any]], owners: Iterator[dict[str, Any]]
          ) -> Iterator[tuple[str, list[dict[str, Any]], dict[str, Any] | None, str | None | bool]]:
    """(page id, its events, the experiment's page or None, the client of any record holding it
    or False) for every page id of the events and of the experiment's pages, in order: three
    sorted streams joined in one pass."""
    event = next(events, None)
    page = next(pages, None)
    owner = next(owners, None)
    while event is not None or page is not None:
        key = min(k for k in (event and event["query_id"], page and page["request_id"]) if k is not None)
        group = []
        while event is not None and event["query_id"] == key:
            group.append(event)
            event = next(events, None)
        mine = None
        if page is not None and page["request_id"] == key:
            mine = page
            page = next(pages, None)
        while owner is not None and owner["request_id"] < key:
            owner = next(owners, None)
        held: str | None | bool = owner.get("client_id") if owner is not None and owner["request_id"] == key else False
        if held is False and mine is not None:  # logged between the two reads
            held = mine.get("client_id")
        yield key, group, mine, held
