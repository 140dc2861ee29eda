"""Issue 15 in one process: every bound, the proxy policy, errors that neither lie nor leak,
readiness on a red index, deadlines shared by a request's calls, throttled logs and the
decision log's `unknown` outcome. The whole-server faults (slow clients, a paused cluster,
malformed HTTP, fuzzing the live server) are in test_zz_faults.py."""
from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time

import pytest

from conftest import ROOT, index_demo
from sidecar.config import Config
from sidecar.opensearch.decision_log import DecisionLogWriter
from sidecar.logs import Throttle
from sidecar.opensearch.client import make_client
from sidecar.retrieval import BackendTimeout, deadline
from sidecar.server import create_app

INDEX = "test-hardening"


def make_app(**kw):
    base = dict(rules=str(ROOT / "query_rules"), rules_poll_seconds=0, catalog=str(ROOT / "demo" / "catalog.jsonl"),
                vectors=str(ROOT / "demo" / "vectors.npy"))
    return create_app(Config.load(environ={}, **{**base, **kw}))


@pytest.fixture(scope="module")
def index(os_client, os_url):
    index_demo(os_url, INDEX)
    yield INDEX
    os_client.indices.delete(index=INDEX, ignore_unavailable=True)


@pytest.fixture(scope="module")
def proxy(os_url, index):
    return make_app(backend="opensearch", opensearch_url=os_url, index=index).test_client()


def post(c, path, body):
    return c.post(path, data=json.dumps(body), content_type="application/json")


def assert_error(r, status: int, kind: str, field: str | None = None):
    assert r.status_code == status, r.get_data(as_text=True)[:500]
    err = r.json["error"]
    assert err["type"] == kind, err
    if field is not None:
        assert err["field"] == field, err
    return err


# --- 3. bounds on everything that multiplies work ---------------------------------------------

def candidates(n: int, titles: list[str] | None = None) -> list[dict]:
    return [{"id": str(i), "score": 1.0 - i / (2 * n),
             "fields": {"brand": f"b{i % 7}", "title": titles[i] if titles else f"item {i}"}} for i in range(n)]


@pytest.fixture(scope="module")
def small_limits():
    return make_app(backend="memory", max_candidates=50, max_constraints=3, max_constraint_values=10, max_num_perm=128,
                    max_dedup_pairs=5000).test_client()


@pytest.mark.parametrize("body, field, setting", [
    ({"candidates": candidates(51), "rule": "default"}, "candidates", "SIDECAR_MAX_CANDIDATES"),
    ({"candidates": candidates(5), "rule": {"id": "x", "constraints": [
        {"field": "brand", "max": 0.5, "any": True}] * 4}}, "rule.constraints", "SIDECAR_MAX_CONSTRAINTS"),
    ({"candidates": candidates(5), "rule": {"id": "x", "constraints": [
        {"field": "brand", "min": 0.1, "values": [f"v{i}" for i in range(11)]}]}},
     "rule.constraints[0].values", "SIDECAR_MAX_CONSTRAINT_VALUES"),
    ({"candidates": candidates(5), "rule": {"id": "x", "dedup": {"num_perm": 256}}}, "rule.dedup.num_perm",
     "SIDECAR_MAX_NUM_PERM"),
])
def test_each_bound_is_a_400_naming_the_field_and_the_setting(small_limits, body, field, setting):
    err = assert_error(post(small_limits, "/rerank", body), 400, "limit_exceeded", field)
    assert setting in err["message"]


def test_overrides_are_bounded_on_search_and_through_the_proxy(small_limits, proxy, index):
    many = {"constraints": [{"field": "brand", "max": 0.5, "any": True}] * 4}
    assert_error(post(small_limits, "/search", {"q": "shirt", "overrides": many}), 400, "limit_exceeded",
                 "overrides.constraints")
    values = {"constraints": [{"field": "brand", "min": 0.1, "values": [f"v{i}" for i in range(1001)]}]}
    r = post(proxy, f"/{index}/_search", {"query": {"match": {"title": "shirt"}},
                                          "ext": {"rerank": {"rule": "default", "overrides": values}}})
    assert r.status_code == 400 and r.json["error"]["type"] == "limit_exceeded"
    assert r.json["error"]["field"] == "ext.rerank.overrides.constraints[0].values"


