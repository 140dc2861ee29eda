"""The agent algorithm: the paper's case, properties, explanations, validation."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.rerank import rerank
from sidecar.rerank.agents import Agent, place_by_score


def sony_panasonic(n: int = 20) -> list[dict]:
    sony = [{"id": f"sony-{i}", "score": 2.0 - i * 0.001, "fields": {"brand": "Sony"}} for i in range(n)]
    pana = [{"id": f"pana-{i}", "score": 1.0 - i * 0.001, "fields": {"brand": "Panasonic"}} for i in range(n)]
    return sony + pana


def ranks_of(resp: dict, prefix: str) -> list[int]:
    return [h["rank"] for h in resp["hits"] if h["id"].startswith(prefix)]


def test_paper_case_panasonic_min_lambda_zero():
    rule = {"id": "paper", "lambda": 0, "constraints": [{"field": "brand", "value": "Panasonic", "min": 0.1}]}
    resp = rerank({"candidates": sony_panasonic(), "rule": rule, "size": 20, "explain": True})
    assert ranks_of(resp, "pana") == [10, 20]
    tenth = resp["hits"][9]
    assert tenth["id"] == "pana-0" and tenth["original_rank"] == 21
    assert tenth["reason"]["type"] == "constraint"
    assert tenth["reason"]["constraint"] == "brand=Panasonic min 0.1"
    assert tenth["reason"]["deviance"] == pytest.approx(0.1)
    assert tenth["reason"]["unhappiness"] == pytest.approx(0.1)  # lambda 0: no penalty is charged
    assert all(h["reason"] == {"type": "default"} for h in resp["hits"] if h["id"].startswith("sony"))


def test_large_lambda_gives_pure_score_order():
    rule = {"id": "paper", "lambda": 1000, "constraints": [{"field": "brand", "value": "Panasonic", "min": 0.1}]}
    resp = rerank({"candidates": sony_panasonic(), "rule": rule, "size": 40})
    assert [h["original_rank"] for h in resp["hits"]] == list(range(1, 41))


def test_lambda_trades_score_against_constraint():
    # The first Panasonic's normalised penalty is 1.019/1.039 = 0.9808 (the window spans 2.0 .. 0.961).
    # The deviance grows by 0.1 a slot: 0.1 at 9 placed, 0.2 at 10, ..., 1.1 at 19.
    c = {"field": "brand", "value": "Panasonic", "min": 0.1}

    def first_panasonic(lam):
        resp = rerank({"candidates": sony_panasonic(), "rule": {"id": "r", "lambda": lam, "constraints": [c]}, "size": 20})
        return (ranks_of(resp, "pana") or [None])[0]

    assert first_panasonic(0.05) == 10   # 0.1 - 0.05 * 0.98 > 0
    assert first_panasonic(0.15) == 11   # 0.1 - 0.147 < 0, but 0.2 - 0.147 > 0
    assert first_panasonic(2.0) is None  # 1.1 - 1.96 < 0 all page long: the agent gives up


def test_max_and_any_constraints():
    cands = [{"id": f"a{i}", "score": 10 - i * 0.01, "fields": {"seller": "a"}} for i in range(10)]
    cands += [{"id": f"b{i}", "score": 5 - i * 0.01, "fields": {"seller": "b"}} for i in range(10)]
    cands += [{"id": f"c{i}", "score": 1 - i * 0.01, "fields": {}} for i in range(10)]  # no seller field
    rule = {"id": "r", "lambda": 0, "constraints": [{"field": "seller", "any": True, "max": 0.5}]}
    resp = rerank({"candidates": cands, "rule": rule, "size": 10})
    sellers = [h["id"][0] for h in resp["hits"]]
    for n in range(2, 11):  # the look-ahead lets the first item through; after that at most half
        assert max(sellers[:n].count("a"), sellers[:n].count("b")) <= math.ceil(0.5 * (n + 1))
    assert sellers.count("a") == 5
    by_value = {"id": "r", "lambda": 0, "constraints": [{"field": "seller", "value": "a", "max": 0.3}]}
    resp = rerank({"candidates": cands, "rule": by_value, "size": 10})
    assert [h["id"][0] for h in resp["hits"]].count("a") == 3


def test_range_constraint_on_dates_and_numbers():
    cands = [{"id": f"old{i}", "score": 10 - i * 0.1, "fields": {"listed_at": "2024-01-01", "price": 100}} for i in range(10)]
    cands += [{"id": f"new{i}", "score": 1 - i * 0.01, "fields": {"listed_at": "2026-10-01", "price": 900}} for i in range(5)]
    newly = {"id": "r", "lambda": 0, "constraints": [{"field": "listed_at", "gte": "now-30d", "min": 0.2}]}
    resp = rerank({"candidates": cands, "rule": newly, "size": 10, "now": "2026-10-15T00:00:00Z"})
    assert sum(h["id"].startswith("new") for h in resp["hits"]) >= 2
    pricey = {"id": "r", "lambda": 0, "constraints": [{"field": "price", "gte": 500, "lte": 1000, "min": 0.3}]}
    resp = rerank({"candidates": cands, "rule": pricey, "size": 10})
    assert sum(h["id"].startswith("new") for h in resp["hits"]) >= 3


def test_values_constraint_and_multivalued_field():
    cands = [{"id": f"x{i}", "score": 10 - i, "fields": {"condition": "new"}} for i in range(8)]
    cands += [{"id": "u", "score": 0.5, "fields": {"condition": "used"}},
              {"id": "r", "score": 0.4, "fields": {"condition": ["refurbished", "open-box"]}}]
    rule = {"id": "r", "lambda": 0, "constraints": [{"field": "condition", "values": ["used", "refurbished"], "min": 0.25}]}
    resp = rerank({"candidates": cands, "rule": rule, "size": 8})
    assert {"u", "r"} <= {h["id"] for h in resp["hits"]}


# --- properties -------------------------------------------------------------------------------

brands = st.sampled_from(["A", "B", "C", "D"])
conditions = st.sampled_from(["new", "used", None])


@st.composite
def requests(draw):
    n = draw(st.integers(1, 40))
    cands = []
    for i in range(n):
        fields = {"brand": draw(brands)}
        cond = draw(conditions)
        if cond:
            fields["condition"] = cond
        cands.append({"id": f"c{i}", "score": draw(st.floats(0, 100, allow_nan=False)), "fields": fields})
    constraints = draw(st.lists(st.sampled_from([
        {"field": "condition", "value": "used", "min": 0.2},
        {"field": "brand", "value": "A", "max": 0.3},
        {"field": "brand", "any": True, "max": 0.4},
        {"field": "brand", "values": ["B", "C"], "min": 0.5},
    ]), max_size=3, unique_by=lambda c: str(c)))
    lam = draw(st.sampled_from([0.0, 0.1, 0.5, 2.0, 100.0]))
    size = draw(st.integers(1, n + 5))
    return {"candidates": cands, "rule": {"id": "p", "lambda": lam, "constraints": constraints}, "size": size}


@settings(max_examples=200, deadline=None)
@given(requests())
def test_output_is_a_permutation_prefix_and_deterministic(req):
    resp = rerank(req)
    ids = [h["id"] for h in resp["hits"]]
    assert len(ids) == min(req["size"], len(req["candidates"]))
    assert len(set(ids)) == len(ids)
    assert set(ids) <= {c["id"] for c in req["candidates"]}
    assert [h["rank"] for h in resp["hits"]] == list(range(1, len(ids) + 1))
    assert rerank(req) == resp
    # a smaller page is a prefix of a larger one: pages are slices of one rerank
    if req["size"] > 1:
        smaller = rerank({**req, "size": req["size"] - 1})
        assert [h["id"] for h in smaller["hits"]] == ids[: len(smaller["hits"])]


@settings(max_examples=100, deadline=None)
@given(requests())
def test_pointers_only_move_down(req):
    """Instrument the placement loop: every agent's pointer is non-decreasing over the run."""
    from sidecar.rerank.api import compile_agent, normalized_scores
    from sidecar.rerank.rule import parse_rule
    import numpy as np

    rule = parse_rule(req["rule"])
    cands = sorted(req["candidates"], key=lambda c: -c["score"])
    agents = [compile_agent(c, cands) for c in rule.constraints]
    base = normalized_scores(np.array([c["score"] for c in cands]), True).tolist()
    seen: list[tuple[int, int]] = []
    place_by_score(base, agents, rule.lam, req["size"], trace=lambda ci, p: seen.append((ci, p)))
    last: dict[int, int] = {}
    for ci, p in seen:
        assert p >= last.get(ci, 1)
        last[ci] = p


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 60), st.sampled_from([0.1, 0.2, 0.25, 0.5]), st.integers(0, 10_000))
def test_lambda_zero_min_constraint_holds_where_lookahead_allows(n, f, seed):
    """With lambda 0 and one min constraint, every prefix of length m has k >= (m+1)f - 1 items
    with the property (while such items remain): at n placed the agent fires exactly when
    k < (n+2)f - 1, so by induction k_m >= (m+1)f - 1."""
    import random

    rnd = random.Random(seed)
    cands = [{"id": str(i), "score": float(n - i), "fields": {"used": rnd.random() < 0.15}} for i in range(n)]
    n_used = sum(c["fields"]["used"] for c in cands)
    rule = {"id": "p", "lambda": 0, "constraints": [{"field": "used", "value": True, "min": f}]}
    hits = rerank({"candidates": cands, "rule": rule, "size": n})["hits"]
    used = {c["id"] for c in cands if c["fields"]["used"]}
    k = 0
    for m, h in enumerate(hits, start=1):
        k += h["id"] in used
        need = math.ceil((m + 1) * f - 1 - 1e-9)
        assert k >= min(need, n_used), (m, k, need)


