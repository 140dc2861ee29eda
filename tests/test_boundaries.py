"""Boundaries a one-line change would move (issue 38's list; scripts/mutations.py applies those
changes and checks these tests catch them). No OpenSearch needed."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from sidecar.search import paging
from sidecar.search.contract import validate
from sidecar.rerank import dedup
from sidecar.rerank.tokens import jaccard, shingle_set
from sidecar.retrieval import facets, fusion
from sidecar.retrieval.base import Retrieved
from sidecar.retrieval.hits import Hits
from sidecar.rules import load_rules_dir
from sidecar.server.policy import PolicyRefused, ProxyPolicy
from sidecar.server.policy.tables import MAX_AGGS, MAX_BOOL_DEPTH

POLICY = ProxyPolicy(frozenset({"products"}), max_size=100, max_window=1000, max_buckets=100, allow_expensive=False,
                     hidden_prefixes=("sidecar-decisions",))


def ranked(n: int) -> paging.Ranked:
    return paging.Ranked([{"id": str(i)} for i in range(n)])


def test_has_next_at_its_boundaries():
    assert paging.has_next(ranked(21), 0, 20, 1000)  # one more item than the page: a next page
    assert not paging.has_next(ranked(20), 0, 20, 1000)  # exactly the page: none
    assert paging.has_next(ranked(1000), 960, 20, 1000)  # the next page ends exactly at the window
    assert not paging.has_next(ranked(1000), 970, 20, 1000)  # it would end past it


def test_a_page_ending_exactly_at_the_window_is_served():
    paging.check_window(980, 20, 1000)
    with pytest.raises(ValueError, match="from: from \\+ size = 1001"):
        paging.check_window(981, 20, 1000)


def test_knn_k_is_bounded_by_the_window():
    POLICY.check({"query": {"knn": {"vector": {"vector": [0.1], "k": 1000}}}}, {})
    with pytest.raises(PolicyRefused):
        POLICY.check({"query": {"knn": {"vector": {"vector": [0.1], "k": 1001}}}}, {})


def test_the_aggregation_count_at_its_bound():
    aggs = {f"a{i}": {"terms": {"field": "brand", "size": 1}} for i in range(MAX_AGGS)}
    POLICY.check({"aggs": aggs}, {})
    with pytest.raises(PolicyRefused, match=f"more than {MAX_AGGS} aggregations"):
        POLICY.check({"aggs": {**aggs, "one_more": {"terms": {"field": "brand", "size": 1}}}}, {})


# --- the rest of the list: each test names the one-line change it catches ---------------------

def _window_fetch(n: int):
    ids = [str(i) for i in range(n)]

    def fetch(w: int) -> Retrieved:
        w = min(w, n)
        return Retrieved(Hits(ids[:w], np.arange(w, 0, -1, dtype=np.float32), [{} for _ in range(w)], None, [None] * w),
                         total=n, exhausted=w >= n)
    return fetch


def test_a_later_windows_original_rank_is_its_place_in_retrieval():
    """Rule none pages over fixed windows: the hits of the second window keep their own rank in
    retrieval (101...), not their place among that window's fresh hits (1...)."""
    r = paging.rank(_window_fetch(250), None, 0, 1000, 150)
    assert [p["original_rank"] for p in r.placed] == list(range(1, 151))


def test_a_facet_range_excludes_its_upper_bound():
    docs = [{"price": p} for p in (0, 9.99, 10, 20)]
    out = facets.count({"price": {"ranges": [[0, 10], [10, None]]}}, lambda f: docs)
    assert [b["count"] for b in out["price"]] == [2, 2]  # [0, 10) and [10, ...): 10 is in the second


def test_terms_facet_ties_are_ordered_by_value_as_opensearch_does():
    docs = [{"brand": b} for b in ("Puma", "Adidas", "Puma", "Adidas", "Nike")]
    out = facets.count({"brand": {"size": 3}}, lambda f: docs)
    assert [b["value"] for b in out["brand"]] == ["Adidas", "Puma", "Nike"]


def test_weeks_start_on_monday():
    sunday = datetime(2026, 12, 6, 12, tzinfo=timezone.utc).timestamp()
    monday = datetime(2026, 12, 7, 0, tzinfo=timezone.utc).timestamp()
    assert facets._bucket_start(sunday, "week") == "2026-11-30"
    assert facets._bucket_start(monday, "week") == "2026-12-07"


