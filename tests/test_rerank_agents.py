"""The agent algorithm, version 3: the paper's case, one case per correction (page before and
after), properties against the plain reference of the pseudo-code, explanations, validation."""
from __future__ import annotations

import math

import numpy as np

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.rerank import rerank
from sidecar.rerank.agents import Agent, place
from sidecar.rerank.strategies import STRATEGIES

from reference_agents import V3, Spec
from reference_agents import place as reference_place
from reference_agents import score_order


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


def specs_of(req: dict) -> tuple[list[Spec], list[float], list[dict]]:
    """The request's constraints as reference specs over its candidates in base order."""
    from sidecar.rerank.reranking import normalized_scores
    from sidecar.rerank.rule import parse_rule

    rule = parse_rule(req["rule"])
    cands = sorted(req["candidates"], key=lambda c: -c["score"])
    specs = []
    for con in rule.constraints:
        vals = [c["fields"].get(con.field) for c in cands]
        if con.any:
            specs.append(Spec("any", con.fraction, value=vals))
        else:
            wanted = set(getattr(con.prop, "values", ())) or {con.prop.value}
            specs.append(Spec(con.kind, con.fraction, prop=[v in wanted for v in vals]))
    base = normalized_scores(np.array([c["score"] for c in cands], dtype=float), True).tolist()
    return specs, base, cands


@settings(max_examples=300, deadline=None)
@given(requests())
def test_rerank_equals_the_reference_pseudocode(req):
    specs, base, cands = specs_of(req)
    expected = reference_place(specs, req["rule"]["lambda"], req["size"], len(cands), score_order(base))
    assert [h["id"] for h in rerank(req)["hits"]] == [cands[i]["id"] for i in expected]


@settings(max_examples=100, deadline=None)
@given(requests())
def test_large_lambda_is_score_order_property(req):
    """Every penalty outweighs every deviance: the page holds the best scores, best first (items
    of equal score cost nothing to swap, so only the score sequence is fixed)."""
    cands = [{**c, "score": float(round(c["score"]))} for c in req["candidates"]]  # gaps >= 1 in 100
    req = {**req, "candidates": cands, "rule": {**req["rule"], "lambda": 1e9}}
    score = {c["id"]: c["score"] for c in cands}
    best = sorted(score.values(), reverse=True)[: req["size"]]
    assert [score[h["id"]] for h in rerank(req)["hits"]] == best


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


def _page(specs: list[Spec], scores: list[float], lam: float, size: int, corrections=V3) -> list[int]:
    return reference_place(specs, lam, size, len(scores), score_order(scores), corrections)


def _core(specs: list[Spec], scores: list[float], lam: float, size: int) -> list[int]:
    """The production loop on the same specs."""
    agents = []
    for s in specs:
        if s.kind == "any":
            codes = {v: i for i, v in enumerate(dict.fromkeys(v for v in s.value if v is not None))}
            agents.append(Agent(s.kind, "any", s.f, codes=np.array([codes.get(v, -1) for v in s.value]),
                                n_values=len(codes)))
        else:
            agents.append(Agent(s.kind, s.kind, s.f, has=np.array(s.prop, dtype=bool)))
    score = STRATEGIES["score"]
    return [p.index for p in place(agents, lam, size, score, score.prepare(np.array(scores), None, 0.0, size))]


def test_correction_1_an_agent_proposing_the_default_does_not_bid():
    """Brand and seller caps are equally unhappy at slot 2; the seller cap's proposal is the default
    (another A from another seller). The paper's loop lets it win at no penalty: A, A. Version 3:
    the brand cap places B."""
    brand = ["A", "A", "B", "C"]
    seller = ["s1", "s2", "s1", "s1"]  # no item helps both caps: correction 3 changes nothing here
    scores = [1.0, 0.8333, 0.1667, 0.0]
    specs = [Spec("any", 0.3, value=brand), Spec("any", 0.3, value=seller)]
    before = _page(specs, scores, 0.5, 2, corrections=V3 - {1})
    after = _page(specs, scores, 0.5, 2)
    assert [brand[i] for i in before] == ["A", "A"]
    assert [brand[i] for i in after] == ["A", "B"] and after == [0, 2]
    assert _core(specs, scores, 0.5, 2) == after


