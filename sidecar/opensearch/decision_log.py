"""Decision records, and the background writer that ships them (and shoppers' events) to OpenSearch.

A record says what the sidecar decided for one request: the rule, the page before and after
reranking, each constraint's share of the page before and after and whether it held, how many
items moved, near-duplicates collapsed, timings and the outcome. Requests never wait for the
writer: records go into a bounded queue; on overflow or OpenSearch errors they are dropped,
counted and logged, and writing resumes by itself when OpenSearch is back; a bulk that got no
answer (a timeout, a connection cut after sending) is counted ``unknown``: OpenSearch may have
indexed it. Only what surely never arrived is ``dropped``. ``close`` flushes
within a deadline (called at exit, e.g. when gunicorn stops a worker with SIGTERM). The events
of POST /events are not shipped from here but from a spool on disk (``server.spool``): a 202
there means stored, where a decision record is best effort.
"""
from __future__ import annotations

import json
import logging
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from opensearchpy.exceptions import ConnectionError as OSConnectionError

from .connection import nothing_sent
from ..logs import first_line
from ..search.outcome import Decision
from ..rerank.shares import measure
from ..rules.normalize import normalize_query

_SINCE = re.compile(r"^(\d+)([mhdw])$")
log = logging.getLogger(__name__)
INDEX_PREFIX = "sidecar-decisions"  # the default of SIDECAR_DECISION_LOG_INDEX


def index_for(ts: datetime, prefix: str = INDEX_PREFIX) -> str:
    return f"{prefix}-{ts:%Y.%m.%d}"


def build_record(d: Decision, request_id: str, status: int = 200, rules_version: str | None = None) -> dict[str, Any]:
    """One record of a decision. A constraint on an empty page neither held nor failed:
    ``held`` is null there, and the page does not count in ``constraint_satisfaction``.
    ``rules_version``: the hash of the rule set that decided (``/version``, ``rules check``)."""
    now = datetime.now(timezone.utc)
    ids = d.pool.ids if d.pool is not None else []
    row = {doc_id: k for k, doc_id in enumerate(ids)}
    before = ids[d.frm:d.frm + d.size]
    after = [h["id"] for h in d.placed]
    page_before = [{"id": i, "fields": d.pool.sources[row[i]]} for i in before]  # no pool: no ids, no rows
    page_after = [{"id": i, "fields": d.pool.sources[row[i]]} for i in after if i in row]
    constraints = []
    for con in (d.rule.constraints if d.rule else ()):
        share_before, held_before = measure(con, page_before)
        share_after, held_after = measure(con, page_after)
        constraints.append({"label": con.label, "field": con.field, "kind": con.kind, "fraction": con.fraction,
                            "share_before": round(share_before, 4), "share_after": round(share_after, 4),
                            "held_before": held_before if page_before else None,
                            "held": held_after if page_after else None})
    judged = [c for c in constraints if c["held"] is not None]
    held = sum(c["held"] for c in judged)
    return {
        "@timestamp": now.isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "client_id": d.client_id,
        "endpoint": d.endpoint,
        "index": d.index,
        "query": normalize_query(d.query) if d.query else None,
        "filters": json.dumps(d.filters, sort_keys=True, separators=(",", ":")) if d.filters else None,
        "understood_text": d.understood["text"] if d.understood else None,  # what the query became
        "rewrites": (d.understood or {}).get("rewrites", []) + (d.understood or {}).get("boosts", []),
        "rule": d.rule.id if d.rule else "none",
        "rule_match": d.how,
        "mode": d.mode,
        "window": d.window,
        "from": d.frm,
        "size": d.size,
        "candidates": len(ids),
        "page_size": len(after),
        "ids_before": before,
        "ids_after": after,
        "moved": sum(1 for h in d.placed if h.get("rank") != h.get("original_rank")),
        "constraints": constraints,
        "constraints_total": len(judged),
        "constraints_held": held,
        "constraint_satisfaction": round(held / len(judged), 4) if judged else None,
        "dedup_groups": (d.dedup or {}).get("groups"),
        "dedup_collapsed": len((d.dedup or {}).get("collapsed", [])),
        "retrieval_ms": d.retrieval_ms,
        "rerank_ms": d.rerank_ms,
        "total_ms": d.total_ms,
        "backend_took_ms": d.took_ms,
        "outcome": "ok" if status < 400 else "error",
        "status": status,
        "rules_version": rules_version,
        "experiment": d.experiment["name"] if d.experiment else None,
        "arm": d.experiment["arm"] if d.experiment else None,
        "teams": d.teams,
    }


