"""Issue 36: no body a client sends gets a 5xx other than 503/504 (a down or slow OpenSearch).

hypothesis mutates realistic bodies of the proxy (_search, _msearch, _count), /search, /rerank
and /events: it replaces, deletes and inserts values anywhere in them with values of every JSON
kind (numbers past 64 bits, nested lists where a value stands, objects where a list does, the
keys these APIs read). Each body goes to an app whose OpenSearch is down (every client mistake
must be a 400 before anything is sent; what is well formed is a 503) and, for the proxy and
/search, to the real OpenSearch (what the sidecar forwards must not make OpenSearch answer 500
and the sidecar pass it on).
"""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, index_demo
from sidecar.config import Config
from sidecar.server import create_app

INDEX = "test-sidecar-no5xx"
KEYS = ["query", "bool", "must", "filter", "should", "match", "term", "terms", "range", "knn", "neural", "size",
        "from", "aggs", "terms", "field", "ranges", "filters", "top_hits", "_source", "collapse", "inner_hits",
        "sort", "ext", "rerank", "rule", "overrides", "constraints", "brand", "price", "title", "vector",
        "query_text", "k", "q", "mode", "facets", "like", "candidates", "fields", "score", "id", "events",
        "action_name", "query_id", "timestamp", "event_attributes", "object", "track_total_hits", "terminate_after",
        "min_score", "precision_threshold", "cardinality", "histogram", "interval", "max", "min", "window"]
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(["", "*", "1e300", "-1", "brand", "_id", "_index", "vector", "now-1d", "nike", "a" * 300,
                             1e300, 1e20, -1e19, 2 ** 64, [["a"]], [[["b"]]], [{"a": 1}], {"includes": [["x"]]}]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4), max_leaves=10)

VECTOR = [0.01] * 384
SEEDS: dict[str, list[dict[str, Any]]] = {
    "proxy": [
        {"query": {"bool": {"must": [{"match": {"title": "black jacket"}}], "filter": [{"term": {"brand": "Nike"}}]}},
         "size": 10, "_source": ["title", "brand"], "aggs": {"b": {"terms": {"field": "brand", "size": 10}}}},
        {"query": {"knn": {"vector": {"vector": VECTOR, "k": 10}}}, "size": 5},
        {"query": {"neural": {"vector": {"query_text": "red shirt", "k": 10}}}, "size": 5},
        {"query": {"match": {"title": "shoes"}}, "ext": {"rerank": {"rule": "default", "query": "shoes"}}},
        {"size": 0, "aggs": {"p": {"range": {"field": "price", "ranges": [{"to": 500}, {"from": 500}]},
                                   "aggs": {"top": {"top_hits": {"size": 1}}}}}},
        {"query": {"match_all": {}}, "collapse": {"field": "brand", "inner_hits": {"name": "x", "size": 2}}},
        {"query": {"match": {"title": "shirt"}}, "terminate_after": 100, "track_total_hits": True, "_source": ["title"],
         "min_score": 0.1, "timeout": "1s", "sort": [{"price": "asc"}], "from": 0, "size": 10,
         "highlight": {"fields": {"title": {}}}, "suggest": {"s": {"text": "shrt", "term": {"field": "title"}}},
         "aggs": {"c": {"cardinality": {"field": "brand", "precision_threshold": 100}},
                  "h": {"histogram": {"field": "price", "interval": 500}},
                  "f": {"filters": {"filters": {"a": {"term": {"brand": "Puma"}}}}}}},
        {"query": {"match_phrase_prefix": {"title": {"query": "black jac", "max_expansions": 10}}},
         "post_filter": {"range": {"price": {"gte": 10, "lte": 1000}}}, "_source": {"includes": ["title"]}},
    ],
    "search": [
        {"q": "black jacket", "size": 10, "explain": True},
        {"q": "shoes", "filters": {"brand": ["Puma"]}, "facets": {"brand": {"size": 5},
                                                                  "price": {"ranges": [[0, 500], [500, None]]}}},
        {"like": "15970", "mode": "knn", "size": 5},
        {"vector": VECTOR, "mode": "hybrid", "q": "shirt", "rule": "none"},
    ],
    "rerank": [
        {"rule": {"id": "x", "window": 10, "constraints": [{"field": "brand", "value": "a", "max": 0.5}]},
         "candidates": [{"id": str(i), "score": 1 - i / 10, "fields": {"brand": "a" if i % 2 else "b"}}
                        for i in range(6)], "size": 3},
        {"rule": "default", "candidates": [{"id": "1", "score": 1.0, "title": "red shirt"},
                                           {"id": "2", "score": 0.5, "title": "red shirt"}]},
    ],
    "events": [
        {"events": [{"action_name": "click", "query_id": "abc", "client_id": "c1",
                     "event_attributes": {"object": {"object_id": "15970", "object_id_field": "id"},
                                          "position": {"ordinal": 1}}}]},
    ],
}


