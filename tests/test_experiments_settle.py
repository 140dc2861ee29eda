"""Events judged as they are stored (``experiments.settle``) and the report counted in OpenSearch
(``experiments.source``), against the plain report over the same pages and events in memory
(``report.summarize``): generated traffic of every kind, on a real OpenSearch."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

import pytest

from sidecar.experiments.identity import PageSigner
from sidecar.experiments.report import ACTIONS, summarize
from sidecar.experiments.settle import Settler, credits_index
from sidecar.experiments.source import read_report
from sidecar.opensearch.decision_log import put_template

pytestmark = pytest.mark.opensearch
PREFIX, EVENTS = "test-settle-log", "test-settle-events"
SECRET = "settle-test-key-5d1e9b3a7c2f40e8b6a9d3c1f7e2a4b8"


@pytest.fixture
def indices(os_client):
    def clean():
        os_client.indices.delete(index=[EVENTS, credits_index(EVENTS), f"{PREFIX}-*"], ignore_unavailable=True)
    clean()
    put_template(os_client, "decision-log-template.json", f"{PREFIX}-*", PREFIX)
    put_template(os_client, "ubi-events-template.json", EVENTS, EVENTS)
    yield
    clean()
    for name in (PREFIX, EVENTS, credits_index(EVENTS)):
        os_client.indices.delete_index_template(name=name, ignore=[404])


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def traffic(seed: int, method: str):
    """Pages of experiment "e" (and of another experiment, and of none) and events of every kind
    on them: credited, repeated, off the page, at a wrong position, on another client's page,
    made up, on a page never logged (old: unknown; recent: pending)."""
    rng = random.Random(seed)
    signer = PageSigner(SECRET)
    now = datetime.now(timezone.utc)
    pages = []
    for i in range(60):
        client = f"shopper-{i % 25}"
        ids = [f"item-{rng.randrange(30)}" for _ in range(6)]
        ids = list(dict.fromkeys(ids))
        experiment, arm = ("e", method == "ab" and "ab"[i % 2] or "interleaved") if i % 6 else \
            (("other", "a") if i % 12 else (None, None))
        page = {"@timestamp": _stamp(now - timedelta(minutes=120 - i)), "request_id": signer.mint(client),
                "client_id": client, "from": 0, "ids_after": ids, "constraint_satisfaction": rng.choice((0.5, 1.0)),
                "dedup_collapsed": rng.randrange(3), "endpoint": "search", "status": 200, "outcome": "ok"}
        if experiment:
            page.update(experiment=experiment, arm=arm)
        if arm == "interleaved":
            page["teams"] = [rng.choice(("a", "b", "both")) for _ in ids]
        pages.append(page)
    events = []
    for _ in range(700):
        page = rng.choice(pages)
        client, qid, ids = page["client_id"], page["request_id"], page["ids_after"]
        k = rng.randrange(len(ids))
        obj, ordinal = ids[k], k + 1
        kind = rng.random()
        if kind < 0.08:
            qid = f"{rng.getrandbits(64):016x}.{rng.getrandbits(128):032x}"  # made up
        elif kind < 0.14:
            client = "forger"  # another client's page
        elif kind < 0.2:
            obj = "item-999"  # not on the page
        elif kind < 0.24:
            ordinal = ordinal % len(ids) + 1 if len(ids) > 1 else ordinal + 1  # a wrong position
        elif kind < 0.3:
            qid = signer.mint(client)  # genuine, never logged
        event = {"action_name": rng.choice(("click", "click", "add_to_cart", "purchase", "share")),
                 "query_id": qid, "client_id": client,
                 "timestamp": _stamp(now - timedelta(minutes=rng.choice((1, 30)))),
                 "event_attributes": {"object": {"object_id": obj}, "position": {"ordinal": ordinal}}}
        if rng.random() < 0.3:
            del event["event_attributes"]["position"]
        events.append(event)
    return pages, events, signer


def _store(os_client, settler, keyed, resend=False):
    settled = settler.settle(os_client, keyed, now=time.time())
    if resend:  # the shipper sends a batch again when OpenSearch did not answer: nothing changes
        assert settler.settle(os_client, keyed, now=time.time()) == settled
    body = []
    for (key, event), verdict in zip(keyed, settled):
        body += [{"index": {"_index": EVENTS, "_id": key}}, {**event, **({"settled": verdict} if verdict else {})}]
    assert not os_client.bulk(body=body, refresh="true")["errors"]
    return settled


def _on_pages(event, pages):
    return any(event["query_id"] == p["request_id"] for p in pages)


def _comparable(out):
    running = out.pop("running")
    last = dict(running[-1])
    last.pop("t")
    return out, last


@pytest.mark.parametrize("seed, method", [(1, "ab"), (2, "ab"), (3, "interleave")])
def test_the_counted_report_is_the_plain_one(os_client, indices, seed, method):
    pages, events, signer = traffic(seed, method)
    settler = Settler(PREFIX, EVENTS, signer.verify)
    settler.prepare(os_client)
    early, late = pages[:10], pages[10:]  # the first pages' events arrive before their records
    keyed = [(f"t-{i}", e) for i, e in enumerate(events)]
    early_ids = {p["request_id"] for p in early}
    before = [k for k in keyed if k[1]["query_id"] in early_ids]
    for _, event in before:  # shipped as they happen, a moment before the decision log wrote their pages
        event["timestamp"] = _stamp(datetime.now(timezone.utc) - timedelta(seconds=30))
    after = [k for k in keyed if k[1]["query_id"] not in early_ids]
    day = f"{PREFIX}-{datetime.now(timezone.utc):%Y.%m.%d}"
    body = []
    for p in late:
        body += [{"index": {"_index": day}}, p]
    assert not os_client.bulk(body=body, refresh="true")["errors"]
    verdicts = _store(os_client, settler, before)
    assert {v["verdict"] for v in verdicts} <= {"pending", "forged"}
    # another client's event on a page not logged yet is forged for good (the plain report, run
    # after the page is logged, says other_client): told apart here, compared below as forged
    other = sum(1 for _, e in before if e["client_id"] == "forger" and _on_pages(e, early))
    assert other > 0 and sum(v["verdict"] == "forged" for v in verdicts) >= other
    body = []  # events stored by a sidecar before events were judged: no verdict
    for key, event in after[:50]:
        body += [{"index": {"_index": EVENTS, "_id": key}}, event]
    assert not os_client.bulk(body=body, refresh="true")["errors"]
    for start in range(50, len(after), 100):
        _store(os_client, settler, after[start:start + 100], resend=start % 200 == 50)
    body = []
    for p in early:
        body += [{"index": {"_index": day}}, p]
    assert not os_client.bulk(body=body, refresh="true")["errors"]

    got = read_report(os_client, PREFIX, EVENTS, "e", "1d", signer.verify)
    want = summarize("e", pages, events, signer.verify)
    want["refused"]["forged"] += other
    want["refused"]["other_client"] -= other
    assert got["method"] == ("interleave" if method == "interleave" else "ab")
    assert _comparable(dict(got)) == _comparable(want)
    refused = got["refused"]
    assert min(refused.values()) > 0 and got["events_on_pages"] > 0 and got["events_elsewhere"] > 0, got
    # the report judged the early pages' events (pending when stored) and stored what it found
    stored = os_client.search(index=EVENTS, body={"size": 0, "aggs": {"v": {"terms": {"field": "settled.verdict"}}}})
    kinds = {b["key"] for b in stored["aggregations"]["v"]["buckets"]}
    assert "pending" in kinds  # the never-logged pages' recent events wait for their page
    assert read_report(os_client, PREFIX, EVENTS, "e", "1d", signer.verify) == got


def test_a_page_logged_too_late_makes_its_events_unknown_after_the_grace(os_client, indices):
    pages, events, signer = traffic(4, "ab")
    settler = Settler(PREFIX, EVENTS, signer.verify)
    settler.prepare(os_client)
    genuine = {**events[0], "query_id": signer.mint(events[0]["client_id"])}
    (soon,) = settler.settle(os_client, [("k", genuine)], now=time.time())
    (late,) = settler.settle(os_client, [("k", genuine)], now=time.time() + 3600)
    assert soon["verdict"] == "pending" and late["verdict"] == "unknown_page"


def test_credits_refused_leave_their_events_pending_until_a_report_judges_them(os_client, indices):
    """OpenSearch on a full disk blocks writes to an index (the flood-stage watermark's
    read-only block): the events are still stored, their credits wait, nothing is lost or
    miscounted, and the next report after the block is lifted credits them."""
    pages, events, signer = traffic(5, "ab")
    settler = Settler(PREFIX, EVENTS, signer.verify)
    settler.prepare(os_client)
    day = f"{PREFIX}-{datetime.now(timezone.utc):%Y.%m.%d}"
    body = []
    for p in pages:
        body += [{"index": {"_index": day}}, p]
    assert not os_client.bulk(body=body, refresh="true")["errors"]
    keyed = [(f"t-{i}", e) for i, e in enumerate(events)]
    _store(os_client, settler, keyed[:100])
    os_client.indices.put_settings(index=credits_index(EVENTS), body={"index.blocks.read_only_allow_delete": True})
    try:
        blocked = _store(os_client, settler, keyed[100:])
    finally:
        os_client.indices.put_settings(index=credits_index(EVENTS), body={"index.blocks.read_only_allow_delete": None})
    verdicts = {v["verdict"] for v in blocked if v}
    assert "pending" in verdicts and not verdicts & {"credited", "repeat"}
    got = read_report(os_client, PREFIX, EVENTS, "e", "1d", signer.verify)
    assert _comparable(got) == _comparable(summarize("e", pages, events, signer.verify))


def test_an_events_index_made_before_verdicts_gains_their_fields(os_client, indices):
    """A strict events index an older sidecar made (no ``settled``) would leave the verdicts
    unsearchable: the shipper's first batch puts their fields on it."""
    from sidecar.opensearch.client import load_mapping

    body = load_mapping("ubi-events-template.json")["template"]
    del body["mappings"]["properties"]["settled"]
    os_client.indices.create(index=EVENTS, body=body)
    Settler(PREFIX, EVENTS, PageSigner(SECRET).verify).prepare(os_client)
    props = os_client.indices.get_mapping(index=EVENTS)[EVENTS]["mappings"]["properties"]
    assert props["settled"]["properties"]["verdict"] == {"type": "keyword"}


