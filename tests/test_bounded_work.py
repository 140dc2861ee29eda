"""Issue 36 without OpenSearch: every amount of work a client can ask for is bounded before
anything is sent or encoded (the proxy's budget, the encoder's texts and word pieces, the query
after Unicode normalisation), client mistakes are 400s naming the field, and the encoder's cache
is bounded in bytes and keyed by what the model reads. The attacks against a real server are
tests/test_zz_attacks.py and bench/bench_attack.py; the run dir's disk is tests/test_zz_disk.py."""
from __future__ import annotations

import pytest
from opensearchpy.exceptions import TransportError

from sidecar.search.limits import MAX_ENCODED_PIECES, MAX_ENCODED_TEXTS, LimitExceeded, Limits
from sidecar.server.policy import PolicyRefused, ProxyPolicy
from sidecar.server.policy.tables import (BUCKETS_PER_SEARCH, MAX_INNER_HITS, MAX_NAMED_FILTERS, MAX_RANGES,
                                          MAX_SKETCH_WORK)
from sidecar.server.proxy import msearch_lines, neural_texts

POLICY = ProxyPolicy(frozenset({"products"}), max_size=100, max_window=1000, max_buckets=100, allow_expensive=False,
                     hidden_prefixes=("sidecar-decisions",))


def refused(body: dict, rule: str, params: dict | None = None) -> str:
    with pytest.raises(PolicyRefused) as err:
        POLICY.check(body, params or {})
    assert err.value.rule == rule, str(err.value)
    return str(err.value)


# --- the proxy's budget --------------------------------------------------------------------

def test_ranges_and_named_filters_are_counted():
    ranges = [{"from": i, "to": i + 1} for i in range(MAX_RANGES)]
    POLICY.check({"aggs": {"p": {"range": {"field": "price", "ranges": ranges}}}}, {})
    refused({"aggs": {"p": {"range": {"field": "price", "ranges": ranges + [{"from": 0}]}}}}, "ranges")
    refused({"aggs": {"p": {"date_range": {"field": "listed_at", "ranges": ranges + [{"from": 0}]}}}}, "ranges")
    filters = {f"f{i}": {"term": {"brand": str(i)}} for i in range(MAX_NAMED_FILTERS)}
    POLICY.check({"aggs": {"f": {"filters": {"filters": filters}}}}, {})
    refused({"aggs": {"f": {"filters": {"filters": {**filters, "one_more": {"match_all": {}}}}}}}, "filters")
    refused({"aggs": {"f": {"filters": {"filters": list(filters.values()) + [{"match_all": {}}]}}}}, "filters")


def test_buckets_multiply_through_nesting():
    limit = BUCKETS_PER_SEARCH * POLICY.max_buckets
    # a facets panel: several terms aggregations side by side
    POLICY.check({"aggs": {f"t{i}": {"terms": {"field": "brand", "size": 100}} for i in range(10)}}, {})
    # terms of 100 inside terms of 100 make 10,000 buckets
    msg = refused({"aggs": {"a": {"terms": {"field": "brand", "size": 100},
                                  "aggs": {"b": {"terms": {"field": "colour", "size": 100}}}}}}, "buckets")
    assert "10100 buckets" in msg and str(limit) in msg
    # terms default to 10 buckets; a range makes one per range
    POLICY.check({"aggs": {"a": {"terms": {"field": "brand"}, "aggs": {"b": {"terms": {"field": "colour",
                                                                                       "size": 100}}}}}}, {})
    refused({"aggs": {"a": {"range": {"field": "price", "ranges": [{"to": i} for i in range(30)]},
                            "aggs": {"b": {"terms": {"field": "colour", "size": 100}}}}}}, "buckets")
    # a histogram's count is unknown: what nests in it counts as max_buckets of it
    refused({"aggs": {"h": {"histogram": {"field": "price", "interval": 1, "min_doc_count": 1},
                            "aggs": {"b": {"terms": {"field": "colour", "size": 100}}}}}}, "buckets")


def test_a_histogram_fills_empty_buckets_only_within_a_bound():
    for body in ({"histogram": {"field": "price", "interval": 0.001}},
                 {"histogram": {"field": "price", "interval": 1, "hard_bounds": {"min": 0, "max": 1e9}}},
                 {"date_histogram": {"field": "listed_at", "fixed_interval": "1ms"}},
                 {"date_histogram": {"field": "listed_at", "fixed_interval": "1d", "min_doc_count": 0}}):
        refused({"aggs": {"h": body}}, "min_doc_count")
    for body in ({"histogram": {"field": "price", "interval": 0.001, "min_doc_count": 1}},
                 {"histogram": {"field": "price", "interval": 100, "hard_bounds": {"min": 0, "max": 10000}}},
                 {"date_histogram": {"field": "listed_at", "calendar_interval": "month", "min_doc_count": "1"}}):
        POLICY.check({"aggs": {"h": body}}, {})
    refused({"aggs": {"h": {"histogram": {"field": "price", "interval": 1, "min_doc_count": [1]}}}},
            "min_doc_count")


