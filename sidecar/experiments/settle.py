"""Each event judged once, when it is stored, so that the report only counts (``source``).

The events' shipper (``server.spool``) hands every batch here before indexing it. For the batch's
page ids, one search of the decision log (``<prefix>-*``, by ``request_id``) finds the pages; each
event is judged (``report.judge``) and stored with ``settled``: its ``verdict``, and its page's
``experiment``, ``arm`` and ``page_time``. Verdicts:

- ``forged``, ``other_client``, ``not_on_page``: as the report names them;
- ``elsewhere``: a genuine page of no experiment;
- ``pending``: a genuine id (its signature holds for the event's client) whose page is not found
  yet (the decision log writes a moment later, or sampled the page out); ``settle_pending`` (the
  report) judges it again, and one older than ``GRACE_SECONDS`` whose page is still missing
  becomes ``unknown_page``. Only the sidecar mints genuine ids, one a search, so a forger cannot
  make the report judge again more events than it made real searches;
- ``credited`` or ``repeat``: an event on its page, at the position it names. The first event of
  each (page, object, action) is credited: it creates the *credit* of that triple in the credits
  index (``<events index>_credits``; its ``_id`` a hash of the triple), and every later one finds
  the credit there, held by another event, and is a repeat. The credit is an upsert whose script
  leaves a credit held by another event alone, so the index, not this process, decides which event
  came first, across workers and replicas. A batch sent again (the shipper retries until
  OpenSearch answers) finds its own events' credits and credits them again, no more.

Beside each credit, a *marker* per (page, action), created once, makes "pages with at least one
click" a count of documents; a click's credit carries the team of the clicked item on an
interleaved page, for the per-page preference.

Guarantees: an event's verdict does not depend on which worker stores it, nor on how often its
batch is sent; the report's counts over the stored verdicts equal ``report.summarize`` over the
same pages and events (tests/test_experiments_settle.py) but for three edge cases: a repeat of
an event older than the report's window stays a repeat; an event whose signature does not hold
and whose page is not in the decision log yet is ``forged`` for good, where the plain report, run
once the page is logged, says ``other_client`` (refused either way); an event whose page is
logged more than ``GRACE_SECONDS`` after it is ``unknown_page`` for good. Cost: one search a batch, and two
writes per event on a page of an experiment (bench/bench_report.py measures it).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from .identity import shaped
from .report import epoch, judge, object_of, ordinal_of

log = logging.getLogger(__name__)
Verify = Callable[[Any, Any], bool]
PAGE_FIELDS = ["@timestamp", "request_id", "client_id", "experiment", "arm", "from", "ids_after", "teams"]
GRACE_SECONDS = 600.0
CREDIT_SCRIPT = "if (ctx._source.event != params.event) { ctx.op = 'none' }"
TEMPLATE = "ubi-credits-template.json"
LENIENT = {"ignore_unavailable": "true", "allow_no_indices": "true"}  # no index yet: no hit, not an error


def credits_index(events_index: str) -> str:
    return f"{events_index}_credits"


def _key(*parts: Any) -> str:
    return hashlib.blake2b("\x00".join(str(p) for p in parts).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


class Settler:
    """Judges events against the decision log ``prefix`` and keeps the credits beside
    ``events_index``; ``verify(query_id, client_id)``: ``identity.PageSigner.verify``."""

    def __init__(self, prefix: str, events_index: str, verify: Verify):
        self.prefix, self.events_index, self.verify = prefix, events_index, verify
        self.credits = credits_index(events_index)

    def prepare(self, client: Any) -> None:
        """The credits' template, and the ``settled`` fields on an events index made before them."""
        from ..opensearch.client import load_mapping
        from ..opensearch.decision_log import put_template

        put_template(client, TEMPLATE, self.credits, self.credits)
        if client.indices.exists(index=self.events_index):
            settled = load_mapping("ubi-events-template.json")["template"]["mappings"]["properties"]["settled"]
            client.indices.put_mapping(index=self.events_index, body={"properties": {"settled": settled}})

    def pages(self, client: Any, query_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The decision records holding ``query_ids``, by id (none when the log has no index yet)."""
        if not query_ids:
            return {}
        resp = client.search(index=f"{self.prefix}-*", body={
            "size": len(query_ids), "query": {"terms": {"request_id": query_ids}}, "_source": PAGE_FIELDS},
            params=LENIENT)
        return {hit["_source"]["request_id"]: hit["_source"] for hit in resp["hits"]["hits"]}

    def settle(self, client: Any, items: list[tuple[str, dict[str, Any]]], now: float | None = None
               ) -> list[dict[str, Any] | None]:
        """The ``settled`` field of each (event key, event) of ``items`` (None: the event names no
        page). Credits are written here; OpenSearch away raises (the caller sends the batch again
        later, which is safe); a credit or marker it refuses leaves its event ``pending``, judged
        again by the next report. ``now`` (epoch seconds): events older than
        ``GRACE_SECONDS`` whose page is missing are ``unknown_page`` rather than ``pending``."""
        records = self.pages(client, sorted({e.get("query_id") for _, e in items if shaped(e.get("query_id"))}))
        out: list[dict[str, Any] | None] = []
        body: list[dict[str, Any]] = []
        credit_at: list[tuple[int, int]] = []  # (item, number of its credit's action in the bulk)
        marker_at: dict[str, int] = {}  # marker id: the number of its action in the bulk
        needs: list[tuple[int, int]] = []  # (item, number of its marker's action)
        for key, event in items:
            query_id = event.get("query_id")
            if query_id is None:
                out.append(None)
                continue
            record = records.get(query_id)
            owner = record.get("client_id") if record is not None else False
            page = record if record is not None and record.get("experiment") else None
            obj, action = object_of(event), event.get("action_name")
            verdict = judge(self.verify, query_id, event.get("client_id"), owner, page, obj, ordinal_of(event))
            if verdict == "unknown_page" and (now is None or now - epoch(event.get("timestamp")) < GRACE_SECONDS):
                verdict = "pending"
            settled: dict[str, Any] = {"verdict": verdict}
            if record is not None:
                settled.update(experiment=record.get("experiment"), arm=record.get("arm"),
                               page_time=record.get("@timestamp"))
            out.append(settled)
            if verdict != "on_page":
                continue
            what = {"page": query_id, "experiment": record.get("experiment"), "arm": record.get("arm"),
                    "action": action, "page_time": record.get("@timestamp")}
            credit = {**what, "kind": "credit", "event": key}
            if action == "click" and record.get("teams"):
                ids = record.get("ids_after") or []
                credit["team"] = record["teams"][ids.index(obj)] if obj in ids else None
            credit_at.append((len(out) - 1, len(body) // 2))  # two lines an action
            body += [{"update": {"_index": self.credits, "_id": _key(query_id, obj, action), "retry_on_conflict": 5}},
                     {"script": {"source": CREDIT_SCRIPT, "lang": "painless", "params": {"event": key}},
                      "upsert": credit}]
            marker = f"m-{_key(query_id, action)}"
            if marker not in marker_at:
                marker_at[marker] = len(body) // 2
                body += [{"create": {"_index": self.credits, "_id": marker}}, {**what, "kind": "marker"}]
            needs.append((len(out) - 1, marker_at[marker]))
        if not body:
            return out
        results = [result for item in client.bulk(body=body)["items"] for result in item.values()]
        failed = False
        for i, position in credit_at:
            result = results[position]
            out[i]["verdict"] = "repeat" if result.get("result") == "noop" else "credited"  # type: ignore[index]
            if result.get("error"):
                out[i]["verdict"], failed = "pending", True  # type: ignore[index]
        for i, position in needs:
            result = results[position]
            if result.get("error") and result.get("status") != 409:  # 409: another event made it first
                out[i]["verdict"], failed = "pending", True  # type: ignore[index]
        if failed:  # judged again by the next report (its own credit, if it was made, still holds)
            reasons = {str((r.get("error") or {}).get("type")) for r in results if r.get("error") and
                       r.get("status") != 409}
            log.warning("events: credits could not be written (%s); those events wait as pending",
                        ", ".join(sorted(reasons)))
        return out
