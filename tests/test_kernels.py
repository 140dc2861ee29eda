"""Every compiled kernel against its plain twin: MinHash against datasketch, MMR, DPP and MSD
against pyversity and plain twins, the agent loop (every base order) against the pseudo-code
reference, and the JSON contract against the columnar one."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_agents import ORDERS, Spec, mmr_order, score_order
from reference_agents import place as reference_place
from sidecar.rerank import CandidateBatch, candidates_batch, parse_rule, rerank, rerank_batch
from sidecar.rerank import dedup, minhash
from sidecar.rerank.agents import Agent, diversify, place
from sidecar.rerank.batch import unit_rows
from sidecar.rerank.strategies import STRATEGIES
from sidecar.rerank.tokens import shingle_set

texts = st.one_of(st.none(), st.text(max_size=40),
                  st.lists(st.sampled_from(["Nike", "men", "BLACK", "shoe", "Tshirt", "42", "café", "x-y"]),
                           max_size=8).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(texts, max_size=12), st.sampled_from([8, 64, 128]), st.integers(1, 3))
def test_minhash_equals_datasketch(batch, num_perm, shingle):
    """The compiled MinHash is datasketch's affine32 scheme bit for bit, so signatures stored by
    earlier indexes (made with datasketch) stay comparable."""
    from datasketch import MinHash

    ours = minhash.signatures(batch, num_perm, shingle)
    for row, text in zip(ours, batch):
        ref = MinHash(num_perm=num_perm, seed=minhash.SEED)
        ref.update_batch([w.encode() for w in shingle_set(text, shingle)])
        assert row.tolist() == ref.hashvalues.astype(np.uint32).tolist()


def test_minhash_equals_datasketch_on_real_titles(fashion_rows):
    from datasketch import MinHash

    titles = [r["title"] for r in fashion_rows[:2000]]
    ref = MinHash.bulk([[w.encode() for w in shingle_set(t)] for t in titles], num_perm=64, seed=minhash.SEED)
    assert np.array_equal(minhash.signatures(titles, 64), np.stack([h.hashvalues.astype(np.uint32) for h in ref]))


@pytest.fixture(scope="module")
def knn_window(fashion_rows, fashion_vectors):
    """The 1,000 nearest real products of a dev query, as the benchmark uses them."""
    qv = fashion_vectors[0] + fashion_vectors[1]
    top = np.argsort(-(fashion_vectors @ qv), kind="stable")[:1000]
    emb = np.ascontiguousarray(fashion_vectors[top])
    return top, emb, (unit_rows(emb) @ unit_rows(qv[None, :])[0]).astype(np.float64)


@pytest.mark.parametrize("strategy, diversity", [("mmr", 0.3), ("mmr", 0.7), ("dpp", 0.5), ("dpp", 0.2), ("msd", 0.3),
                                                 ("msd", 0.8)])
def test_base_orders_select_what_pyversity_selects_on_real_vectors(knn_window, strategy, diversity):
    from pyversity import diversify as pyversity_diversify

    _, emb, rel = knn_window
    theirs = pyversity_diversify(emb, rel, 50, strategy=strategy, diversity=diversity)
    assert diversify(strategy, rel, unit_rows(emb), diversity, 50) == list(map(int, theirs.indices))


@st.composite
def agent_cases(draw):
    n = draw(st.integers(2, 40))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    kinds = draw(st.lists(st.sampled_from(["min", "max", "any"]), min_size=1, max_size=4))
    specs, agents = [], []
    for j, kind in enumerate(kinds):
        f = draw(st.sampled_from([0.1, 0.2, 0.3, 0.5]))
        if kind == "any":
            values = rng.integers(-1, draw(st.integers(1, 5)), size=n)  # -1: the field is missing
            if draw(st.booleans()):  # one value far ahead of the others (a category over a kNN window)
                values = np.where(rng.random(n) < 0.8, 0, values)
            specs.append(Spec("any", f, value=[None if v < 0 else int(v) for v in values]))
            agents.append(Agent(f"a{j}", "any", f, codes=values.astype(np.int64), n_values=int(values.max()) + 1))
        else:
            prop = rng.random(n) < draw(st.sampled_from([0.1, 0.4, 0.8]))
            specs.append(Spec(kind, f, prop=prop.tolist()))
            agents.append(Agent(f"a{j}", kind, f, has=prop))
    return n, rng, specs, agents, draw(st.sampled_from([0.0, 0.3, 1.0, 5.0])), draw(st.floats(0, 1))


@settings(max_examples=200, deadline=None)
@given(agent_cases())
def test_agent_kernel_equals_the_reference_over_score_and_mmr(case):
    n, rng, specs, agents, lam, diversity = case
    base = np.sort(rng.random(n))[::-1].copy()
    score = STRATEGIES["score"]
    got = [p.index for p in place(agents, lam, n, score, score.prepare(base, None, 0.0, n))]
    assert got == reference_place(specs, lam, n, n, score_order(base.tolist()))
    unit = unit_rows(rng.normal(size=(n, 4)))
    rel = rng.random(n)
    mmr = STRATEGIES["mmr"]
    got = [p.index for p in place(agents, lam, n, mmr, mmr.prepare(rel, unit, diversity, n))]
    order = mmr_order(rel, unit, diversity)  # float32 cosines, but summed in another order: near-ties may part
    _agrees(got, reference_place(specs, lam, n, n, order), order)


def _agrees(got: list[int], expected: list[int], order) -> None:
    """The same page, or pages that part where the plain float64 twin sees two items within
    1e-4 of each other (the kernel computes in float32, as pyversity does)."""
    if got == expected:
        return
    t = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    s = order(got[:t])
    assert abs(s[got[t]] - s[expected[t]]) <= 1e-4 * max(1.0, abs(s[expected[t]])), (t, got, expected)


@settings(max_examples=150, deadline=None)
@given(agent_cases(), st.sampled_from(sorted(set(STRATEGIES) - {"score"})))
def test_agents_over_every_vector_base_order_equal_the_reference(case, key):
    """The agent loop over each registered base order that reads vectors (DPP, MSD, and any
    added later with a twin in reference_agents.ORDERS) against the pseudo-code over that
    order's plain twin, on synthetic vectors of full rank (so DPP's gains stay above noise)."""
    n, rng, specs, agents, lam, diversity = case
    strategy = STRATEGIES[key]
    unit = unit_rows(rng.normal(size=(n, n + 8)))
    rel = rng.random(n)
    order = ORDERS[key](rel, unit, diversity)
    got = [p.index for p in place(agents, lam, n, strategy, strategy.prepare(rel, unit, diversity, n))]
    _agrees(got, reference_place(specs, lam, n, n, order), order)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 120), st.integers(2, 24), st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]),
       st.sampled_from(["mmr", "dpp", "msd"]), st.integers(0, 2**31))
def test_base_orders_select_what_pyversity_selects_on_synthetic_vectors(n, dim, diversity, key, seed):
    """MMR, DPP and MSD alone against pyversity, in the same run, on vectors whose cosines are
    all >= 0 (pyversity clips MMR's and DPP's similarities at 0, the core does not: on real
    embeddings the two agree, on arbitrary signs they part by design)."""
    from pyversity import diversify as pyversity_diversify

    rng = np.random.default_rng(seed)
    emb = np.abs(rng.normal(size=(n, dim))).astype(np.float32)
    rel = np.sort(rng.random(n))[::-1].copy()  # candidates come best first (at diversity 1 MMR's first pick is the first)
    k = min(n, 20, dim) if key == "dpp" else min(n, 20)  # DPP: past the vectors' rank every gain is float noise
    theirs = list(map(int, pyversity_diversify(emb, rel, k, strategy=key, diversity=diversity).indices))
    ours = diversify(key, rel, unit_rows(emb), diversity, k)
    if key == "msd":
        _agrees(ours, theirs, ORDERS["msd"](rel, unit_rows(emb), diversity))
    else:
        assert ours[:len(theirs)] == theirs


def test_semantics_cases_through_rerank_and_rerank_batch():
    """The paper's case and a cap with dedup give the same page through the JSON contract and the
    columnar entry point built with from_columns."""
    sony = [{"id": f"sony-{i}", "score": 2.0 - i * 0.001, "fields": {"brand": "Sony"}, "title": f"Sony TV {i}"} for i in range(20)]
    pana = [{"id": f"pana-{i}", "score": 1.0 - i * 0.001, "fields": {"brand": "Panasonic"}, "title": f"Panasonic TV {i}"}
            for i in range(20)]
    cands = sony + pana
    for rule in ({"id": "paper", "lambda": 0, "constraints": [{"field": "brand", "value": "Panasonic", "min": 0.1}]},
                 {"id": "cap", "lambda": 0.5, "dedup": {"collapse": True},
                  "constraints": [{"field": "brand", "any": True, "max": 0.3}]}):
        json_page = rerank({"candidates": cands, "rule": rule, "size": 20, "explain": True})
        batch = CandidateBatch.from_columns([c["id"] for c in cands], [c["score"] for c in cands],
                                            {"brand": [c["fields"]["brand"] for c in cands]},
                                            texts=[c["title"] for c in cands])
        assert rerank_batch(batch, rule, size=20, explain=True) == json_page
        assert rerank_batch(candidates_batch(cands, parse_rule(rule)), rule, size=20, explain=True) == json_page
    paper = rerank({"candidates": cands, "rule": {"id": "paper", "lambda": 0, "constraints": [
        {"field": "brand", "value": "Panasonic", "min": 0.1}]}, "size": 20})
    assert [h["rank"] for h in paper["hits"] if h["id"].startswith("pana")] == [10, 20]


@pytest.mark.parametrize("key", sorted(set(STRATEGIES) - {"score"}))
def test_each_base_order_reranks_and_explains_in_its_own_terms(key):
    strategy = STRATEGIES[key]
    rng = np.random.default_rng(3)
    cands = [{"id": str(i), "score": 1.0 - i / 100, "vector": rng.normal(size=8).tolist(), "fields": {"b": "AB"[i % 2]}}
             for i in range(30)]
    resp = rerank({"candidates": cands, "rule": {"id": "d", key: {"diversity": 0.5},
                                                 "constraints": [{"field": "b", "value": "A", "max": 0.5}]},
                   "size": 10, "explain": True})
    reasons = [h["reason"] for h in resp["hits"]]
    assert len(reasons) == 10 and {r["type"] for r in reasons} <= {key, "constraint"}
    assert all(strategy.value_name in r for r in reasons if r["type"] == key)
    other = next(k for k in STRATEGIES if k not in ("score", key))
    with pytest.raises(ValueError, match="both set a base order"):
        parse_rule({"id": "x", key: {"diversity": 0.3}, other: {"diversity": 0.3}})


def _fnv(shingle: str) -> int:
    """FNV-1a 64 of a shingle's bytes, written plainly: the twin of ``tokens.hashed``."""
    h = 0xCBF29CE484222325
    for b in shingle.encode("ascii"):
        h = ((h ^ b) * 0x100000001B3) % 2**64
    return h


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, max_size=8), st.integers(1, 3))
def test_hashed_equals_the_hash_of_each_shingle_of_the_plain_shingle_set(batch, n):
    """Case-folded n-grams: 'BLACK shoe' and 'black SHOE' hash alike, as exact Jaccard reads them."""
    from sidecar.rerank.tokens import encode, hashed, spans

    buf, offs = encode(batch)
    starts, ends, wptr = spans(buf, offs[:-1], offs[1:])
    ptr, values = hashed(buf, starts, ends, wptr, n)
    for t, text in enumerate(batch):
        got = values[ptr[t]:ptr[t + 1]].tolist()
        assert got == sorted({_fnv(s) for s in shingle_set(text, n)}), (text, n)


