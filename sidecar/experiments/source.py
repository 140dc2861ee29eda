"""An experiment's report from OpenSearch, counted where the data is.

Every event was judged when it was stored (``settle``), so the report reads no event: it asks
OpenSearch for counts. Five searches with aggregations, whatever the number of events:

1. the experiment's pages in the decision log: per arm, their number, constraint satisfaction and
   near-duplicates collapsed, and the span of their times;
2. the same pages over time (a date histogram of about ``points`` buckets), for the running estimate;
3. the events since ``since``: how many were read, and how many of each verdict, as the report
   names them (``report.REASONS``; credited, and ``elsewhere``: on pages of other experiments or
   none);
4. the markers (``settle``): per arm and action, the pages with at least one credited event, and
   the pages with a click over time;
5. interleaving only: each page's credited clicks per team (a composite aggregation, paged), to
   count the pages preferring each side.

Events still ``pending`` (their page was not in the decision log when they were stored, or they
were stored before events were settled) are judged first (``settle_pending``): that is the one
part that reads events, and only those. The figures are ``report.summarize``'s over the same
pages and events (tests/test_experiments_settle.py), the running estimate's points at the ends of
the histogram's buckets. Memory: a few numbers per bucket (an interleaving's composite pages are
counted as they come). The report refreshes the events and credits indices first, so it sees
everything stored before it started.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from opensearchpy.exceptions import NotFoundError

from ..opensearch.decision_log import since_clause
from .report import ACTIONS, REASONS, ab_figures, ab_point, diversity, interleave_figures, preference_point, stamp
from .settle import LENIENT, Settler

BATCH = 1000
KEEP_ALIVE = "2m"


def _search(client: Any, index: str, body: dict[str, Any]) -> dict[str, Any]:
    return client.search(index=index, body=body, params=LENIENT)


def _term(field: str, *values: str) -> dict[str, Any]:
    return {"terms": {field: list(values)}}


def settle_pending(client: Any, settler: Settler, since: str, now: float | None = None) -> int:
    """Judge again the events since ``since`` that wait for their page (or were stored without a
    verdict), through a point in time in slices of ``BATCH``; returns how many were judged."""
    query = {"bool": {"filter": [{"range": {"timestamp": {"gte": since_clause(since)}}},
                                 {"exists": {"field": "query_id"}}],
                      "should": [_term("settled.verdict", "pending"),
                                 {"bool": {"must_not": {"exists": {"field": "settled.verdict"}}}}],
                      "minimum_should_match": 1}}
    index = settler.events_index
    if not client.indices.exists(index=index):
        return 0
    try:
        pit = client.create_pit(index=index, params={"keep_alive": KEEP_ALIVE})["pit_id"]
    except NotFoundError:
        return 0
    judged = 0
    try:
        after = None
        while True:
            body: dict[str, Any] = {"size": BATCH, "query": query, "track_total_hits": False,
                                    "pit": {"id": pit, "keep_alive": KEEP_ALIVE}, "sort": [{"_shard_doc": "asc"}]}
            if after is not None:
                body["search_after"] = after
            hits = client.search(body=body)["hits"]["hits"]
            if not hits:
                break
            after = hits[-1]["sort"]
            settled = settler.settle(client, [(h["_id"], h["_source"]) for h in hits],
                                     now=time.time() if now is None else now)
            updates: list[dict[str, Any]] = []
            for hit, verdict in zip(hits, settled):
                if verdict is not None and verdict != (hit["_source"].get("settled") or None):
                    updates += [{"update": {"_index": hit["_index"], "_id": hit["_id"]}}, {"doc": {"settled": verdict}}]
            if updates:  # a verdict refused stays pending: judged again by the next report
                items = client.bulk(body=updates)["items"]
                judged += sum(1 for item in items if not item["update"].get("error"))
    finally:
        try:
            client.delete_pit(body={"pit_id": [pit]})
        except Exception:  # noqa: BLE001 - it expires by itself (KEEP_ALIVE)
            pass
    if judged:
        client.indices.refresh(index=[index, settler.credits], params=LENIENT)
    return judged


def read_report(client: Any, prefix: str, events_index: str, name: str, since: str,
                verify: Callable[[Any, Any], bool], points: int = 100) -> dict[str, Any]:
    """The report of experiment ``name`` (the shape of ``report.Tally.result``) from what
    OpenSearch holds since ``since``; ``verify(query_id, client_id)``: whether the sidecar issued
    that page id to that client (``identity.PageSigner.verify``). ValueError when the credits
    name more pages of an arm than the decision log holds (some of its pages deleted)."""
    settler = Settler(prefix, events_index, verify)
    client.indices.refresh(index=[events_index, settler.credits], params=LENIENT)
    settle_pending(client, settler, since)
    start = since_clause(since)
    in_window = {"range": {"settled.page_time": {"gte": start}}}

    # 1. the pages, per arm
    pages_query = {"bool": {"filter": [{"term": {"experiment": name}}, {"range": {"@timestamp": {"gte": start}}}]}}
    found = _search(client, f"{prefix}-*", {"size": 0, "track_total_hits": True, "query": pages_query, "aggs": {
        "arms": {"terms": {"field": "arm", "size": 10}, "aggs": {
            "sat": {"stats": {"field": "constraint_satisfaction"}}, "dedup": {"sum": {"field": "dedup_collapsed"}}}},
        "first": {"min": {"field": "@timestamp"}}, "last": {"max": {"field": "@timestamp"}}}})
    first = found.get("aggregations") or {"arms": {"buckets": []}, "first": {"value": None}, "last": {"value": None}}
    arms = {b["key"]: b for b in first["arms"]["buckets"]}
    pages = {arm: arms[arm]["doc_count"] if arm in arms else 0 for arm in ("a", "b", "interleaved")}
    interleaved = "interleaved" in arms
    span = (first["last"]["value"] or 0) - (first["first"]["value"] or 0)
    interval = max(1, math.ceil((span + 1) / points))
    histogram = {"date_histogram": {"field": "@timestamp", "fixed_interval": f"{interval}ms", "min_doc_count": 1}}

    # 2. the pages over time
    over_time = _search(client, f"{prefix}-*", {"size": 0, "query": pages_query, "aggs": {"t": {
        **histogram, "aggs": {"arms": {"terms": {"field": "arm", "size": 10}},
                              "last": {"max": {"field": "@timestamp"}}}}}}).get("aggregations", {"t": {"buckets": []}})
    over_time = over_time["t"]["buckets"]

    # 3. the events, by verdict
    # the experiment's events count on pages the log holds: from its first page in the window on
    # (a decision-log day deleted before the credits, or an earlier experiment of the same name,
    # is not counted against today's pages; its events are unknown_page, as the plain report says)
    held_from = first["first"]["value"]
    since_held = {"gte": start} if held_from is None else {"gte": int(held_from), "format": "epoch_millis"}
    held = {"range": {"settled.page_time": since_held}}
    named, verdict = {"term": {"settled.experiment": name}}, "settled.verdict"
    mine = {"bool": {"filter": [named, held]}}
    on_page = _term(verdict, "credited", "not_on_page", "repeat")
    kinds = {
        "forged": {"bool": {"should": [_term(verdict, "forged"), {"bool": {"filter": [_term(verdict, "other_client")],
                                                                          "must_not": [in_window]}}]}},
        "other_client": {"bool": {"filter": [_term(verdict, "other_client"), in_window]}},
        "unknown_page": {"bool": {"should": [
            _term(verdict, "pending", "unknown_page"),
            {"bool": {"filter": [_term(verdict, "credited", "not_on_page", "repeat", "elsewhere")],
                      "must_not": [in_window]}},
            {"bool": {"filter": [on_page, in_window, named], "must_not": [held]}}]}},
        "credited": {"bool": {"filter": [_term(verdict, "credited"), in_window, mine]}},
        "not_on_page": {"bool": {"filter": [_term(verdict, "not_on_page"), in_window, mine]}},
        "repeat": {"bool": {"filter": [_term(verdict, "repeat"), in_window, mine]}},
        "elsewhere": {"bool": {"filter": [in_window], "should": [
            _term(verdict, "elsewhere"), {"bool": {"filter": [on_page], "must_not": [named]}}],
            "minimum_should_match": 1}},
        "clicks_not_on_page": {"bool": {"filter": [_term(verdict, "not_on_page"), in_window, mine,
                                                   {"term": {"action_name": "click"}}]}},
    }
    events = _search(client, events_index, {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": [
        {"range": {"timestamp": {"gte": start}}}, {"exists": {"field": "query_id"}}]}},
        "aggs": {"kinds": {"filters": {"filters": kinds}}}})
    counted = {k: b["doc_count"] for k, b in events["aggregations"]["kinds"]["buckets"].items()}

    # 4. the pages with at least one credited event of each action
    page_held = {"range": {"page_time": since_held}}
    markers_query = {"bool": {"filter": [{"term": {"kind": "marker"}}, {"term": {"experiment": name}}, page_held]}}
    marks = _search(client, settler.credits, {"size": 0, "query": markers_query, "aggs": {
        "arms": {"terms": {"field": "arm", "size": 10}, "aggs": {"actions": {"terms": {"field": "action",
                                                                                         "size": len(ACTIONS) + 20}}}},
        "clicks": {"filter": {"term": {"action": "click"}}, "aggs": {"t": {
            "date_histogram": {**histogram["date_histogram"], "field": "page_time"},
            "aggs": {"arms": {"terms": {"field": "arm", "size": 10}}}}}}}}).get("aggregations")
    acted: dict[str, dict[str, int]] = {arm: dict.fromkeys(ACTIONS, 0) for arm in ("a", "b", "interleaved")}
    clicks_at: dict[int, dict[str, int]] = {}
    if marks:
        for b in marks["arms"]["buckets"]:
            for a in b["actions"]["buckets"]:
                acted.setdefault(b["key"], {})[a["key"]] = a["doc_count"]
        for b in marks["clicks"]["t"]["buckets"]:
            clicks_at[b["key"]] = {arm["key"]: arm["doc_count"] for arm in b["arms"]["buckets"]}

    for arm, counts in acted.items():
        if any(k > pages.get(arm, 0) for k in counts.values()):
            raise ValueError(f"the credits of experiment {name!r} name more pages of arm {arm} than the decision log "
                             f"holds since {since} ({max(counts.values())} against {pages.get(arm, 0)}): a day of the "
                             "log deleted while the events stayed?")
    div = {}
    for arm in ("a", "b", "interleaved"):
        b = arms.get(arm)
        div[arm] = diversity(b["sat"]["sum"] if b else 0.0, b["sat"]["count"] if b else 0,
                             b["dedup"]["value"] if b else 0.0, pages[arm])
    out: dict[str, Any] = {"experiment": name, "method": "interleave" if interleaved else "ab",
                           "pages": found["hits"]["total"]["value"],
                           "events_read": events["hits"]["total"]["value"], "events_on_pages": counted["credited"],
                           "events_elsewhere": counted["elsewhere"], "refused": {r: counted[r] for r in REASONS}}
    if interleaved:
        wins_at = _preferences(client, settler.credits, name, page_held, interval)
        wins, running, n = {"a": 0, "b": 0}, [], 0
        for b in over_time:
            n += b["doc_count"]
            for side, k in wins_at.get(b["key"], {}).items():
                wins[side] += k
            running.append(preference_point(stamp(b["last"]["value"] / 1000), n, wins))
        clicked = acted["interleaved"]["click"]
        out["interleaving"] = interleave_figures(wins, clicked - wins["a"] - wins["b"], clicked,
                                                 counted["clicks_not_on_page"], div["interleaved"])
        out["running"] = running
    else:
        out["arms"], out["difference"] = ab_figures(pages, acted, div)
        seen, running, n = [[0, 0], [0, 0]], [], 0
        for b in over_time:
            n += b["doc_count"]
            per_arm = {arm["key"]: arm["doc_count"] for arm in b["arms"]["buckets"]}
            for code, arm in enumerate(("a", "b")):
                seen[code][0] += per_arm.get(arm, 0)
                seen[code][1] += clicks_at.get(b["key"], {}).get(arm, 0)
            running.append(ab_point(stamp(b["last"]["value"] / 1000), n, seen))
        out["running"] = running
    return out


def _preferences(client: Any, credits: str, name: str, page_held: dict[str, Any], interval: int
                 ) -> dict[int, dict[str, int]]:
    """The pages preferring each side, by the histogram bucket (``interval`` ms) of their time:
    each interleaved page's credited clicks per team, read as a composite aggregation in slices."""
    query = {"bool": {"filter": [{"term": {"kind": "credit"}}, {"term": {"experiment": name}},
                                 {"term": {"action": "click"}}, _term("team", "a", "b"), page_held]}}
    wins: dict[int, dict[str, int]] = {}
    after = None
    while True:
        composite: dict[str, Any] = {"size": BATCH * 5, "sources": [{"page": {"terms": {"field": "page"}}}]}
        if after is not None:
            composite["after"] = after
        resp = _search(client, credits, {"size": 0, "query": query, "aggs": {"pages": {
            "composite": composite, "aggs": {"a": {"filter": {"term": {"team": "a"}}},
                                             "t": {"min": {"field": "page_time"}}}}}})
        agg = (resp.get("aggregations") or {}).get("pages")
        if not agg or not agg["buckets"]:
            return wins
        for b in agg["buckets"]:
            a = b["a"]["doc_count"]
            rest = b["doc_count"] - a
            if a != rest:
                at = wins.setdefault(int(b["t"]["value"]) // interval * interval, {"a": 0, "b": 0})
                at["a" if a > rest else "b"] += 1
        after = agg.get("after_key")
        if after is None:
            return wins
