"""POST /events: shoppers' actions on a page (click, add_to_cart, purchase) in the shape of
OpenSearch User Behavior Insights, written to the events index by the bounded writer.

The events name the page by ``query_id``, the ``request_id`` /search returned; the decision log
holds that page (and its experiment arm), so the report joins the two. An event whose query id
no decision record holds is kept all the same: the report counts those as unknown. A request
never waits for OpenSearch: the answer is 202 once the events are queued, and the writer counts
what it wrote, dropped or sent without an answer (/metrics: sidecar_events_*).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, jsonify

from ...contract import validate
from ...rules.experiments import parse_time
from ..errors import ApiError, invalid
from ..jsonio import json_body
from ..openapi import EXAMPLES, _json, _ref, documented
from ..services import services

bp = Blueprint("events", __name__)


@bp.post("/events")
@documented("POST", summary="Record shoppers' actions on search pages (UBI events)",
            ok=_json({"type": "object", "properties": {"accepted": {"type": "integer"}}}),
            body=_json(_ref("EventsRequest"), EXAMPLES["EventsRequest"]), errors=("400", "503"))
def events():
    s = services()
    if s.events is None:
        raise ApiError(503, "events_off", "events are not recorded here: they need the opensearch backend and "
                                          "SIDECAR_EVENTS=on")
    body = json_body()
    try:
        validate("EventsRequest", body)
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        records = []
        for i, event in enumerate(body["events"]):
            if "timestamp" in event:
                try:
                    stamp = parse_time(event["timestamp"]).isoformat(timespec="milliseconds")
                except ValueError:
                    raise ValueError(f"events[{i}].timestamp: {event['timestamp']!r} is not an ISO 8601 time") from None
            else:
                stamp = now
            records.append({**event, "timestamp": stamp})
    except ValueError as exc:
        raise invalid(exc) from None
    for record in records:
        s.events.submit(record)
    return jsonify({"accepted": len(records)}), 202
