"""MMR against an obviously-correct implementation; near-duplicate grouping on real titles."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.rerank import rerank
from sidecar.rerank import dedup
from sidecar.rerank.agents import diversify
from sidecar.rerank.batch import unit_rows
from sidecar.rerank.strategies import STRATEGIES
from sidecar.rerank.tokens import jaccard, shingle_set


def naive_mmr(rel, vecs, d, k):
    """Textbook MMR: recompute every cosine from scratch at every step."""
    def cos(a, b):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return 0.0 if na == 0 or nb == 0 else float(np.dot(a, b) / (na * nb))

    selected: list[int] = []
    remaining = list(range(len(rel)))
    while remaining and len(selected) < k:
        def score(j):
            if not selected:
                return (1 - d) * rel[j]
            return (1 - d) * rel[j] - d * max(cos(vecs[j], vecs[s]) for s in selected)
        best = max(remaining, key=lambda j: (score(j), -j))
        selected.append(best)
        remaining.remove(best)
    return selected


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(2, 8), st.floats(0, 1), st.integers(1, 40), st.integers(0, 2**31))
def test_mmr_matches_naive(n, dim, d, k, seed):
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, dim))
    rel = rng.random(n)
    assert diversify("mmr", rel, unit_rows(vecs), d, k) == naive_mmr(rel, vecs, d, k)


def test_mmr_diversity_zero_is_relevance_order_and_one_spreads():
    vecs = np.array([[1, 0], [0.99, 0.01], [0, 1], [0.98, 0.02]], dtype=float)
    rel = np.array([1.0, 0.9, 0.5, 0.8])
    assert diversify("mmr", rel, unit_rows(vecs), 0.0, 4) == [0, 1, 3, 2]
    assert diversify("mmr", rel, unit_rows(vecs), 0.7, 2) == [0, 2]


def test_rule_with_mmr_uses_query_vector_relevance_and_explains():
    cands = [
        {"id": "a", "score": 3.0, "vector": [1.0, 0.0]},
        {"id": "a2", "score": 2.9, "vector": [1.0, 0.01]},
        {"id": "b", "score": 1.0, "vector": [0.0, 1.0]},
    ]
    rule = {"id": "m", "mmr": {"diversity": 0.6}}
    resp = rerank({"candidates": cands, "rule": rule, "size": 3, "explain": True})
    assert [h["id"] for h in resp["hits"]] == ["a", "b", "a2"]
    assert resp["hits"][1]["reason"]["type"] == "mmr"
    assert resp["hits"][1]["reason"]["marginal"] == pytest.approx(0.4 * 0.0 - 0.6 * 0.0)
    # a query vector pointing at b makes b the most relevant first pick
    resp = rerank({"candidates": cands, "rule": rule, "size": 1, "query_vector": [0.0, 1.0]})
    assert resp["hits"][0]["id"] == "b"


def test_mmr_needs_vectors():
    with pytest.raises(ValueError, match="no 'vector'.*uses MMR"):
        rerank({"candidates": [{"id": "a", "score": 1.0}], "rule": {"id": "m", "mmr": {"diversity": 0.5}}})


def test_agents_over_mmr_honour_constraints():
    rng = np.random.default_rng(7)
    cands = [{"id": str(i), "score": 100.0 - i, "vector": rng.normal(size=8).tolist(),
              "fields": {"brand": "big" if i < 30 else f"b{i}"}} for i in range(40)]
    rule = {"id": "m", "lambda": 0, "mmr": {"diversity": 0.3}, "constraints": [{"field": "brand", "value": "big", "max": 0.5}]}
    hits = rerank({"candidates": cands, "rule": rule, "size": 20})["hits"]
    assert sum(int(h["id"]) < 30 for h in hits) <= 11  # at most half, plus the look-ahead's first slot


def test_signature_roundtrip_and_on_the_fly_equals_stored():
    sig = dedup.signatures(["Puma Men Grey T-shirt"], 64)[0]
    assert dedup.decode_signature(dedup.encode_signature(sig), 64).tolist() == sig.tolist()
    assert dedup.decode_signature(sig.tolist(), 64).tolist() == sig.tolist()
    with pytest.raises(ValueError, match="num_perm is 128"):
        dedup.decode_signature(dedup.encode_signature(sig), 128)


def test_grouping_is_transitive_and_stable():
    titles = ["Nike Men Black Running Shoes", "Nike Men Black Running Shoes", "Adidas Women Blue Top",
              "Nike Men Black Running Shoes ", "Titan Men Watch"]
    groups = dedup.group(dedup.signatures(titles, 64), 0.8, titles).tolist()
    assert groups == [0, 0, 2, 0, 4]


def test_pairs_are_verified_by_exact_jaccard():
    """4 of 5 words shared: Jaccard 4/6 = 0.67 < 0.8, so never one group, whatever MinHash
    estimates; 5 of 6 shared (Jaccard 5/6) always is."""
    a, b = "Puma Men Grey Running Tshirt", "Puma Men Grey Running Shorts"
    c = "Puma Men Grey Running Tshirt Pack"
    sets = [shingle_set(t) for t in (a, b, c)]
    assert jaccard(sets[0], sets[1]) < 0.8 <= jaccard(sets[0], sets[2])
    for num_perm in (8, 16, 64, 256):
        assert dedup.group(dedup.signatures([a, b, c], num_perm), 0.8, [a, b, c]).tolist() == [0, 1, 0]


def test_candidates_without_text_or_signature_are_nobodys_duplicate():
    cands = [{"id": str(i), "score": 10.0 - i} for i in range(5)]  # no title, no signature
    cands.append({"id": "t", "score": 1.0, "title": ""})
    resp = rerank({"candidates": cands, "rule": {"id": "d", "dedup": {"collapse": True}}, "size": 10})
    assert [h["id"] for h in resp["hits"]] == ["0", "1", "2", "3", "4", "t"]
    assert resp["dedup"]["collapsed"] == []
    # a stored signature without text is compared by its estimate
    sig = dedup.encode_signature(dedup.signatures(["Titan Men Watch"], 64)[0])
    two = [{"id": "a", "score": 2.0, "signature": sig}, {"id": "b", "score": 1.0, "signature": sig}]
    resp = rerank({"candidates": two, "rule": {"id": "d", "dedup": {"collapse": True}}, "size": 10})
    assert resp["dedup"]["collapsed"] == ["b"]


def test_band_layout_keeps_misses_at_the_threshold_rare():
    for t in (0.5, 0.7, 0.8, 0.9):
        for num_perm in (16, 64, 128):
            bands, rows = dedup.band_layout(t, num_perm)
            assert bands * rows <= num_perm
            assert (1 - t ** rows) ** bands <= dedup.MAX_BAND_MISS or rows == 1


def test_near_duplicates_on_real_fashion_titles(fashion_rows):
    """On real catalog titles, grouping equals brute force over every pair's exact token Jaccard:
    nothing is grouped that brute force keeps apart, and under 1% of brute-force pairs are missed."""
    titles = [r["title"] for r in fashion_rows[:1500]]
    sets = [shingle_set(t) for t in titles]
    groups = dedup.group(dedup.signatures(titles, 64), 0.8, titles)
    parent = list(range(len(titles)))  # a plain union-find as the reference

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(titles)):
        for j in range(i + 1, len(titles)):
            if jaccard(sets[i], sets[j]) >= 0.8:
                parent[max(find(i), find(j))] = min(find(i), find(j))
    ref_groups = np.array([find(i) for i in range(len(titles))])
    same = groups[:, None] == groups[None, :]
    ref_same = ref_groups[:, None] == ref_groups[None, :]
    assert not np.any(same & ~ref_same), "grouped a pair brute force does not"
    n_ref_pairs = (ref_same.sum() - len(titles)) // 2
    n_pairs = (same.sum() - len(titles)) // 2
    assert n_ref_pairs > 100, "the catalog repeats many titles: there must be near-duplicates"
    assert n_pairs >= 0.99 * n_ref_pairs


def test_dedup_spreads_or_collapses_near_duplicates():
    titles = ["Puma Men Grey T-shirt"] * 4 + ["Nike Women Red Top", "Adidas Men Blue Shorts", "Titan Watch"]
    cands = [{"id": str(i), "score": 10.0 - i, "title": t} for i, t in enumerate(titles)]
    spread = rerank({"candidates": cands, "rule": {"id": "d", "lambda": 0, "dedup": {"threshold": 0.8}}, "size": 4})
    assert [h["id"] for h in spread["hits"]] == ["0", "4", "5", "6"]
    assert spread["dedup"] == {"groups": 4, "duplicates": 4, "collapsed": []}
    collapsed = rerank({"candidates": cands, "rule": {"id": "d", "dedup": {"collapse": True}}, "size": 10})
    assert [h["id"] for h in collapsed["hits"]] == ["0", "4", "5", "6"]
    assert collapsed["dedup"]["collapsed"] == ["1", "2", "3"]


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 45), st.floats(0, 1), st.sampled_from([0.0, 0.3, 1.0]), st.integers(0, 2**31))
def test_agents_over_mmr_match_the_reference(n, d, lam, seed):
    """Version 3 over the MMR order equals the plain pseudo-code with every marginal recomputed."""
    from sidecar.rerank.agents import Agent, place

    from reference_agents import Spec, mmr_order
    from reference_agents import place as reference_place

    rng = np.random.default_rng(seed)
    unit = unit_rows(rng.normal(size=(n, 4)))
    rel = rng.random(n)
    used = rng.random(n) < 0.2
    big = rng.random(n) < 0.6
    brand = rng.integers(0, 4, size=n)
    agents = [Agent("used min 0.2", "min", 0.2, has=used), Agent("big max 0.4", "max", 0.4, has=big),
              Agent("brand any 0.3", "any", 0.3, codes=brand.astype(np.int64), n_values=4)]
    specs = [Spec("min", 0.2, prop=used.tolist()), Spec("max", 0.4, prop=big.tolist()),
             Spec("any", 0.3, value=brand.tolist())]
    mmr = STRATEGIES["mmr"]
    got = [p.index for p in place(agents, lam, n, mmr, mmr.prepare(rel, unit, d, n))]
    assert got == reference_place(specs, lam, n, n, mmr_order(rel, unit, d))


def test_a_later_window_collapses_duplicates_of_an_earlier_one():
    """paging reranks window 2 with window 1's candidates as ``prior``: a listing duplicating one
    window 1 held is collapsed, the rest are placed; window 1's own result is unchanged."""
    from sidecar.rerank import candidates_batch, parse_rule, rerank_batch

    rule = parse_rule({"id": "d", "dedup": {"collapse": True}})
    first = [{"id": "a", "score": 2.0, "title": "Puma Men Grey T-shirt", "fields": {}},
             {"id": "b", "score": 1.0, "title": "Titan Men Watch", "fields": {}}]
    second = [{"id": "c", "score": 0.9, "title": "Puma Men Grey T-shirt", "fields": {}},
              {"id": "d", "score": 0.8, "title": "Nike Women Red Top", "fields": {}}]
    alone = rerank_batch(candidates_batch(first, rule), rule, size=10)
    assert [h["id"] for h in alone["hits"]] == ["a", "b"]
    nxt = rerank_batch(candidates_batch(second, rule), rule, size=10, prior=candidates_batch(first, rule))
    assert [h["id"] for h in nxt["hits"]] == ["d"] and nxt["dedup"]["collapsed"] == ["c"]