def test_quadratic_dedup_stops_at_the_pair_bound(small_limits):
    """Issue 15: 1,000 similar titles at threshold 0.05 took 22.8 s and 4.5 GB; now the pair
    count is bounded and the answer is a 400 naming dedup and the setting."""
    rng = random.Random(7)
    words = "red blue cotton shirt men women casual slim fit navy black white tee polo round neck".split()
    titles = [" ".join(rng.sample(words, 8)) for _ in range(50)]
    rule = {"id": "x", "dedup": {"field": "title", "threshold": 0.05, "num_perm": 128}}
    err = assert_error(post(small_limits, "/rerank", {"candidates": candidates(50, titles), "rule": rule}), 400,
                       "limit_exceeded", "dedup")
    assert "SIDECAR_MAX_DEDUP_PAIRS" in err["message"]
    # the same titles at the usual threshold verify few pairs: served
    ok = post(small_limits, "/rerank", {"candidates": candidates(50, titles),
                                        "rule": {**rule, "dedup": {"field": "title", "threshold": 0.8}}})
    assert ok.status_code == 200 and ok.json["hits"]


def test_the_pair_bound_is_exact_in_the_kernel():
    """The kernel counts the pairs it meets in buckets: from some bound on, the grouping is the
    unbounded one; below it, TooManyPairs; never a partial grouping."""
    from sidecar.rerank import dedup

    titles = ["a b c d", "a b c e", "a b x y", "p q r s", "a b c d"]
    sigs = dedup.signatures(titles, 64)
    free = dedup.group(sigs, 0.1, titles).tolist()

    def passes(bound: int) -> bool:
        try:
            assert dedup.group(sigs, 0.1, titles, max_pairs=bound).tolist() == free
            return True
        except dedup.TooManyPairs:
            return False

    results = [passes(b) for b in range(400)]
    first = results.index(True)
    assert first > 0 and all(results[first:]) and not any(results[:first])


def test_no_per_request_data_is_kept_between_inline_rules():
    """150 inline rules with 1,000 values each leave no trace in process-wide state: the
    core's modules hold no dict or list that grows (issue 15: a repr-keyed cache grew to 770 MB)."""
    import sidecar.rerank as core
    import sys

    app = make_app(backend="memory")
    c = app.test_client()

    def sizes() -> dict[str, int]:
        out = {}
        for name, mod in sys.modules.items():
            if name.startswith(core.__name__) or name.startswith("sidecar.rules") or name == "sidecar.search.contract":
                for attr, value in vars(mod).items():
                    if isinstance(value, (dict, list, set)):
                        out[f"{name}.{attr}"] = len(value)
        return out

    def one(i: int):
        rule = {"id": f"inline-{i}", "constraints": [{"field": "brand", "min": 0.1,
                                                     "values": [f"{i}-{k}" for k in range(1000)]}]}
        return post(c, "/rerank", {"candidates": candidates(20), "rule": rule})

    assert one(-1).status_code == 200
    before = sizes()
    for i in range(150):
        assert one(i).status_code == 200
    assert sizes() == before


# --- 4. the proxy's query policy ----------------------------------------------------------------

NESTED = {"match_all": {}}
for _ in range(130):
    NESTED = {"bool": {"must": [NESTED]}}


@pytest.mark.parametrize("body, rule", [
    ({"query": {"regexp": {"title": "a{1,100000}"}}}, "regexp"),
    ({"query": {"wildcard": {"title": "*a*"}}}, "wildcard"),
    ({"query": {"fuzzy": {"title": "shrt"}}}, "fuzzy"),
    ({"query": {"query_string": {"query": "/a{1,1000}/"}}}, "query_string"),
    ({"query": {"script_score": {"query": {"match_all": {}}, "script": {"source": "1"}}}}, "script"),
    ({"script_fields": {"x": {"script": "1"}}}, "script"),
    ({"runtime_mappings": {"x": {"type": "long", "script": "emit(1)"}}}, "script"),
    ({"sort": [{"_script": {"type": "number", "script": "1"}}]}, "script"),
    ({"size": 10000}, "size"),
    ({"from": 990, "size": 20}, "from"),
    ({"size": 0, "aggs": {"b": {"terms": {"field": "brand", "size": 10000}}}}, "buckets"),
    ({"query": NESTED}, "depth"),
])
def test_costly_proxied_queries_are_refused_in_opensearchs_shape(proxy, index, body, rule):
    r = post(proxy, f"/{index}/_search", body)
    assert r.status_code == 400, r.json
    err = r.json["error"]
    assert err["type"] == "policy_refused" and err["root_cause"][0]["type"] == "policy_refused"
    assert err["reason"].startswith(f"{rule}: refused by the proxy policy")
    assert r.json["status"] == 400