def test_correction_2_an_any_agent_looks_again_from_the_top():
    """Four brands: once each has one item placed, no item reduces the brand cap, and a pointer that
    only moves down runs off the end. When A reaches two, B2 qualifies again: version 3 places it."""
    brand = ["A", "A", "A", "A", "B", "C", "D", "B", "C", "D"]
    scores = [1.0, 0.99, 0.98, 0.97, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    specs = [Spec("any", 0.3, value=brand)]
    before = _page(specs, scores, 0.0, 7, corrections=V3 - {2})
    after = _page(specs, scores, 0.0, 7)
    assert [brand[i] for i in before] == ["A", "B", "C", "D", "A", "A", "A"]
    assert [brand[i] for i in after] == ["A", "B", "C", "D", "A", "B", "C"]
    assert _core(specs, scores, 0.0, 7) == after


def test_correction_3_proposals_cooperate_with_the_other_unhappy_caps():
    """'Nike <= 30%' and 'one brand <= 30%' are both unhappy at slot 2. The brand cap's first item
    that is not Puma is a Nike; the paper's loop places it. Version 3 proposes the first item that
    helps both: the Adidas."""
    brand = ["Puma", "Puma", "Nike", "Nike", "Adidas", "Adidas"]
    scores = [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    specs = [Spec("any", 0.3, value=brand), Spec("max", 0.3, prop=[b == "Nike" for b in brand])]
    before = _page(specs, scores, 0.5, 2, corrections=V3 - {3})
    after = _page(specs, scores, 0.5, 2)
    assert [brand[i] for i in before] == ["Puma", "Nike"]
    assert [brand[i] for i in after] == ["Puma", "Adidas"]
    assert _core(specs, scores, 0.5, 2) == after


def test_explanations_name_the_agent_and_its_numbers():
    cands = [{"id": f"p{i}", "score": 1.0 - 0.2 * i, "fields": {"brand": b}}
             for i, b in enumerate(["Puma", "Puma", "Nike", "Adidas"])]
    rule = {"id": "r", "lambda": 0.5, "constraints": [{"field": "brand", "any": True, "max": 0.3, "label": "cap"}]}
    hits = rerank({"candidates": cands, "rule": rule, "size": 2, "explain": True})["hits"]
    assert hits[0]["reason"] == {"type": "default"}
    assert hits[1]["id"] == "p2"
    reason = hits[1]["reason"]
    assert reason["type"] == "constraint" and reason["constraint"] == "cap"
    assert reason["deviance"] == pytest.approx(1.1)  # k = 1, n = 1: 1 + 1 - 3 * 0.3
    assert reason["penalty"] == pytest.approx(2 / 3 - 1 / 3, abs=1e-6)  # normalised: default p1, proposal p2
    assert reason["unhappiness"] == pytest.approx(reason["deviance"] - 0.5 * reason["penalty"])


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["candidates"][1].pop("id"), "candidates[1]: missing or invalid 'id'"),
    (lambda r: r["candidates"][1].update(id="a"), "candidates[1].id: duplicate id 'a'"),
    (lambda r: r["candidates"][0].update(score=float("nan")), "candidate 'a' (candidates[0]): 'score' must be a finite number"),
    (lambda r: r["rule"]["constraints"][0].update(min=1.5), "constraints[0] (brand=X min 1.5): min: must be <= 1.0"),
    (lambda r: r["rule"]["constraints"][0].update(min=0), "min: must be > 0.0"),
    (lambda r: r["rule"]["constraints"].append({"field": "brand", "any": True, "min": 0.2}), "'any' goes with 'max' only"),
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


@pytest.mark.parametrize("values, bounds, inside", [
    ([99.99, 100, 100.01, 499.99, 500, 500.01], {"gte": 100, "lte": 500}, [False, True, True, True, True, False]),
    (["2026-08-31", "2026-09-01", "2026-09-01T00:00:00Z", "2026-09-30", "2026-10-01"],
     {"gte": "2026-09-01", "lte": "2026-09-30"}, [False, True, True, True, False]),
    (["2026-11-02T11:59:59Z", "2026-11-02T12:00:00Z", "2026-11-30T12:00:00Z", "2026-11-30T12:00:01Z"],
     {"gte": "now-4w", "lte": "now"}, [False, True, True, False]),  # now-4w = 2026-11-02T12:00
])
def test_a_range_holds_its_bounds_and_nothing_past_them(values, bounds, inside):
    """Both bounds inclusive, to the second; a missing value is never inside."""
    from datetime import datetime, timezone

    from sidecar.rerank.batch import CandidateBatch
    from sidecar.rerank.properties import Range

    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
    column = CandidateBatch.from_columns([str(i) for i in range(len(values) + 1)], [1.0] * (len(values) + 1),
                                         {"x": [*values, None]}).column("x")
    got = Range(bounds.get("gte"), bounds.get("lte")).evaluate(column, now).tolist()
    assert got == [*inside, False]