def test_top_hits_count_in_every_bucket_they_sit_in():
    POLICY.check({"size": 0, "aggs": {"a": {"terms": {"field": "brand", "size": 10},
                                            "aggs": {"top": {"top_hits": {"size": 100}}}}}}, {})
    msg = refused({"size": 10, "aggs": {"a": {"terms": {"field": "brand", "size": 100},
                                              "aggs": {"top": {"top_hits": {"size": 20}}}}}}, "hits")
    assert "2010 hits" in msg
    # the default top_hits size is 3: 100 buckets x 3 + a page of 100 fits; 400 buckets' worth does not
    POLICY.check({"size": 100, "aggs": {"a": {"terms": {"field": "brand", "size": 100},
                                              "aggs": {"top": {"top_hits": {}}}}}}, {})


def test_inner_hits_count_for_every_page_hit():
    inner = {"name": "x", "size": 10}
    POLICY.check({"size": 10, "collapse": {"field": "brand", "inner_hits": [inner, {**inner, "name": "y"}]}}, {})
    refused({"size": 100, "collapse": {"field": "brand", "inner_hits": {**inner, "size": 10}}}, "hits")
    refused({"collapse": {"field": "brand", "inner_hits": [{**inner, "name": str(i)} for i in range(MAX_INNER_HITS + 1)]}},
            "inner_hits")


def test_cardinality_sketches_are_bounded():
    POLICY.check({"aggs": {"c": {"cardinality": {"field": "brand", "precision_threshold": 40000}}}}, {})
    refused({"aggs": {"c": {"cardinality": {"field": "brand", "precision_threshold": 40001}}}},
            "cardinality.precision_threshold")
    msg = refused({"aggs": {"a": {"terms": {"field": "brand", "size": 100},
                                  "aggs": {"c": {"cardinality": {"field": "seller", "precision_threshold": 40000}}}}}},
                  "precision_threshold")
    assert str(MAX_SKETCH_WORK) in msg


def test_numbers_past_64_bits_are_refused_anywhere():
    refused({"terminate_after": 1e300}, "terminate_after")
    refused({"track_total_hits": 1e20}, "track_total_hits")
    refused({"query": {"range": {"price": {"gte": 10 ** 30}}}}, "gte")
    refused({"query": {"bool": {"filter": [{"terms": {"seller": [1, 2 ** 64]}}]}}}, "seller")
    POLICY.check({"query": {"range": {"price": {"gte": 2 ** 63 - 1, "lte": 1e300}}}}, {})  # a double is a double


def test_source_in_shapes_opensearch_reads():
    for good in (True, False, "title", ["title", "brand*"], {"includes": ["title"], "excludes": "vector"}):
        POLICY.check({"_source": good}, {})
    for bad in ([["a"]], [[["a"]]], {"includes": [{"a": 1}]}, 5, {"fields": ["a"]}):
        refused({"_source": bad}, "_source")
    refused({"aggs": {"t": {"top_hits": {"_source": [["a"]]}}}}, "_source")
    refused({"collapse": {"field": "brand", "inner_hits": {"name": "x", "_source": [["a"]]}}}, "_source")


def test_every_prefix_query_has_a_prefix_of_three():
    for body in ({"query": {"match_phrase_prefix": {"title": "black j"}}},
                 {"query": {"match_phrase_prefix": {"title": {"query": "a"}}}},
                 {"query": {"match_bool_prefix": {"title": "red sh"}}},
                 {"query": {"multi_match": {"query": "nike s", "type": "phrase_prefix", "fields": ["title"]}}},
                 {"query": {"prefix": {"title": "ab"}}}):
        refused(body, "prefix")
    POLICY.check({"query": {"match_phrase_prefix": {"title": "black jac"}}}, {})
    POLICY.check({"query": {"multi_match": {"query": "nike s", "type": "best_fields", "fields": ["title"]}}}, {})
    refused({"query": {"match_phrase_prefix": {"title": {"query": "black jac", "max_expansions": 10000}}}},
            "match_phrase_prefix.max_expansions")


# --- the encoder's budget ------------------------------------------------------------------

def pieces(text: str) -> int:
    return len(text.split()) + 2


def test_encoded_texts_are_counted_before_any_is_encoded():
    limits = Limits()
    limits.check_encoding([("a", "red shirt")] * MAX_ENCODED_TEXTS, pieces)
    with pytest.raises(LimitExceeded, match=rf"texts to encode in one request; the limit is {MAX_ENCODED_TEXTS}"):
        limits.check_encoding([("a", "red shirt")] * (MAX_ENCODED_TEXTS + 1), pieces)
    with pytest.raises(LimitExceeded, match=f"more than {MAX_ENCODED_PIECES} word pieces"):
        limits.check_encoding([("q1", "w " * 300), ("q2", "w " * 300)], pieces)
    counted = []
    with pytest.raises(LimitExceeded, match="max_query_chars|SIDECAR_MAX_QUERY_CHARS"):  # 900 KB: never tokenized
        limits.check_encoding([("q", "x" * 900_000)], lambda t: counted.append(t) or 1)
    assert counted == []


