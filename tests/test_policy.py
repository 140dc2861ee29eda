"""The proxy policy, called directly (no OpenSearch): what a body may hold (issue 25).

The body is a door too: every form that names another index or document (a terms lookup,
geo_shape's indexed_shape, percolate, more_like_this, a wrapper hiding any of them) is refused
wherever it is planted, numbers are read as OpenSearch reads them before the caps, and the rest of
a real results page's body passes unchanged. The same generator drives an integration test that
counts what reached a marker index (tests/test_hardening.py).
"""
from __future__ import annotations

import base64
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.server.policy import PolicyRefused, ProxyPolicy, strip_node_ids

POLICY = ProxyPolicy(frozenset({"products"}), max_size=100, max_window=1000, max_buckets=100, allow_expensive=False,
                     hidden_prefixes=("sidecar-decisions",))
OPEN = ProxyPolicy(frozenset({"products"}), 100, 1000, 100, True, ("sidecar-decisions",))


def lookups(marker: str) -> list[dict]:
    """Every query form that makes OpenSearch read another index's document."""
    return [
        {"terms": {"price": {"index": marker, "id": "1", "path": "note"}}},
        {"geo_shape": {"location": {"indexed_shape": {"index": marker, "id": "1", "path": "shape"}}}},
        {"percolate": {"field": "query", "index": marker, "id": "1"}},
        {"more_like_this": {"fields": ["title"], "like": [{"_index": marker, "_id": "1"}]}},
        {"wrapper": {"query": base64.b64encode(json.dumps({"terms": {"price": {"index": marker, "id": "1",
                                                                                "path": "note"}}}).encode()).decode()}},
    ]


def plant(rng: random.Random, leaf: dict, depth: int) -> dict:
    """``leaf`` inside ``depth`` levels of allowed compound queries, chosen at random."""
    if depth == 0:
        return leaf
    inner = plant(rng, leaf, depth - 1)
    wrap = rng.choice([
        lambda q: {"bool": {rng.choice(["must", "should", "filter", "must_not"]): [{"match": {"title": "shirt"}}, q]}},
        lambda q: {"bool": {"filter": q}},
        lambda q: {"constant_score": {"filter": q}},
        lambda q: {"dis_max": {"queries": [q]}},
        lambda q: {"boosting": {"positive": {"match_all": {}}, "negative": q, "negative_boost": 0.5}},
        lambda q: {"function_score": {"query": q, "functions": [{"filter": {"match_all": {}}, "weight": 2}]}},
        lambda q: {"function_score": {"functions": [{"filter": q, "weight": 2}]}},
        lambda q: {"nested": {"path": "offers", "query": q}},
        lambda q: {"knn": {"vector": {"vector": [0.1, 0.2], "k": 10, "filter": q}}},
    ])
    return wrap(inner)


def bodies(rng: random.Random, marker: str) -> list[dict]:
    """A body per place a query may stand, with a lookup planted at a random depth."""
    out = []
    for leaf in lookups(marker):
        q = plant(rng, leaf, rng.randint(0, 6))
        out += [
            {"query": q},
            {"post_filter": q},
            {"size": 0, "aggs": {"f": {"filter": q}}},
            {"size": 0, "aggs": {"b": {"terms": {"field": "brand"}, "aggs": {"f": {"filters": {"filters": {"x": q}}}}}}},
            {"query": {"match_all": {}}, "highlight": {"fields": {"title": {}}, "highlight_query": q}},
            {"query": {"match_all": {}}, "rescore": {"window_size": 10, "query": {"rescore_query": q}}},
        ]
    return out


@pytest.mark.parametrize("seed", range(20))
def test_a_lookup_planted_anywhere_is_refused(seed):
    rng = random.Random(seed)
    for body in bodies(rng, "tenant-secrets"):
        with pytest.raises(PolicyRefused):
            POLICY.check(body, {})
        with pytest.raises(PolicyRefused):  # no setting opens a door to another index
            OPEN.check(body, {})


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.sampled_from(lookups("m")), lambda inner: st.one_of(
    st.builds(lambda q: {"bool": {"must": [q]}}, inner),
    st.builds(lambda q: {"constant_score": {"filter": q}}, inner),
    st.builds(lambda q: {"nested": {"path": "p", "query": q}}, inner),
    st.builds(lambda q: {"function_score": {"query": q}}, inner)), max_leaves=4))