def test_the_z_score_is_divided_by_the_deviation():
    z = fusion.normalised(np.array([1.0, 2.0, 3.0, 4.0, 10.0]), "zscore")
    assert abs(float(z.mean())) < 1e-12 and abs(float(z.std()) - 1.0) < 1e-12


def test_the_match_share_reads_no_more_places_than_the_window():
    """A window of 5 where all 5 titles hold the query's words: the share is 1, not 5/20."""
    titles = [{"title": f"black jacket {i}"} for i in range(30)]
    bm25 = Hits([f"b{i}" for i in range(30)], np.arange(30, 0, -1, dtype=np.float32), titles, None, [None] * 30)
    knn = Hits(["k0"], np.ones(1, dtype=np.float32), [{"title": "coat"}], None, [None])
    _, info = fusion.fuse("black jacket", bm25.take(range(5)), knn, fusion.FusionSpec(method="convex"), 5)
    assert info["match"] == 1.0


def test_a_later_rule_listing_the_same_query_is_tried(tmp_path):
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: shoes\n    match: {queries: ['black'], categories: [Shoes]}\n"
        "  - id: tops\n    match: {queries: ['black'], categories: [Topwear]}\n")
    rs = load_rules_dir(tmp_path)
    assert rs.match("black", {"category": "Topwear"}).rule.id == "tops"


def test_rule_categories_compare_case_blind(tmp_path):
    (tmp_path / "r.yaml").write_text("rules:\n  - id: shoes\n    match: {queries: ['black'], categories: [Shoes]}\n")
    assert load_rules_dir(tmp_path).match("black", {"category": "shoes"}).rule.id == "shoes"


def test_an_optional_group_is_not_required_by_the_prefilter(tmp_path):
    (tmp_path / "r.yaml").write_text("rules:\n  - id: tv\n    match: {patterns: ['tv(stand)?']}\n")
    assert load_rules_dir(tmp_path).match("smart tv").rule.id == "tv"


def test_index_is_refused_inside_data_parameters():
    ranges = {"aggs": {"p": {"range": {"field": "price", "ranges": [{"to": 10, "index": "secrets"}]}}}}
    with pytest.raises(PolicyRefused, match="'index' in aggs.p.range.ranges"):
        POLICY.check(ranges, {})


def test_bool_nesting_is_counted():
    def nest(n: int) -> dict:
        q: dict = {"match_all": {}}
        for _ in range(n):
            q = {"bool": {"must": [q]}}
        return {"query": q}
    POLICY.check(nest(MAX_BOOL_DEPTH), {})
    with pytest.raises(PolicyRefused, match="bool queries nest deeper"):
        POLICY.check(nest(MAX_BOOL_DEPTH + 1), {})


@pytest.mark.parametrize("event, field", [
    ({"action_name": "Click"}, "action_name"), ({"action_name": "click now"}, "action_name"),
    ({"action_name": "1click"}, "action_name")])
def test_the_action_name_pattern_is_anchored(event, field):
    body = {"events": [{"action_name": "click", "query_id": "q", **event}]}
    with pytest.raises(ValueError, match=field):
        validate("EventsRequest", body)


def test_an_events_batch_is_bounded():
    one = {"action_name": "click", "query_id": "q"}
    validate("EventsRequest", {"events": [one] * 1000})
    with pytest.raises(ValueError, match="events"):
        validate("EventsRequest", {"events": [one] * 1001})


def test_an_unparseable_event_time_is_refused():
    from sidecar.server.routes.events import checked

    now = datetime.now(timezone.utc)
    with pytest.raises(ValueError, match="timestamp"):
        checked([{"action_name": "click", "query_id": "q", "timestamp": "last tuesday"}], now)


def test_a_pair_exactly_at_the_jaccard_threshold_is_joined():
    a, b = "red cotton shirt", "red cotton shirt slim"  # 3 of 4 words: Jaccard 0.75 exactly
    assert jaccard(shingle_set(a), shingle_set(b)) == 0.75
    assert dedup.group(dedup.signatures([a, b], 64), 0.75, [a, b]).tolist() == [0, 0]


def test_a_pair_with_one_text_missing_is_decided_by_the_signatures():
    """dedup's stated guarantee: a pair where a text is missing is decided by the estimate (an
    exact Jaccard against an absent text would be 0)."""
    title = "Nike Men Black Running Shoes"
    sigs = dedup.signatures([title, title], 64)
    assert dedup.group(sigs, 0.8, [title, None]).tolist() == [0, 0]