def test_neural_texts_are_found_anywhere_in_a_body():
    body = {"query": {"bool": {"should": [{"neural": {"vector": {"query_text": "red shirt", "k": 10}}},
                                          {"match": {"title": "shirt"}}],
                               "filter": [{"neural": {"vector": {"query_text": "blue", "k": 5}}}]}}}
    assert [t for _, t in neural_texts(body)] == ["red shirt", "blue"]
    assert neural_texts(body)[0][0] == "query.bool.should.neural.vector.query_text"
    deep: dict = {"neural": {"v": {"query_text": "x"}}}
    for _ in range(5000):  # deeper than Python's recursion: walked without recursion
        deep = {"bool": {"must": [deep]}}
    assert len(neural_texts(deep)) == 1


def test_a_query_is_bounded_after_unicode_normalisation():
    limits = Limits()
    with pytest.raises(LimitExceeded, match="NFKC"):
        limits.check_query("\ufdfa" * 1024)  # one character, 18 after NFKC
    with pytest.raises(LimitExceeded, match="NFKC"):  # 1,100 terms once normalised, 1,000 characters before
        limits.check_query("\ufdfa " * 200 + "w " * 300)
    limits.check_query("ｐｕｍａ shoes")


# --- _msearch and OpenSearch's errors --------------------------------------------------------

def test_msearch_takes_an_empty_header_line_as_opensearch_does():
    raw = b'{"index": "b"}\n{"size": 1}\n\n{"query": {"match_all": {}}}\n'
    assert msearch_lines(raw, "a") == [("b", {"size": 1}, {}), ("a", {"query": {"match_all": {}}}, {})]
    assert msearch_lines(b'\n{}\n{"size": 1}\n', "a") == [("a", {"size": 1}, {})]  # one empty first line: skipped
    assert msearch_lines(b'{}\n{"size": 1}\n\n', "a") == [("a", {"size": 1}, {})]  # a blank line after the last
    with pytest.raises(ValueError, match="no search line"):
        msearch_lines(b'{}\n{"size": 1}\n{"index": "a"}\n', "a")
    with pytest.raises(ValueError, match="at most 10"):
        msearch_lines(b"\n{}\n" * 100_000, "a")


def test_opensearch_errors_of_the_clients_making_are_400s():
    from flask import Flask

    from sidecar.server.routes.proxy import client_error

    too_many = {"error": {"type": "search_phase_execution_exception", "root_cause": [],
                          "caused_by": {"type": "too_many_buckets_exception", "reason": "too many"}}, "status": 503}
    unparsable = {"error": {"type": "illegal_state_exception", "reason": "Can't get text on a START_ARRAY"},
                  "status": 500}
    internal = {"error": {"type": "some_internal_exception", "reason": "boom"}, "status": 500}
    with Flask("t").app_context():
        assert client_error(TransportError(503, "search_phase_execution_exception", too_many))[1] == 400
        assert client_error(TransportError(500, "illegal_state_exception", unparsable))[1] == 400
        assert client_error(TransportError(500, "some_internal_exception", internal))[1] == 503
        assert client_error(TransportError(503, "unavailable", {"error": {"type": "x"}, "status": 503}))[1] == 503
        assert client_error(TransportError(429, "es_rejected_execution_exception", {}))[1] == 429
        assert client_error(TransportError(404, "index_not_found_exception", {}))[1] == 404


# --- the encoder's cache -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoder():
    from sidecar.encoder import load

    return load("minilm", cache_bytes=64 * 1024)


def test_the_cache_is_keyed_by_what_the_model_reads(encoder):
    long = "black leather jacket " * 200  # far past 256 word pieces
    first = encoder.query(long)
    assert encoder.query(long + " and a hat") is first  # the same 256 pieces: one entry
    assert len(encoder.pieces(long)) == encoder.max_length


def test_the_cache_is_bounded_in_bytes(encoder):
    for i in range(200):
        encoder.query(f"query number {i} " + "word " * 300)
    entries, size = encoder.cache_stats()
    assert size <= 64 * 1024 and 0 < entries < 200


def test_lookup_then_compute_is_query(encoder):
    import numpy as np

    ids, hit = encoder.lookup("a red kurta for women")
    vec = hit if hit is not None else encoder.compute(ids)
    assert np.allclose(vec, encoder.encode(["a red kurta for women"])[0], atol=1e-5)
    assert encoder.lookup("a red kurta for women")[1] is not None