def test_no_planted_lookup_reaches_another_index(proxy, index, os_client):
    """Issue 25.1: bodies with a terms lookup, indexed_shape, percolate, more_like_this or wrapper
    planted at random depths, through _search, _count and ext.rerank: OpenSearch's own get and
    search counters of a marker index do not move, and its stored secret never comes back."""
    import random

    from test_policy import bodies

    marker = "test-marker-secret"
    os_client.indices.delete(index=marker, ignore_unavailable=True)
    os_client.index(index=marker, id="1", body={"note": "the-marker-secret", "price": 3}, refresh=True)

    def touched() -> tuple[int, int]:
        st = os_client.indices.stats(index=marker, metric="get,search")["indices"][marker]["total"]
        return st["get"]["total"], st["search"]["query_total"]

    before = touched()
    rng = random.Random(25)
    sent = 0
    for _ in range(4):
        for body in bodies(rng, marker):
            for path, b in ((f"/{index}/_search", body), (f"/{index}/_search", {**body, "ext": {"rerank": {"rule": "default"}}}),
                            (f"/{index}/_count", body if set(body) == {"query"} else None)):
                if b is None:
                    continue
                r = post(proxy, path, b)
                sent += 1
                assert r.status_code == 400 and "the-marker-secret" not in r.get_data(as_text=True), r.get_data(as_text=True)[:300]
                assert r.json["error"]["type"] == "policy_refused"
    assert sent > 200 and touched() == before
    os_client.indices.delete(index=marker, ignore_unavailable=True)


def test_explained_hits_carry_no_node_ids_and_profile_is_refused(proxy, index, os_client):
    node_ids = set(os_client.nodes.info()["nodes"])
    r = post(proxy, f"/{index}/_search", {"query": {"match": {"title": "shirt"}}, "explain": True, "size": 3})
    assert r.status_code == 200 and r.json["hits"]["hits"]
    text = r.get_data(as_text=True)
    assert not any(n in text for n in node_ids) and all("_node" not in h for h in r.json["hits"]["hits"])
    r = proxy.get(f"/{index}/_search?q=title:shirt&explain=true&size=2")
    assert r.status_code == 200 and not any(n in r.get_data(as_text=True) for n in node_ids)
    r = post(proxy, f"/{index}/_search", {"query": {"match_all": {}}, "profile": True})
    assert r.status_code == 400 and r.json["error"]["reason"].startswith("profile: refused")


def test_numbers_as_strings_or_floats_do_not_pass_the_caps(proxy, index):
    for body in ({"size": "10000"}, {"size": 1e4}, {"from": "9900", "size": 100},
                 {"size": 0, "aggs": {"b": {"terms": {"field": "brand", "size": 1e9}}}}):
        r = post(proxy, f"/{index}/_search", body)
        assert r.status_code == 400 and r.json["error"]["type"] == "policy_refused", (body, r.json)
    r = post(proxy, f"/{index}/_search", {"size": "3", "query": {"match": {"title": "shirt"}}})
    assert r.status_code == 200 and len(r.json["hits"]["hits"]) == 3


def test_count_is_a_cancellable_search_with_the_same_answer(proxy, index, os_client):
    body = {"query": {"match": {"title": "shirt"}}}
    r = post(proxy, f"/{index}/_count", body)
    assert r.status_code == 200 and r.json["count"] == os_client.count(index=index, body=body)["count"] > 0
    assert proxy.get(f"/{index}/_count?q=title:shirt").json["count"] == r.json["count"]


@pytest.mark.parametrize("target", [".kibana", "sidecar-decisions-2026.11.22", "some-other-index", "*", f"{INDEX},other"])
def test_only_allowed_indices_are_proxied(proxy, target):
    r = post(proxy, f"/{target}/_search", {"query": {"match_all": {}}})
    assert r.status_code == 400 and r.json["error"]["reason"].startswith("index: refused by the proxy policy")
    assert proxy.get(f"/{target}/_count").status_code == 400