def test_pairs_with_signatures_only_are_joined_by_their_estimate():
    a, b = ("Nike Men Black Running Shoes Size Ten Pack Of Two", "Nike Men Black Running Shoes Size Ten Pack Of Three")
    sigs = dedup.signatures([a, b], 64)
    assert not (sigs[0] == sigs[1]).all()  # not twins: only the estimate can join them
    assert dedup.group(sigs, 0.5, [None, None]).tolist() == [0, 0]


def test_the_digit_zero_is_a_token():
    assert shingle_set("size 0") == {"size", "0"}
    assert shingle_set("0 10 a0") == {"0", "10", "a0"}


@pytest.mark.parametrize("interval, start", [("day", "2026-08-15"), ("week", "2026-08-10"), ("month", "2026-08-01"),
                                             ("quarter", "2026-07-01"), ("year", "2026-01-01")])
def test_each_calendar_bucket_starts_where_opensearch_starts_it(interval, start):
    epoch = datetime(2026, 8, 15, 23, 59, tzinfo=timezone.utc).timestamp()  # a Saturday in Q3
    assert facets._bucket_start(epoch, interval) == start


@pytest.mark.parametrize("spec, message", [
    ({f"f{i}": {"size": 1} for i in range(21)}, "facets: 21 facets; at most 20"),
    ({"brand": {"size": 101}}, "facets.brand.size: 101 is over 100 (SIDECAR_PROXY_MAX_BUCKETS)"),
    ({"price": {"ranges": [[i, i + 1] for i in range(21)]}}, "facets.price.ranges: at most 20 ranges"),
    ({"price": {"ranges": [[0, "soon"]]}}, "facets.price.ranges[0]: 'soon' is not a number or an ISO date"),
    ({"price": {"ranges": [[5, 5]]}}, "facets.price.ranges[0]: [5, 5) is empty: its start must be below its end"),
    ({"brand": {"interval": "month"}}, "facets.brand.interval: only on a date field (listed_at)"),
])
def test_facet_bounds_are_refused_naming_the_facet(spec, message):
    with pytest.raises(ValueError) as err:
        facets.check(spec, 100)
    assert str(err.value) == message
    facets.check({"brand": {"size": 100}, "price": {"ranges": [[None, 5], [5, None]]}, "listed_at": {"interval": "week"}},
                 100)


def test_selected_buckets_are_marked_as_the_filters_hold_them():
    counted = {"brand": [{"value": "Puma", "count": 3}, {"value": "Nike", "count": 2}],
               "price": [{"value": [0, 500], "from": 0, "to": 500, "count": 4},
                         {"value": [500, None], "from": 500, "to": None, "count": 1}],
               "colour": [{"value": "Red", "count": 1}], "season": [{"value": "Summer", "count": 1}]}
    marked = facets.mark_selected(counted, {"brand": ["puma"], "price": {"gte": 500}, "colour": "RED",
                                            "season": {"gte": 1}})
    assert [b["selected"] for b in marked["brand"]] == [True, False]  # folded as filters match
    assert [b["selected"] for b in marked["price"]] == [False, True]
    assert [b["selected"] for b in marked["colour"]] == [True]
    assert [b["selected"] for b in marked["season"]] == [False]  # a range on a terms facet selects no value
    again = facets.mark_selected({"price": [{"value": [0, 500], "from": 0, "to": 500, "count": 4}]},
                                 {"price": {"gte": 0, "lt": 500, "boost": 1}})
    assert again["price"][0]["selected"] is False  # only gte/lt bounds compare with a [from, to) bucket


def test_counts_in_memory_over_list_values_and_missing_ones():
    docs = [{"colour": ["Red", "Blue"], "price": 10}, {"colour": "Red", "price": None}, {"colour": None},
            {"listed_at": "2026-08-15T10:00:00Z"}, {"listed_at": "2026-08-01"}, {"listed_at": "not a date"}]
    out = facets.count({"colour": {"size": 1}, "price": {"ranges": [[None, 10], [10, None]]},
                        "listed_at": {"interval": "month"}}, lambda f: docs)
    assert out["colour"] == [{"value": "Red", "count": 2}]
    assert [b["count"] for b in out["price"]] == [0, 1]
    assert out["listed_at"] == [{"value": "2026-08-01", "count": 2}]