def error_record(*, endpoint: str, request_id: str, status: int, query: str | None = None,
                 index: str | None = None, total_ms: float | None = None, error_type: str | None = None,
                 rules_version: str | None = None) -> dict[str, Any]:
    """A request that failed: what is known of it, its status and its error's type
    (``invalid_request``, ``policy_refused``, ``backend_timeout``, ...)."""
    return {"@timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "request_id": request_id,
            "endpoint": endpoint, "index": index, "query": normalize_query(query) if isinstance(query, str) else None,
            "rule": None, "total_ms": total_ms, "outcome": "error", "status": status, "error_type": error_type,
            "rules_version": rules_version}


def put_template(client: Any, template: str, pattern: str, name: str) -> None:
    """The index template ``template`` of mappings/ over ``pattern``, put as ``name``."""
    from .client import load_mapping

    body = load_mapping(template)
    body["index_patterns"] = [pattern]
    client.indices.put_index_template(name=name, body=body)


def added_fields() -> dict[str, Any]:
    """The template's fields added after its first version, as a put-mapping body."""
    from .client import load_mapping

    props = load_mapping("decision-log-template.json")["template"]["mappings"]["properties"]
    return {"properties": {k: props[k] for k in ("understood_text", "rewrites")}}


class DecisionLogWriter:
    """Bounded queue + one background thread doing bulk writes to ``<prefix>-YYYY.MM.DD``; never
    blocks a request."""

    def __init__(self, client_factory: Callable[[], Any], *, prefix: str = INDEX_PREFIX, sample: float = 1.0,
                 queue_size: int = 10000, batch_size: int = 500, flush_interval: float = 1.0,
                 on_drop: Callable[[str, int], None] | None = None, on_write: Callable[[int], None] | None = None,
                 on_unknown: Callable[[int], None] | None = None):
        self._client_factory = client_factory
        self._client: Any = None
        self.prefix = prefix
        self.name = "decision log"
        self.sample = sample
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self._on_drop = on_drop or (lambda reason, n: None)
        self._on_write = on_write or (lambda n: None)
        self._on_unknown = on_unknown or (lambda n: None)
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._template_ok = False
        self.dropped: dict[str, int] = {"overflow": 0, "backend": 0}
        self.written = 0
        self.unknown = 0  # sent, but no answer in time: OpenSearch may have indexed them or not
        self._last_warning = 0.0
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)

    def start(self) -> DecisionLogWriter:
        """Start the writing thread (records submitted before wait in the queue); idempotent."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    def submit(self, record: dict[str, Any]) -> None:
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        try:
            self._queue.put_nowait(record)
            self._idle.clear()
        except queue.Full:
            self._drop("overflow", 1)

    def _drop(self, reason: str, n: int) -> None:
        self.dropped[reason] += n
        self._on_drop(reason, n)
        now = time.monotonic()
        if now - self._last_warning > 10:  # at most one warning per 10 s, with the running totals
            self._last_warning = now
            log.warning("%s: dropped %d record(s) (%s); totals %s", self.name, n, reason, self.dropped)

    def _ensure_template(self, client: Any) -> None:
        if self._template_ok:
            return
        # one template per prefix, named by it; versions before 0.2 named it "sidecar-decisions-<prefix>",
        # and two templates over one pattern are refused, so that one goes
        client.indices.delete_index_template(name=f"{INDEX_PREFIX}-{self.prefix}", ignore=[404])
        put_template(client, "decision-log-template.json", f"{self.prefix}-*", self.prefix)
        try:  # fields added since an existing day's index was made: it takes them too (strict mapping)
            client.indices.put_mapping(index=f"{self.prefix}-*", body=added_fields(), allow_no_indices=True)
        except Exception as exc:  # noqa: BLE001 - that day's records with the new fields are refused, counted
            log.warning("%s: existing indices keep their mapping: %s", self.name, first_line(exc))
        self._template_ok = True

    def _write(self, batch: list[dict[str, Any]]) -> None:
        lines = []
        for rec in batch:
            # an id of its own: a bulk the client resends to another node overwrites, never doubles
            index = index_for(datetime.fromisoformat(rec["@timestamp"]), self.prefix)
            lines.append(json.dumps({"index": {"_index": index, "_id": uuid.uuid4().hex}}))
            lines.append(json.dumps(rec))
        try:
            if self._client is None:
                self._client = self._client_factory()
            self._ensure_template(self._client)
        except Exception as exc:  # noqa: BLE001 - no template, no bulk: nothing of the batch was sent
            self._drop("backend", len(batch))
            log.warning("%s write failed: %s", self.name, first_line(exc))
            raise
        try:
            resp = self._client.bulk(body="\n".join(lines) + "\n")
        except OSConnectionError as exc:
            if nothing_sent(exc):  # refused or no connection: nothing was sent
                self._drop("backend", len(batch))
                log.warning("%s write failed: OpenSearch is unreachable", self.name)
                raise
            # sent, then no answer (a timeout, a connection cut): OpenSearch may have indexed them
            self.unknown += len(batch)
            self._on_unknown(len(batch))
            log.warning("%s: no answer to a bulk of %d record(s) (%s); counted as unknown", self.name, len(batch),
                        type(exc.info).__name__)
            raise
        except Exception as exc:  # noqa: BLE001 - refused by OpenSearch (an error status): nothing indexed
            self._drop("backend", len(batch))
            log.warning("%s write failed: %s", self.name, first_line(exc))
            raise
        failed = sum(1 for item in resp.get("items", []) if item.get("index", {}).get("error"))
        if failed:
            self._drop("backend", failed)
        self.written += len(batch) - failed
        self._on_write(len(batch) - failed)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set() or not self._queue.empty():
            batch: list[dict[str, Any]] = []
            try:
                batch.append(self._queue.get(timeout=self.flush_interval))
                while len(batch) < self.batch_size:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            if not batch:
                self._idle.set()
                continue
            try:
                self._write(batch)
                backoff = 0.5
            except Exception:  # noqa: BLE001
                if self._stop.is_set():
                    continue
                self._stop.wait(backoff)  # OpenSearch away: wait a little before the next batch
                backoff = min(backoff * 2, 10.0)
            if self._queue.empty():
                self._idle.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was written or dropped (not started: no wait)."""
        if self._thread.ident is None:
            return self._queue.empty()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and self._idle.wait(0.05):
                return True
        return False

    def close(self, deadline: float = 5.0) -> None:
        """Flush within ``deadline`` seconds, then stop; what is left is dropped and counted."""
        self.flush(deadline)
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=max(0.1, deadline / 5))
        left = self._queue.qsize()
        if left:
            self._drop("overflow", left)


def since_clause(since: str) -> str:
    """A window back from now as OpenSearch date math, for queries over the decision log and the
    events: '7d' -> 'now-7d' (m, h, d, w); ValueError otherwise."""
    if not _SINCE.match(since):
        raise ValueError(f"--since: expected a number and m, h, d or w (7d, 12h), got {since!r}")
    return f"now-{since}"