def test_generated_nestings_never_pass(query):
    with pytest.raises(PolicyRefused):
        POLICY.check({"query": query}, {})


@pytest.mark.parametrize("body, rule", [
    ({"size": "10000"}, "size"),
    ({"size": 1e4}, "size"),
    ({"size": 10000.0}, "size"),
    ({"from": "9900", "size": 100}, "from"),
    ({"size": 0, "aggs": {"b": {"terms": {"field": "brand", "size": 1e9}}}}, "buckets"),
    ({"size": 0, "aggs": {"c": {"composite": {"size": "10000", "sources": [{"b": {"terms": {"field": "brand"}}}]}}}},
     "buckets"),
    ({"size": 0, "aggs": {"t": {"top_hits": {"size": "500"}}}}, "top_hits.size"),
    ({"size": 10.5}, "size"),
    ({"size": True}, "size"),
    ({"query": {"match": {"title": {"query": "shrt", "fuzziness": "AUTO"}}}}, "fuzziness"),
    ({"query": {"multi_match": {"query": "shrt", "fields": ["title"], "fuzziness": 2}}}, "fuzziness"),
    ({"query": {"prefix": {"title": "s"}}}, "prefix"),
    ({"query": {"prefix": {"title": {"value": "sh"}}}}, "prefix"),
    ({"suggest": {"s": {"text": "shrt", "phrase": {"field": "title", "collate": {"query": {"source": "x"}}}}}},
     "collate"),
    ({"size": 0, "aggs": {"s": {"significant_text": {"field": "title"}}}}, "significant_text"),
    ({"docvalue_fields": ["vector_f16"]}, "docvalue_fields"),
    ({"profile": True}, "profile"),
    ({"indices_boost": [{"tenant-secrets": 2}]}, "indices_boost"),
    ({"query": {"match_all": {}}, "ext": {}}, "ext"),  # ext is popped by the proxy before the policy
    ({"size": 0, "aggs": {"b": {"terms": {"field": "brand", "include": ".*"}}}}, "include"),
    ({"size": 0, "aggs": {"b": {"terms": {"field": "brand", "script": {"source": "1"}}}}}, "script"),
    ({"query": {"range": {"price": {"gte": 1, "script": "x"}}}}, "script"),
])
def test_refusals_name_what_they_refuse(body, rule):
    with pytest.raises(PolicyRefused) as err:
        POLICY.check(body, {})
    assert err.value.rule == rule, str(err.value)


@pytest.mark.parametrize("body, forwarded", [
    ({"size": "10", "from": "20"}, {"size": 10, "from": 20}),
    ({"size": 1e1}, {"size": 10}),
    ({"size": 0, "aggs": {"b": {"terms": {"field": "brand", "size": "10"}}}},
     {"size": 0, "aggs": {"b": {"terms": {"field": "brand", "size": 10}}}}),
])
def test_numbers_are_forwarded_as_the_checked_integers(body, forwarded):
    assert POLICY.check(body, {}) == forwarded


