"""Fusing BM25 and kNN (sidecar/retrieval/fusion.py): the properties its docstring promises, and a
rule's ``fusion`` key. No OpenSearch."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.rerank.rule import FusionSpec, parse_rule
from sidecar.retrieval.fusion import MATCH_DEPTH, convex, fuse, match_share, rrf
from sidecar.retrieval.hits import Hits


def hits(ids: list[str], scores: list[float], titles: list[str] | None = None) -> Hits:
    titles = titles or [f"title {i}" for i in ids]
    return Hits(list(ids), np.asarray(scores, dtype=np.float64), [{"title": t} for t in titles], None,
                [None] * len(ids))


ranked = st.lists(st.integers(0, 40), unique=True, max_size=25).map(lambda xs: [f"d{x}" for x in xs])
SPECS = [FusionSpec(), FusionSpec(method="rrf"), FusionSpec(normalization="zscore"), FusionSpec(adaptive=False)]


@settings(max_examples=150, deadline=None)
@given(ranked, st.sampled_from(SPECS), st.booleans())
def test_one_empty_list_gives_the_other_in_its_own_order(ids, spec, empty_is_bm25):
    scores = sorted(np.linspace(1, 9, len(ids)).tolist(), reverse=True)
    full = hits(ids, scores)
    bm25, knn = (hits([], []), full) if empty_is_bm25 else (full, hits([], []))
    fused, _ = fuse("some words", bm25, knn, spec, window=100)
    assert fused.ids == ids


@settings(max_examples=200, deadline=None)
@given(ranked, ranked, st.data(), st.sampled_from(["minmax", "zscore"]),
       st.floats(0, 1), st.floats(0.01, 1))
def test_a_hit_scored_higher_in_either_half_never_fuses_lower(a, b, data, method, w_a, w_b):
    """Raise one hit's score in one list, the other scores unchanged: its fused score does not drop."""
    if not a:
        return
    sa = data.draw(st.lists(st.floats(0, 100), min_size=len(a), max_size=len(a)))
    sb = data.draw(st.lists(st.floats(0, 100), min_size=len(b), max_size=len(b)))
    k = data.draw(st.integers(0, len(a) - 1))
    bump = data.draw(st.floats(0, 50))

    def fused_score(scores_a):
        positions, scores = convex([a, b], [np.array(scores_a), np.array(sb)], [w_a, w_b], method)
        flat = a + b
        return dict(zip([flat[p] for p in positions.tolist()], scores.tolist()))[a[k]]

    raised = list(sa)
    raised[k] += bump
    assert fused_score(raised) >= fused_score(sa) - 1e-9


def test_a_hit_missing_from_a_list_ranks_below_that_lists_lowest():
    """kNN weight only: the kNN list's order, BM25's extra hits after it (not tied with its last)."""
    positions, _ = convex([["x", "y"], ["a", "b", "c"]], [np.array([5.0, 4.0]), np.array([0.9, 0.8, 0.8])], [0.0, 1.0])
    flat = ["x", "y", "a", "b", "c"]
    assert [flat[p] for p in positions.tolist()] == ["a", "b", "c", "x", "y"]


def test_rrf_still_reads_only_ranks():
    positions, scores = rrf([["a", "b"], ["b", "c"]])
    assert positions.tolist() == [1, 0, 3] and scores[0] == pytest.approx(1 / 62 + 1 / 61)


def test_match_share_counts_places_filled_with_every_word():
    titles = ["Nike Men Black Casual Shoes", "Puma Men Casual Shoes", "Nike Men Black Sports Shoes"]
    assert match_share("black casual shoes", titles, depth=3) == pytest.approx(1 / 3)
    assert match_share("the casual shoes", titles, depth=3) == pytest.approx(2 / 3)  # stop words left out
    assert match_share("casual shoes", titles[:2], depth=20) == pytest.approx(2 / 20)  # few hits: a low share
    assert match_share("sneakers", titles, depth=3) == 0.0 and match_share("", titles, depth=3) == 0.0
    assert match_share("ＣＡＳＵＡＬ shoes", titles, depth=2) == 1.0  # folded as the index folds


def test_words_the_titles_do_not_use_lean_on_knn_and_their_own_words_keep_bm25():
    bm25_titles = [f"Men Black Shoe {i}" for i in range(MATCH_DEPTH)]
    bm25 = hits([f"b{i}" for i in range(MATCH_DEPTH)], list(range(MATCH_DEPTH, 0, -1)), bm25_titles)
    knn = hits(["k0", "k1", "b5"], [0.9, 0.85, 0.8])
    fused, how = fuse("men black shoe", bm25, knn, FusionSpec(), window=10)
    assert how["match"] == 1.0 and how["weights"]["bm25"] > how["weights"]["knn"] and fused.ids[0] == "b0"
    fused, how = fuse("men hoodie", bm25, knn, FusionSpec(), window=10)  # no BM25 title holds 'hoodie'
    assert how["match"] == 0.0 and how["weights"] == {"bm25": 0.0, "knn": 1.0}
    assert fused.ids[:3] == ["k0", "k1", "b5"]
    _, how = fuse("men black shoe", bm25, knn, FusionSpec(adaptive=False, bm25=0.5, knn=0.5), window=10)
    assert how["weights"] == {"bm25": 0.5, "knn": 0.5} and "match" not in how


def test_a_rule_sets_fusion_and_bad_values_name_the_key():
    rule = parse_rule({"id": "r", "fusion": {"method": "rrf"}})
    assert rule.fusion == FusionSpec(method="rrf")
    assert parse_rule({"id": "r"}).fusion == FusionSpec()
    spec = parse_rule({"id": "r", "fusion": {"weights": {"bm25": 2}, "normalization": "zscore", "adaptive": False}}).fusion
    assert (spec.bm25, spec.knn, spec.normalization, spec.adaptive) == (2.0, FusionSpec.knn, "zscore", False)
    for bad, words in [({"method": "max"}, "fusion.method"), ({"weights": {"bm25": -1}}, "fusion.weights.bm25"),
                       ({"weights": {"bm25": 0, "knn": 0}}, "at least one weight"), ({"wieghts": {}}, "unknown key"),
                       ({"adaptive": "yes"}, "fusion.adaptive")]:
        with pytest.raises(ValueError, match=words):
            parse_rule({"id": "r", "fusion": bad})