def test_near_duplicates_differing_only_in_case_are_one_group():
    titles = ["Nike Men Black Running Shoe", "NIKE MEN BLACK RUNNING SHOE", "nike men black running shoe",
              "Puma Women Red Tshirt"]
    batch = CandidateBatch.from_columns([f"d{i}" for i in range(4)], [4.0, 3.0, 2.0, 1.0], {}, texts=titles)
    rule = {"id": "r", "dedup": {"field": "title", "threshold": 0.9, "collapse": True}}
    out = rerank_batch(batch, rule, size=4)
    assert [h["id"] for h in out["hits"]] == ["d0", "d3"] and out["dedup"]["collapsed"] == ["d1", "d2"]


WORDS = ["nike", "NIKE", "Nike", "men", "black", "BLACK", "shoe", "running", "puma", "red", "top"]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join), min_size=1, max_size=25),
       st.sampled_from([0.5, 0.8, 1.0]), st.sampled_from([16, 64, 128]))
def test_dedup_groups_against_brute_force_jaccard(titles, threshold, num_perm):
    """The compiled grouping against every pair's exact (case-folded) Jaccard: an item's group is
    labelled by its first member, a group never joins items the brute force does not connect
    (MinHash only proposes, exact Jaccard decides), and titles with the same folded word set
    (case variants included) are always one group (their signatures are equal in every band)."""
    from reference_agents import jaccard_components

    sets = [shingle_set(t) for t in titles]
    got = dedup.group(dedup.signatures(titles, num_perm), threshold, titles).tolist()
    components = jaccard_components(sets, threshold)
    for i, g in enumerate(got):
        assert got[g] == g and g <= i  # labelled by its first member
        assert components[i] == components[g]  # joined only through verified pairs
        for j in range(i):
            if sets[i] == sets[j] and sets[i]:
                assert got[i] == got[j], (titles[i], titles[j])
