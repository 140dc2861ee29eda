"""POST /events: shoppers' actions on a page (click, add_to_cart, purchase) in the shape of
OpenSearch User Behavior Insights, kept in this worker's spool and shipped to the events index.

The events name the page by ``query_id``, the signed ``request_id`` /search returned, and the
shopper by ``client_id``; the report credits an event only when that id was issued to that client
for a page the decision log holds, with the object on it (``experiments.report``). The door:

- a token bucket per client address (``SIDECAR_EVENTS_PER_CLIENT`` events a second, bursts of
  ten times that and at least one whole request of 1,000, per worker): past it a 429 with
  ``Retry-After``, so one client's flood leaves other clients' events their room;
- the shapes OpenSearch would refuse later are 400s now, naming the field: keys starting with
  ``_`` (``_id``, ``_index``, ``_source``, ``_routing`` are its own), a UTC offset beyond ±18:00,
  a time more than 30 days old or 10 minutes ahead; ``settled``, the verdict the sidecar stores
  with each event (``experiments.settle``), is not the client's to send;
- a 202 means stored: the events are in the spool (``server.spool``) before it is sent, and a
  full spool or a run dir that takes no writes is a 503, never a silent drop.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, jsonify, request

from ...search.contract import validate
from ...rules.experiments import parse_time
from ..errors import ApiError, invalid
from ..jsonio import json_body
from ..documented import EXAMPLES, documented, json_content, ref
from ..services import services
from ..spool import SpoolFull

bp = Blueprint("events", __name__)
MAX_AGE = timedelta(days=30)
MAX_AHEAD = timedelta(minutes=10)
MAX_OFFSET = timedelta(hours=18)  # what OpenSearch's date parser takes


def client_address() -> str:
    """Who is sending: the peer's address, or behind a trusted front proxy
    (SIDECAR_TRUSTED_PROXIES) the address it saw (the last of X-Forwarded-For)."""
    peer = request.remote_addr or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if peer in services().trusted_proxies and forwarded.strip():
        return forwarded.split(",")[-1].strip()[:64]
    return peer


def checked(events: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The records to keep (each with its timestamp), or ValueError naming the first field at fault."""
    records = []
    for i, event in enumerate(events):
        _no_reserved_keys(event, f"events[{i}]")
        if "settled" in event:
            raise ValueError(f"events[{i}].settled: the sidecar's own verdict on the event (experiments.settle), "
                             "set when it stores the event; not sent")
        if "timestamp" in event:
            try:
                when = parse_time(event["timestamp"])
            except ValueError:
                raise ValueError(f"events[{i}].timestamp: {event['timestamp']!r} is not an ISO 8601 time") from None
            offset = when.utcoffset()
            if offset is not None and abs(offset) > MAX_OFFSET:
                raise ValueError(f"events[{i}].timestamp: a UTC offset of at most ±18:00 (OpenSearch's bound)")
            try:
                in_window = now - MAX_AGE <= when <= now + MAX_AHEAD
            except OverflowError:  # year 1 or 9999 with an offset: no time of the window
                in_window = False
            if not in_window:
                raise ValueError(f"events[{i}].timestamp: {event['timestamp']!r} is more than 30 days ago or more "
                                 "than 10 minutes ahead")
            stamp = when.isoformat(timespec="milliseconds")
        else:
            stamp = now.isoformat(timespec="milliseconds")
        records.append({**event, "timestamp": stamp})
    return records


def _no_reserved_keys(node: Any, at: str) -> None:
    stack = [(at, node)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, inner in value.items():
                if key.startswith("_"):
                    raise ValueError(f"{where}.{key}: keys starting with _ are OpenSearch's own (_id, _index, "
                                     "_source, _routing) and are refused")
                stack.append((f"{where}.{key}", inner))
        elif isinstance(value, list):
            stack.extend((where, v) for v in value)


@bp.post("/events")
@documented("POST", summary="Record shoppers' actions on search pages (UBI events); 202 once they are stored",
            ok=json_content({"type": "object", "properties": {"accepted": {"type": "integer"}}}), ok_status="202",
            body=json_content(ref("EventsRequest"), EXAMPLES["EventsRequest"]), errors=("400", "429", "503"))
def events():
    s = services()
    if s.events is None:
        raise ApiError(503, "events_off", s.events_problem or "events are not recorded here: they need the "
                                                             "opensearch backend and SIDECAR_EVENTS=on")
    body = json_body()
    try:
        validate("EventsRequest", body)
        records = checked(body["events"], datetime.now(timezone.utc))
    except ValueError as exc:
        s.metrics.events_refused.labels("invalid").inc()
        raise invalid(exc) from None
    wait = s.event_buckets.take(client_address(), len(records))
    if wait:
        s.metrics.events_refused.labels("rate").inc(len(records))
        resp, status = jsonify({"error": {"type": "too_many_events", "status": 429, "message":
                                          f"more than {s.config.events_per_client:g} events a second from this "
                                          "client (SIDECAR_EVENTS_PER_CLIENT); retry later"}}), 429
        resp.headers["Retry-After"] = str(max(1, int(min(60.0, wait)) + 1))
        return resp, status
    try:
        s.events.append(records)
    except SpoolFull as exc:
        s.metrics.events_refused.labels("spool_full").inc(len(records))
        resp, status = jsonify({"error": {"type": "events_not_stored", "status": 503, "message":
                                          f"the events were not stored: {exc}; retry later"}}), 503
        resp.headers["Retry-After"] = "5"
        return resp, status
    return jsonify({"accepted": len(records)}), 202
