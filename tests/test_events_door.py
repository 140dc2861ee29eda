"""Issue 37 without OpenSearch: signed page ids, keyed assignment, the token buckets, the door of
POST /events (what OpenSearch would refuse is a 400 now), a client's X-Request-Id kept apart
from the page's identity, and an event's verdict as the sidecar's own. The spool against a real
server and OpenSearch: tests/test_zz_events.py."""
from __future__ import annotations

import socket

import pytest

from conftest import ROOT
from sidecar.config import Config
from sidecar.experiments import assign
from sidecar.experiments.identity import PageSigner
from sidecar.server import create_app
from sidecar.server.ratelimit import TokenBuckets

SECRET = "door-test-key-3c9a5e71b02d48f6a1e7c30b9d2f4a85"


def test_a_page_id_verifies_only_for_its_client_and_key():
    signer = PageSigner(SECRET)
    qid = signer.mint("shopper-1")
    assert signer.verify(qid, "shopper-1")
    assert not signer.verify(qid, "shopper-2") and not signer.verify(qid, None)
    assert not PageSigner(SECRET[::-1]).verify(qid, "shopper-1")  # another deployment's key
    page, _, sig = qid.partition(".")
    assert not signer.verify(f"{page}.{'0' * len(sig)}", "shopper-1")
    assert not signer.verify(f"{page[::-1]}.{sig}", "shopper-1")
    for junk in ("", "x", None, 42, qid + "0", qid.replace(".", "-")):
        assert not signer.verify(junk, "shopper-1")
    anonymous = signer.mint(None)
    assert signer.verify(anonymous, None) and signer.verify(anonymous, "")
    assert len({signer.mint("c") for _ in range(1000)}) == 1000


def test_weak_secrets_are_refused():
    for weak in ("short", "changeme", "a" * 40, "ab" * 20):
        with pytest.raises(ValueError, match="SIDECAR_SECRET"):
            Config.load(environ={"SIDECAR_SECRET": weak})
    assert Config.load(environ={"SIDECAR_SECRET": SECRET}).secret == SECRET


def test_assignment_is_keyed():
    ids = [f"client-{i}" for i in range(4000)]
    key = SECRET.encode()
    keyed = [assign.arm("e", i, 0.5, key) for i in ids]
    assert keyed == [assign.arm("e", i, 0.5, key) for i in ids]  # every replica with the key agrees
    unkeyed = [assign.arm("e", i, 0.5) for i in ids]
    agree = sum(a == b for a, b in zip(keyed, unkeyed)) / len(ids)
    assert 0.3 < agree < 0.45, agree  # without the key, a guess of the arm is no better than chance (3/8)
    assert abs(sum(a is not None for a in keyed) / len(ids) - 0.5) < 0.05


def test_token_buckets_bound_each_client_alone():
    now = [0.0]
    buckets = TokenBuckets(rate=10, burst=100, max_clients=3, clock=lambda: now[0])
    assert buckets.take("a", 100) == 0.0
    assert buckets.take("a", 1) == pytest.approx(0.1)  # empty: a tenth of a second for one more
    assert buckets.take("b", 60) == 0.0  # another client: untouched by a's flood
    now[0] += 2.0
    assert buckets.take("a", 20) == 0.0 and buckets.take("a", 1) > 0
    assert buckets.take("a", 101) == float("inf")  # more than a burst never passes
    for client in ("c", "d", "e"):  # a fourth client forgets the least recent one
        buckets.take(client, 1)
    assert len(buckets._buckets) == 3 and "a" not in buckets._buckets


@pytest.fixture(scope="module")
def client():
    """An app whose OpenSearch is away: POST /events keeps what it accepts in its spool."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = create_app(Config.load(environ={}, backend="opensearch", opensearch_url=dead, index="products",
                                 encoder="off", rules=str(ROOT / "query_rules"), rules_poll_seconds=0, secret=SECRET,
                                 events_per_client=20))
    yield app.test_client()
    app.extensions["sidecar"].events.close(0.2)


def event(**kw):
    return {"action_name": "click", "query_id": "q", "event_attributes": {"object": {"object_id": "1"}}, **kw}


@pytest.mark.parametrize("bad, field", [
    ({"_id": "x"}, "events[0]._id"), ({"_index": "ubi"}, "events[0]._index"), ({"_source": {}}, "events[0]._source"),
    ({"_routing": "r"}, "events[0]._routing"),
    ({"event_attributes": {"object": {"object_id": "1", "_id": "2"}}}, "events[0].event_attributes.object._id"),
    ({"timestamp": "2026-12-07T10:00:00-23:59"}, "events[0].timestamp"),
    ({"timestamp": "9999-01-01T00:00:00Z"}, "events[0].timestamp"),
    ({"timestamp": "2001-01-01T00:00:00Z"}, "events[0].timestamp"),
    ({"timestamp": "yesterday"}, "events[0].timestamp")])
def test_what_opensearch_would_refuse_is_a_400_at_the_door(client, bad, field):
    r = client.post("/events", json={"events": [event(**bad)]}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert r.status_code == 400 and r.json["error"]["field"] == field, r.json


def test_one_clients_flood_leaves_the_others_room(client):
    flood = {"REMOTE_ADDR": "10.0.0.1"}
    statuses = [client.post("/events", json={"events": [event()] * 100}, environ_base=flood).status_code
                for _ in range(15)]
    assert statuses[:10] == [202] * 10 and set(statuses[10:]) == {429}  # a burst of 1,000, then 20 a second
    r = client.post("/events", json={"events": [event()]}, environ_base=flood)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    other = client.post("/events", json={"events": [event()] * 100}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 202


def test_the_page_id_is_the_sidecars_and_a_clients_request_id_is_echoed(client):
    r = client.post("/search", json={"q": "shoes", "client_id": "shopper-7"}, headers={"X-Request-Id": "my-trace-1"})
    assert r.status_code == 503  # OpenSearch is away here; the ids are made all the same
    assert r.headers["X-Client-Request-Id"] == "my-trace-1" and r.headers["X-Request-Id"] != "my-trace-1"
    memory = create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                    catalog=str(ROOT / "demo" / "catalog.jsonl"), encoder="off", secret=SECRET))
    page = memory.test_client().post("/search", json={"q": "shoes", "client_id": "shopper-7"},
                                     headers={"X-Request-Id": "my-trace-1"}).json
    assert page["client_request_id"] == "my-trace-1" and page["request_id"] != "my-trace-1"
    signer = PageSigner(SECRET)
    assert signer.verify(page["request_id"], "shopper-7") and not signer.verify(page["request_id"], "my-trace-1")
    ids = {memory.test_client().post("/search", json={"q": "shoes"}, headers={"X-Request-Id": "same"}).json["request_id"]
           for _ in range(3)}
    assert len(ids) == 3  # two pages never share an id, whatever the client sends


def test_an_event_cannot_bring_its_own_verdict():
    """The verdict the report counts (``settled``) is the sidecar's, judged when it stores the event."""
    from sidecar.server.routes.events import checked

    event = {"action_name": "click", "query_id": "q", "settled": {"verdict": "credited", "experiment": "e"}}
    with pytest.raises(ValueError) as err:
        checked([{"action_name": "click", "query_id": "q"}, event], NOW)
    assert str(err.value).startswith("events[1].settled: ")


