"""Boundaries a one-line change would move (issue 38's list; scripts/mutations.py applies those
changes and checks these tests catch them). No OpenSearch needed."""
from __future__ import annotations

import pytest

from sidecar import paging
from sidecar.server.policy import MAX_AGGS, PolicyRefused, ProxyPolicy

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