def test_credits_of_pages_the_log_no_longer_holds_do_not_count(os_client, indices):
    """The decision log's days deleted (retention) while the credits stay, or an earlier
    experiment of the same name: today's report counts today's pages, and never more pages with
    a click than pages (its rates stay rates)."""
    day = f"{PREFIX}-{datetime.now(timezone.utc):%Y.%m.%d}"
    old_pages, old_events, signer = traffic(1, "ab")
    settler = Settler(PREFIX, EVENTS, signer.verify)
    settler.prepare(os_client)

    def log(pages):
        body = []
        for p in pages:
            body += [{"index": {"_index": day}}, p]
        assert not os_client.bulk(body=body, refresh="true")["errors"]
    log(old_pages)
    _store(os_client, settler, [(f"old-{i}", e) for i, e in enumerate(old_events)])
    os_client.indices.delete(index=f"{PREFIX}-*")
    pages, events, _ = traffic(6, "ab")
    for p in pages:  # an hour later than the old pages
        when = datetime.fromisoformat(p["@timestamp"].replace("Z", "+00:00")) + timedelta(minutes=60)
        p["@timestamp"] = _stamp(when)
    log(pages)
    _store(os_client, settler, [(f"new-{i}", e) for i, e in enumerate(events)])
    got = read_report(os_client, PREFIX, EVENTS, "e", "1d", signer.verify)
    want = summarize("e", pages, events + old_events, signer.verify)
    assert (got["arms"], got["difference"], got["events_on_pages"]) == \
        (want["arms"], want["difference"], want["events_on_pages"])
    assert all(got["arms"][arm][a]["pages_with"] <= got["arms"][arm]["pages"] for arm in "ab" for a in ACTIONS)
    # pages deleted from the middle of the log while their credits stay: one clear error, no rate above 1
    clicked = [p["request_id"] for p in pages[20:] if p.get("experiment") == "e"]
    os_client.delete_by_query(index=f"{PREFIX}-*", body={"query": {"terms": {"request_id": clicked}}},
                              params={"refresh": "true"})
    with pytest.raises(ValueError, match="than the decision log holds since 1d"):
        read_report(os_client, PREFIX, EVENTS, "e", "1d", signer.verify)