def test_q_with_lucene_regex_is_refused_plain_q_is_forwarded(proxy, index):
    assert proxy.get(f"/{index}/_search?q=title:/a.*/").status_code == 400
    assert proxy.get(f"/{index}/_search?q=title:shi*").status_code == 400
    ok = proxy.get(f"/{index}/_search?q=title:shirt&size=3")
    assert ok.status_code == 200 and len(ok.json["hits"]["hits"]) == 3


def test_settings_open_the_policy(os_url, index):
    """An operator who wants scripts or regexps through turns them on; OpenSearch's own errors
    then come back in its shape, without node ids, index uuids or script stacks."""
    c = make_app(backend="opensearch", opensearch_url=os_url, index=index, proxy_allow_expensive="on",
                 proxy_indices=f"{index},other-allowed").test_client()
    assert post(c, f"/{index}/_search", {"query": {"regexp": {"title": "sh.*"}}, "size": 2}).status_code == 200
    assert post(c, f"/{index}/_search", {"query": {"wildcard": {"title": "sh*"}}, "size": 2}).status_code == 200
    r = post(c, f"/{index}/_search", {"query": {"script_score": {"query": {"match_all": {}},
                                                                 "script": {"source": "doc['nope'].value * 2"}}}})
    assert r.status_code == 400, r.json
    text = json.dumps(r.json)
    assert "script_exception" in text or "search_phase_execution_exception" in text
    for leak in ("script_stack", "index_uuid", '"node"', "stack_trace"):
        assert leak not in text, (leak, text[:800])
    missing = post(c, "/other-allowed/_search", {"query": {"match_all": {}}})
    assert missing.status_code == 404 and missing.json["error"]["type"] == "index_not_found_exception"
    assert "index_uuid" not in json.dumps(missing.json)


# --- 5. errors that neither lie nor leak --------------------------------------------------------

@pytest.mark.parametrize("path, body, field", [
    ("/{i}/_search", {"ext": True}, "ext"),
    ("/{i}/_search", {"ext": [None]}, "ext"),
    ("/rerank", {"candidates": [{"id": "a", "score": 1}], "rule": {"id": "r", "constraints": [
        {"field": "brand", "values": 5, "min": 0.2}]}}, "rule.constraints[0].values"),
    ("/search", {"like": "x" * 4100}, "like"),
    ("/search", {"vector": [0.0] * 384, "mode": "knn"}, "vector"),
    ("/search", {"vector": [0.1] * 12, "mode": "knn"}, "vector"),
    ("/search", {"q": "shirt", "filters": {"listed_at": {"gte": "not-a-date"}}}, "filters.listed_at.gte"),
])
def test_client_mistakes_are_400s_naming_the_field(proxy, index, path, body, field):
    r = post(proxy, path.format(i=index), body)
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert r.json["error"]["field"] == field
    assert len(r.get_data()) < 2000  # a 4,100-character value is named, not echoed whole


def test_backend_failures_name_no_host_port_or_exception(os_url, index):
    c = make_app(backend="opensearch", opensearch_url="http://127.0.0.1:1", index=index, backend_timeout=0.5).test_client()
    for path, body in (("/search", {"q": "shirt"}), (f"/{index}/_search", {"query": {"match_all": {}}}), ("/", None)):
        r = c.post(path, json=body) if body is not None else c.get(path)
        text = r.get_data(as_text=True)
        assert r.status_code == 503, text
        for leak in ("127.0.0.1", "HTTPConnection", "port=", "Traceback", "Error("):
            assert leak not in text, (leak, text)


# --- 7. readiness ------------------------------------------------------------------------------

def test_readyz_is_503_while_the_products_index_is_red(os_client, os_url):
    """A primary shard that cannot be allocated anywhere makes the index red: searches fail,
    so the sidecar is not ready, though OpenSearch answers pings."""
    red = "test-hardening-red"
    os_client.indices.delete(index=red, ignore_unavailable=True)
    os_client.indices.create(index=red, body={"settings": {
        "number_of_shards": 1, "number_of_replicas": 0, "index.routing.allocation.require._name": "no-such-node"}},
        params={"wait_for_active_shards": "0"})
    try:
        app = make_app(backend="opensearch", opensearch_url=os_url, index=red)
        app.extensions["sidecar"].kernels_ready = True  # the kernels are not what this test is about
        c = app.test_client()
        t0 = time.perf_counter()
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json["backend_health"] == "red" and r.json["backend_reachable"] is True
        assert time.perf_counter() - t0 < 1.5
        assert c.get("/healthz").status_code == 200
    finally:
        os_client.indices.delete(index=red, ignore_unavailable=True)