def test_place_by_score_pseudocode_trace():
    """A hand-traced case: max 0.5 on brand A with A,A,A,B,B; lambda 0."""
    a = Agent("brand=A max 0.5", False, 0.5, has=[True, True, True, False, False])
    trace: list[tuple[int, int]] = []
    order = [p.index for p in place_by_score([1.0, 0.9, 0.8, 0.7, 0.6], [a], 0.0, 5,
                                             trace=lambda ci, p: trace.append((ci, p)))]
    # n=1,k=1: dev=1+1-1.5=0.5 -> scan 1,2 (A), stop at 3 ; n=2,k=1: dev=2-2=0 -> default 1 ;
    # n=3,k=2: dev=3-2.5=0.5 -> scan from 4 (the pointer moved past placed 3), stop at 4 ;
    # n=4,k=2: dev=0 -> default 2
    assert order == [0, 3, 1, 4, 2]
    assert trace == [(0, 3), (0, 4)]


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["candidates"][1].pop("id"), "candidates[1]: missing or invalid 'id'"),
    (lambda r: r["candidates"][1].update(id="a"), "candidate 'a' (candidates[1]): duplicate id"),
    (lambda r: r["candidates"][0].update(score=float("nan")), "candidate 'a' (candidates[0]): 'score' must be a finite number"),
    (lambda r: r["rule"]["constraints"][0].update(min=1.5), "constraints[0] (brand=X min 1.5): min: must be <= 1.0"),
    (lambda r: r["rule"]["constraints"][0].update(min=0), "min: must be > 0.0"),
    (lambda r: r["rule"]["constraints"].append({"field": "brand", "any": True, "min": 0.2}), "'any: true' goes with 'max' only"),
    (lambda r: r["candidates"][1].update(vector=[1.0, 2.0, 3.0]), "vector has 3 dimensions, earlier candidates have 2"),
    (lambda r: r["rule"]["constraints"][0].update(mni=0.1), "unknown key(s) 'mni'"),
    (lambda r: r.update(sise=3), "request: unknown key(s) 'sise'"),
    (lambda r: r["candidates"][0].update(colour="red"), "candidates[0]: unknown key(s) 'colour'"),
    (lambda r: r.update(rule="nope"), "unknown rule id 'nope'"),
])
def test_invalid_input_names_the_culprit(mutate, message):
    req = {"candidates": [{"id": "a", "score": 1.0, "vector": [1.0, 0.0]}, {"id": "b", "score": 0.5, "vector": [0.0, 1.0]}],
           "rule": {"id": "r", "constraints": [{"field": "brand", "value": "X", "min": 0.5}]}}
    mutate(req)
    with pytest.raises(ValueError) as err:
        rerank(req)
    assert message in str(err.value)