def test_windows_add_up_their_time_their_dedup_and_stop_when_retrieval_runs_dry():
    ids = [str(i) for i in range(30)]
    calls: list[int] = []

    def fetch(w: int) -> Retrieved:
        calls.append(w)
        w = min(w, 30)
        return Retrieved(Hits(ids[:w], np.arange(w, 0, -1, dtype=np.float32), [{} for _ in range(w)], None, [None] * w),
                         took_ms=2.5, total=30, exhausted=w >= 30)

    ticks = iter(range(100))
    seen_prior: list[int] = []

    def rerank(hits: Hits, n: int, prior: Hits | None) -> dict:
        seen_prior.append(0 if prior is None else len(prior))
        keep = hits.ids[::2][:n]  # half of each window survives, as a collapse would leave it
        return {"hits": [{"id": i} for i in keep], "dedup": {"groups": len(keep), "duplicates": len(hits) - len(keep),
                                                             "collapsed": hits.ids[1::2]}}

    r = paging.rank(fetch, rerank, 10, 1000, 12, clock=lambda: float(next(ticks)))
    assert calls == [10, 20, 30]  # each window larger, until retrieval has no more
    assert seen_prior == [0, 10, 20]  # each later window sees the earlier ones as prior
    assert r.took_ms == 7.5 and r.rerank_seconds == 3.0 and r.window == 30
    assert [p["id"] for p in r.placed] == [str(i) for i in range(0, 24, 2)]  # 5 + 5 + the 2 still needed
    assert r.dedup == {"groups": 12, "duplicates": 18, "collapsed": [str(i) for i in range(1, 30, 2)]}


def test_retrieval_order_pages_say_so():
    r = paging.rank(_window_fetch(5), None, 0, 1000, 3)
    assert [p["reason"] for p in r.placed] == [{"type": "retrieval"}] * 3


def test_hybrid_fusion_weights_at_their_edges():
    titles = [{"title": "black jacket"}, {"title": "red coat"}]
    bm25 = Hits(["a", "b"], np.array([3.0, 1.0], dtype=np.float32), titles, None, [None, None])
    knn = Hits(["b", "c"], np.array([0.9, 0.5], dtype=np.float32), [titles[1], {"title": "x"}], None, [None, None])
    none = Hits([], np.zeros(0, dtype=np.float32), [], None, [])
    _, info = fusion.fuse("black jacket", bm25, knn, fusion.FusionSpec(method="rrf"), 10)
    assert info == {"method": "rrf"}
    _, info = fusion.fuse("black jacket", bm25, none, fusion.FusionSpec(), 10)
    assert info["weights"] == {"bm25": 1.0, "knn": 0.0}  # no kNN list: BM25 alone, whatever its match share
    fused, info = fusion.fuse("green hat", bm25, knn, fusion.FusionSpec(bm25=1.0, knn=0.0), 10)
    assert info["weights"] == {"bm25": 0.0, "knn": 1.0} and fused.ids[0] == "b"  # no weight left: kNN decides
    _, info = fusion.fuse("green hat", bm25, none, fusion.FusionSpec(bm25=1.0, knn=0.0), 10)
    assert info["weights"] == {"bm25": 1.0, "knn": 0.0}
    _, info = fusion.fuse("black jacket", bm25, knn, fusion.FusionSpec(normalization="zscore"), 10)
    assert info["normalization"] == "zscore"
    positions, scores = fusion.convex([["a", "b"], ["b", "c"]], [np.array([3.0, 1.0]), np.array([0.9, 0.5])],
                                      [0.5, 0.5])
    # b is in both lists (0.5 x 0 + 0.5 x 1); a hit missing from a list counts just below its lowest
    assert positions.tolist() == [1, 0, 3] and scores.round(4).tolist() == [0.5, 0.4995, -0.0005]


def test_a_vector_number_past_float32_is_a_400_naming_the_field_without_a_warning_in_the_log():
    import warnings

    from sidecar.search.pipeline import parse_vector

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's cast overflow would be a RuntimeWarning line in the server's log
        with pytest.raises(ValueError, match="^like_vector: must contain finite float32"):
            parse_vector([1e39, 1.0], "like_vector")
        assert parse_vector([3.4e38, 1.0]).dtype == np.float32  # the largest float32 is taken