# --- 2. one deadline per request, and OpenSearch told to cancel --------------------------------

class BlackHole:
    """A loopback TCP server that reads requests and never answers (a paused node, as seen
    from the client), recording the request heads it got."""

    def __init__(self, hang_up: bool = False) -> None:
        self.hang_up = hang_up  # read the request, then close without an answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.heads: list[str] = []
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            try:
                conn.settimeout(2)
                self.heads.append(conn.recv(65536).decode("latin1").split("\r\n", 1)[0])
                if self.hang_up:
                    conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_request_shares_one_deadline_and_asks_opensearch_to_cancel():
    hole = BlackHole()
    try:
        app = make_app(backend="opensearch", opensearch_url=hole.url, index="products", backend_timeout=0.8)
        c = app.test_client()
        t0 = time.perf_counter()
        r = c.post("/search", json={"q": "shirt", "mode": "bm25"})
        took = time.perf_counter() - t0
        assert r.status_code == 504 and r.json["error"]["type"] == "backend_timeout"
        assert took < 0.8 + 0.5
        searches = [h for h in hole.heads if "_search" in h]
        assert searches and "cancel_after_time_interval=" in searches[0], hole.heads
        ms = int(searches[0].split("cancel_after_time_interval=")[1].split("ms")[0])
        assert 100 < ms <= 800
        # a kNN search needs the mapping first, then the search: both within one deadline
        t0 = time.perf_counter()
        r = c.post("/search", json={"vector": [0.1] * 384, "mode": "knn"})
        assert r.status_code == 504 and time.perf_counter() - t0 < 0.8 + 0.5
        # text alone asks the mapping (does the index have vectors?) within the same deadline
        t0 = time.perf_counter()
        r = c.post("/search", json={"q": "shirt"})
        assert r.status_code == 504 and time.perf_counter() - t0 < 0.8 + 0.5
    finally:
        hole.close()


def test_time_queued_at_a_front_proxy_counts(os_url, index):
    """X-Request-Start (as nginx writes it) from a trusted front proxy starts the deadline: a
    request that waited past it in front of the sidecar is a 504 at once, without asking
    OpenSearch. From anyone else (the default: no proxy trusted) the header is ignored, so a
    client cannot fake backend timeouts."""
    body = {"q": "black jacket", "size": 3}
    stale = {"X-Request-Start": f"t={time.time() - 30:.3f}"}
    anyone = make_app(backend="opensearch", opensearch_url=os_url, index=index, backend_timeout=1.0).test_client()
    assert anyone.post("/search", json=body, headers=stale).status_code == 200
    other = make_app(backend="opensearch", opensearch_url=os_url, index=index, backend_timeout=1.0,
                     trusted_proxies="10.1.2.3").test_client()  # the test client comes from 127.0.0.1
    assert other.post("/search", json=body, headers=stale).status_code == 200
    c = make_app(backend="opensearch", opensearch_url=os_url, index=index, backend_timeout=1.0,
                 trusted_proxies="127.0.0.1").test_client()
    assert c.post("/search", json=body, headers={"X-Request-Start": f"t={time.time():.3f}"}).status_code == 200
    t0 = time.perf_counter()
    late = c.post("/search", json=body, headers={"X-Request-Start": f"t={(time.time() - 1.5) * 1000:.0f}"})
    assert late.status_code == 504 and time.perf_counter() - t0 < 0.3
    assert c.post("/search", json=body, headers={"X-Request-Start": "garbage"}).status_code == 200


def test_budget_cuts_each_call_to_what_is_left():
    assert deadline.budget(2.0) == 2.0  # no request: the call's own timeout
    with deadline.within(0.3):
        assert 0.2 < deadline.budget(2.0) <= 0.3
    with deadline.within(1.0, started=time.monotonic() - 2):
        with pytest.raises(BackendTimeout):
            deadline.budget(2.0)