def test_a_results_page_body_passes_unchanged():
    """What a frontend sends for an SRP: text and filters, facets, highlight, sort, a kNN clause."""
    body = {
        "size": 20, "from": 40, "track_total_hits": True, "_source": {"includes": ["title", "brand", "price"]},
        "query": {"bool": {
            "must": [{"multi_match": {"query": "black jacket", "fields": ["title^2", "brand"], "operator": "and"}}],
            "should": [{"knn": {"vector": {"vector": [0.1, 0.2, 0.3], "k": 50,
                                           "filter": {"term": {"condition": "new"}}}}}],
            "filter": [{"terms": {"brand": ["Nike", "Puma"]}}, {"range": {"price": {"gte": 100, "lte": 2000}}},
                       {"exists": {"field": "colour"}}, {"prefix": {"title": {"value": "bla"}}}],
            "must_not": [{"term": {"seller": {"value": "s9"}}}],
            "minimum_should_match": 0}},
        "post_filter": {"term": {"colour": "Black"}},
        "aggs": {"brand": {"terms": {"field": "brand", "size": 10, "order": {"_count": "desc"}}},
                 "price": {"range": {"field": "price", "ranges": [{"to": 500}, {"from": 500, "to": 1500}, {"from": 1500}]}},
                 "listed": {"date_histogram": {"field": "listed_at", "calendar_interval": "month", "min_doc_count": 1},
                            "aggs": {"avg_price": {"avg": {"field": "price"}}}},
                 "new": {"filter": {"term": {"condition": "new"}}}},
        "highlight": {"fields": {"title": {"number_of_fragments": 0}}},
        "sort": [{"price": {"order": "asc", "missing": "_last"}}, "_score"],
        "suggest": {"fix": {"text": "jackte", "term": {"field": "title", "size": 3}}},
        "collapse": {"field": "seller", "inner_hits": {"name": "more", "size": 2}},
        "explain": False,
    }
    assert POLICY.check(body, {}) == body


def test_a_field_named_like_a_dangerous_key_is_just_a_field():
    for body in ({"query": {"term": {"script": "x"}}}, {"query": {"match": {"index": "shirt"}}},
                 {"query": {"terms": {"wrapper": ["a", "b"]}}}, {"sort": [{"script": "asc"}]}):
        assert POLICY.check(body, {}) == body


def test_settings_open_costly_queries_but_never_lookups():
    body = {"query": {"regexp": {"title": "sh.*"}}, "script_fields": {"x": {"script": "1"}}}
    with pytest.raises(PolicyRefused):
        POLICY.check(body, {})
    assert OPEN.check(body, {}) == body


def test_node_ids_are_stripped_from_explained_hits():
    resp = {"hits": {"hits": [{"_id": "1", "_shard": "[n0deId][products][0]", "_node": "n0deId",
                               "_explanation": {"value": 1.0}}]}}
    hit = strip_node_ids(resp)["hits"]["hits"][0]
    assert hit == {"_id": "1", "_shard": "[products][0]", "_explanation": {"value": 1.0}}
    assert "n0deId" not in json.dumps(resp)


def test_only_the_allowed_indices_are_searched_whatever_the_spelling():
    POLICY.check_index("products")
    for index, words in [("orders", "not one of the proxied indices (products)"),
                         ("products,orders", "'orders' is not one of the proxied indices"),
                         ("prod*", "not one of the proxied indices"), ("_all", "not one of the proxied indices"),
                         (".kibana", "not searchable through the proxy"),
                         ("sidecar-decisions-2026.11.30", "not searchable through the proxy")]:
        with pytest.raises(PolicyRefused, match=words.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
            POLICY.check_index(index)
    decisions = ProxyPolicy(frozenset({"products", "sidecar-decisions-x"}), 100, 1000, 100, False,
                            ("sidecar-decisions",))
    with pytest.raises(PolicyRefused, match="not searchable"):  # the decision log, whatever the list says
        decisions.check_index("sidecar-decisions-x")


@pytest.mark.parametrize("query", [
    {"regexp": {"title": ".*shirt.*"}}, {"wildcard": {"title": {"value": "*shirt"}}},
    {"fuzzy": {"title": {"value": "shrt"}}}, {"query_string": {"query": "title:/sh.*t/"}},
    {"simple_query_string": {"query": "shirt~2"}}, {"match": {"title": {"query": "shirt", "fuzziness": "AUTO"}}},
])
def test_costly_text_queries_are_refused_unless_the_setting_opens_them(query):
    with pytest.raises(PolicyRefused, match="SIDECAR_PROXY_ALLOW_EXPENSIVE"):
        POLICY.check({"query": query}, {})
    assert OPEN.check({"query": query}, {})["query"] == query
    with pytest.raises(PolicyRefused, match="SIDECAR_PROXY_ALLOW_EXPENSIVE"):  # the same planted deep in a bool
        POLICY.check({"query": {"bool": {"filter": [{"bool": {"should": [query]}}]}}}, {})