def paths(node: Any, at: tuple = ()) -> list[tuple]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, at + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, at + (i,))
    return out


@st.composite
def mutated(draw, kind: str) -> Any:
    body = copy.deepcopy(draw(st.sampled_from(SEEDS[kind])))
    for _ in range(draw(st.integers(1, 2))):
        places = paths(body)
        leaves = [p for p in places if p and not isinstance(_at(body, p), (dict, list))]
        at = draw(st.sampled_from(leaves if leaves and draw(st.integers(0, 3)) else places))  # mostly a value
        value = copy.deepcopy(draw(VALUES))  # sampled lists and objects are shared between examples
        if not at:
            body = value if draw(st.booleans()) else body
            continue
        parent = body
        for step in at[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["replace", "delete", "insert"]))
        if op == "replace":
            parent[at[-1]] = value
        elif op == "delete":
            del parent[at[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = value
        else:
            parent.insert(at[-1], value)
    return body


def _at(body: Any, path: tuple) -> Any:
    for step in path:
        body = body[step]
    return body


def app_on(os_url: str, **kw):
    cfg = Config.load(environ={}, backend="opensearch", opensearch_url=os_url, index=INDEX,
                      rules=str(ROOT / "query_rules"), rules_poll_seconds=0, backend_timeout=2.0,
                      events_index=f"{INDEX}-events", decision_log="off", **kw)
    return create_app(cfg)


def send(client, kind: str, body: Any):
    data = json.dumps(body, allow_nan=False)
    if kind == "proxy":
        yield client.post(f"/{INDEX}/_search", data=data, content_type="application/json")
        yield client.post(f"/{INDEX}/_msearch", data="{}\n" + data + "\n", content_type="application/x-ndjson")
        if isinstance(body, dict) and set(body) <= {"query"}:
            yield client.post(f"/{INDEX}/_count", data=data, content_type="application/json")
    else:
        yield client.post(f"/{kind}", data=data, content_type="application/json")


def no_5xx(resp) -> None:
    assert resp.status_code < 500 or resp.status_code in (503, 504), (resp.status_code, resp.get_data(as_text=True)[:500])
    if resp.status_code == 400:
        assert resp.json["error"].get("message") or resp.json["error"].get("reason"), resp.json


@pytest.fixture(scope="module")
def down_client():
    """OpenSearch is not there (a closed loopback port): client mistakes are 400s, the rest 503."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    app = app_on(f"http://127.0.0.1:{port}")
    yield app.test_client()
    events = app.extensions["sidecar"].events
    if events is not None:
        events.close(0.5)


def check_no_5xx(client, kind: str, examples: int) -> None:
    """``examples`` mutated bodies of ``kind``, each sent wherever that kind goes."""
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(body=mutated(kind))
    def check(body):
        for resp in send(client, kind, body):
            no_5xx(resp)

    check()


@pytest.mark.parametrize("kind", ["proxy", "search", "rerank", "events"])
def test_no_body_gets_a_5xx_with_opensearch_down(down_client, kind):
    check_no_5xx(down_client, kind, 400)


@pytest.fixture(scope="module")
def live_client(os_url, os_client):
    index_demo(os_url, INDEX)
    app = app_on(os_url, events="off")
    yield app.test_client()
    os_client.indices.delete(index=[INDEX, f"{INDEX}-events", f"{INDEX}-events_credits"], ignore_unavailable=True)


@pytest.mark.parametrize("kind", ["proxy", "search"])
def test_no_body_gets_a_5xx_from_the_real_opensearch(live_client, kind):
    check_no_5xx(live_client, kind, 150)