def test_an_answer_after_the_deadline_is_not_ranked():
    """An answer that arrives in time but is read after the deadline (a busy worker woke its
    greenlet late) is a BackendTimeout: the request is answered 504 at once instead of ranked."""
    from sidecar.retrieval.opensearch_backend import call

    def late(**kw):
        time.sleep(kw["request_timeout"] + 0.05)  # the client returned, but the request's time is up
        return {"hits": {"hits": []}}

    with deadline.within(0.1):
        with pytest.raises(BackendTimeout, match="after the request's deadline"):
            call(late, request_timeout=2.0)
    assert call(late, request_timeout=0.01) == {"hits": {"hits": []}}  # no request: no deadline to miss


# --- 6. throttled logs, and `unknown` decision records -----------------------------------------

def test_throttle_logs_one_line_per_interval_with_the_count_held_back(caplog):
    now = [0.0]
    t = Throttle(logging.getLogger("test.throttle"), interval=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for i in range(1000):
            now[0] = i * 0.01  # 1,000 failures in 10 s
            t.log(logging.WARNING, "down", "backend unavailable: %s", "refused")
        now[0] = 10.5
        t.log(logging.WARNING, "down", "backend unavailable: %s", "refused")
        t.log(logging.WARNING, "other", "backend timeout")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["backend unavailable: refused",
                     "backend unavailable: refused (and 999 more like it since the last such line)",
                     "backend timeout"]


def test_the_reads_beside_a_search_log_one_line_per_kind_while_opensearch_is_away(caplog):
    """The catalog reads a search makes besides its own (the type vote, a field's values, the
    titles) failed with every search during an outage and logged a warning each: 12,897 lines in
    one minute of the fault test. One line per kind every 10 s now, like the search's own failure."""
    import numpy as np

    from sidecar.retrieval.hits import VECTOR_FIELD
    from sidecar.retrieval.opensearch_backend import OpenSearchBackend

    with socket.socket() as s:  # a port nobody listens on: every call refused at once
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    backend = OpenSearchBackend(make_client(url, timeout=0.5), "products", 0.5)
    backend._props = {VECTOR_FIELD: {"dimension": 3}}  # the mapping, read before the outage
    with caplog.at_level(logging.WARNING, logger="sidecar.retrieval.opensearch_backend"):
        for _ in range(50):
            assert backend.type_vote(np.ones(3, dtype=np.float32)) is None
            assert len(backend.vocabulary("brand").keys) == 0 and len(backend.vocabulary("colour").keys) == 0
            assert len(backend.type_words()) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "sidecar.retrieval.opensearch_backend"]
    assert len(lines) == 4, lines  # type vote, brand, colour, titles: once each
    assert sum("types near a query" in m for m in lines) == 1 and sum("values of brand" in m for m in lines) == 1


@pytest.mark.parametrize("hang_up", [False, True], ids=["no answer in time", "connection cut after sending"])
def test_a_bulk_without_an_answer_is_counted_unknown_not_dropped(hang_up):
    """Issue 15: after an outage the index held 2,001 records more than written_total. A bulk
    that went out and got no answer may be indexed: `unknown`; only a refused connection
    (nothing sent) is `dropped`."""
    hole = BlackHole(hang_up)
    try:
        writer = DecisionLogWriter(lambda: make_client(hole.url, timeout=0.5), prefix="test-unknown",
                                   flush_interval=0.1).start()
        writer._template_ok = True  # straight to the bulk (a template call without an answer drops: no record was sent)
        for i in range(3):
            writer.submit({"@timestamp": "2026-11-22T00:00:00.000+00:00", "request_id": str(i)})
        assert writer.flush(10)
        assert writer.unknown == 3 and writer.dropped == {"overflow": 0, "backend": 0} and writer.written == 0
        writer.close(1)
    finally:
        hole.close()
    refused = DecisionLogWriter(lambda: make_client("http://127.0.0.1:1", timeout=0.5), prefix="test-unknown",
                                flush_interval=0.1).start()
    refused._template_ok = True
    refused.submit({"@timestamp": "2026-11-22T00:00:00.000+00:00", "request_id": "r"})
    assert refused.flush(10) and refused.dropped["backend"] == 1 and refused.unknown == 0
    refused.close(1)