NOW = __import__("datetime").datetime(2026, 12, 7, 12, 0, tzinfo=__import__("datetime").timezone.utc)


@pytest.mark.parametrize("stamp, kept", [
    ("2026-12-07T12:00:00+18:00", "2026-12-07T12:00:00.000+18:00"),   # the widest offset OpenSearch reads
    ("2026-12-07T12:00:00-18:00", None),                                # 18 h ahead of now: past the window
    ("2026-11-07T12:00:00Z", "2026-11-07T12:00:00.000+00:00"),          # exactly 30 days ago
    ("2026-12-07T12:10:00Z", "2026-12-07T12:10:00.000+00:00"),          # exactly 10 minutes ahead
    ("2026-12-07T12:10:00.001Z", None), ("2026-11-07T11:59:59.999Z", None),
    ("2026-12-07T11:00:00.123456", "2026-12-07T11:00:00.123+00:00"),    # naive: UTC; milliseconds kept
])
def test_an_events_time_window_and_offsets_at_their_edges(stamp, kept):
    from sidecar.server.routes.events import checked

    event = {"action_name": "click", "query_id": "q", "message": "m"}
    if kept is None:
        with pytest.raises(ValueError) as err:
            checked([event, {**event, "timestamp": stamp}], NOW)
        assert str(err.value).startswith("events[1].timestamp: ") and "30 days ago or more than 10 minutes ahead" in str(err.value)
    else:
        (record,) = checked([{**event, "timestamp": stamp}], NOW)
        assert record == {**event, "timestamp": kept}


def test_an_offset_past_18_hours_and_an_event_without_time():
    from sidecar.server.routes.events import checked

    with pytest.raises(ValueError, match=r"^events\[0\]\.timestamp: a UTC offset of at most ±18:00"):
        checked([{"action_name": "click", "query_id": "q", "timestamp": "2026-12-07T12:00:00+18:01"}], NOW)
    assert checked([{"action_name": "click", "query_id": "q"}], NOW) == [
        {"action_name": "click", "query_id": "q", "timestamp": "2026-12-07T12:00:00.000+00:00"}]


def test_reserved_keys_are_found_inside_lists_and_named_by_path():
    from sidecar.server.routes.events import checked

    with pytest.raises(ValueError) as err:
        checked([{"action_name": "click", "query_id": "q", "event_attributes": {"items": [{"ok": 1}, {"_id": 2}]}}], NOW)
    assert str(err.value) == ("events[0].event_attributes.items._id: keys starting with _ are OpenSearch's own (_id, "
                              "_index, _source, _routing) and are refused")


@pytest.mark.parametrize("peer, forwarded, address", [
    ("10.0.0.1", "203.0.113.9, 198.51.100.7", "198.51.100.7"),  # behind the trusted proxy: the address it saw
    ("10.0.0.1", "  ", "10.0.0.1"),                              # it sent none: the proxy itself
    ("10.0.0.2", "203.0.113.9", "10.0.0.2"),                      # anyone else's header is not believed
    ("10.0.0.1", "x" * 100, "x" * 64),                            # bounded
])
def test_the_client_address_behind_a_trusted_proxy(peer, forwarded, address):
    from sidecar.server.routes.events import client_address

    app = create_app(Config.load(environ={}, backend="memory", catalog=str(ROOT / "demo" / "catalog.jsonl"),
                                 rules=str(ROOT / "query_rules"), rules_poll_seconds=0, secret=SECRET,
                                 trusted_proxies="10.0.0.1"))
    with app.test_request_context("/events", environ_base={"REMOTE_ADDR": peer},
                                  headers={"X-Forwarded-For": forwarded}):
        assert client_address() == address
