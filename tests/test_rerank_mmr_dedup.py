"""MMR against an obviously-correct implementation; near-duplicate grouping on real titles."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.rerank import rerank
from sidecar.rerank import dedup
from sidecar.rerank.mmr import mmr_select, unit_rows


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
    order, _ = mmr_select(rel, unit_rows(vecs), d, k)
    assert order == naive_mmr(rel, vecs, d, k)


def test_mmr_diversity_zero_is_relevance_order_and_one_spreads():
    vecs = np.array([[1, 0], [0.99, 0.01], [0, 1], [0.98, 0.02]], dtype=float)
    rel = np.array([1.0, 0.9, 0.5, 0.8])
    assert mmr_select(rel, unit_rows(vecs), 0.0, 4)[0] == [0, 1, 3, 2]
    assert mmr_select(rel, unit_rows(vecs), 0.7, 2)[0] == [0, 2]


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
    groups = dedup.group(dedup.signatures(titles, 64), 0.8).tolist()
    assert groups == [0, 0, 2, 0, 4]


def test_near_duplicates_on_real_fashion_titles(fashion_rows):
    """On real catalog titles, LSH grouping equals brute force (every pair's estimated Jaccard):
    no pair is grouped that brute force keeps apart, and almost no brute-force pair is missed."""
    titles = [r["title"] for r in fashion_rows[:1500]]
    sigs = dedup.signatures(titles, 128)
    groups = dedup.group(sigs, 0.8)
    est = (sigs[:, None, :] == sigs[None, :, :]).mean(axis=2)
    parent = list(range(len(titles)))  # a plain union-find as the reference

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(est >= 0.8, k=1))):
        parent[max(find(int(i)), find(int(j)))] = min(find(int(i)), find(int(j)))
    ref_groups = np.array([find(i) for i in range(len(titles))])
    same = groups[:, None] == groups[None, :]
    ref_same = ref_groups[:, None] == ref_groups[None, :]
    assert not np.any(same & ~ref_same), "LSH grouped a pair brute force does not"
    n_ref_pairs = (ref_same.sum() - len(titles)) // 2
    n_pairs = (same.sum() - len(titles)) // 2
    assert n_ref_pairs > 100, "the catalog repeats many titles: there must be near-duplicates"
    assert n_pairs >= 0.95 * n_ref_pairs
    # and grouped titles really are near-identical word sets
    def jaccard(a, b):
        sa, sb = set(dedup.shingles(a)), set(dedup.shingles(b))
        return len(sa & sb) / len(sa | sb)
    ii, jj = np.nonzero(np.triu(same, k=1))
    assert np.mean([jaccard(titles[i], titles[j]) for i, j in zip(ii[:500], jj[:500])]) > 0.85


def test_dedup_spreads_or_collapses_near_duplicates():
    titles = ["Puma Men Grey T-shirt"] * 4 + ["Nike Women Red Top", "Adidas Men Blue Shorts", "Titan Watch"]
    cands = [{"id": str(i), "score": 10.0 - i, "title": t} for i, t in enumerate(titles)]
    spread = rerank({"candidates": cands, "rule": {"id": "d", "lambda": 0, "dedup": {"threshold": 0.8}}, "size": 4})
    assert [h["id"] for h in spread["hits"]] == ["0", "4", "5", "6"]
    assert spread["dedup"] == {"groups": 4, "duplicates": 4, "collapsed": []}
    collapsed = rerank({"candidates": cands, "rule": {"id": "d", "dedup": {"collapse": True}}, "size": 10})
    assert [h["id"] for h in collapsed["hits"]] == ["0", "4", "5", "6"]
    assert collapsed["dedup"]["collapsed"] == ["1", "2", "3"]


def naive_agents_over_mmr(rel, vecs, d, agents_spec, lam, size):
    """Reference: recompute every marginal and the whole MMR order at every step."""
    n = len(rel)
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-30)
    placed: list[int] = []
    while len(placed) < min(size, n):
        def marg(j):
            m = (1 - d) * rel[j]
            if placed and d != 0:
                m -= d * max(float(unit[j] @ unit[s]) for s in placed)
            return m
        rest = [j for j in range(n) if j not in placed]
        order = sorted(rest, key=lambda j: (-marg(j), j))
        default = order[0]
        best = None
        if placed:
            for label, is_min, f, prop in agents_spec:
                k = sum(prop[j] for j in placed)
                dev = max(0.0, (len(placed) + 2) * f - k - 1) if is_min else max(0.0, k + 1 - (len(placed) + 2) * f)
                if dev == 0:
                    continue
                p = next((j for j in order if (prop[j] if is_min else not prop[j])), None)
                if p is None:
                    continue
                u = dev - lam * (marg(default) - marg(p))
                if u > 0 and (best is None or u > best[0]):
                    best = (u, p)
        placed.append(default if best is None else best[1])
    return placed


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 45), st.floats(0, 1), st.sampled_from([0.0, 0.3, 1.0]), st.integers(0, 2**31))
def test_agents_over_mmr_match_naive(n, d, lam, seed):
    from sidecar.rerank.agents import Agent, place_by_mmr
    from sidecar.rerank.mmr import MMRState

    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, 4))
    rel = rng.random(n)
    used = (rng.random(n) < 0.2).tolist()
    big = (rng.random(n) < 0.6).tolist()
    spec = [("used min 0.2", True, 0.2, used), ("big max 0.4", False, 0.4, big)]
    agents = [Agent(label, is_min, f, has=prop) for label, is_min, f, prop in spec]
    got = [p.index for p in place_by_mmr(MMRState(rel, unit_rows(vecs), d), agents, lam, n)]
    assert got == naive_agents_over_mmr(rel, vecs, d, spec, lam, n)
