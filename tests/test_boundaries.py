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
