"""Rules that do not fight the query (sidecar/rerank/named.py): a value the query names is left
alone by its field's constraints. The core without OpenSearch, then /search on the demo catalog."""
from __future__ import annotations

import numpy as np

from sidecar.rerank.reranking import rerank_batch
from sidecar.rerank.batch import CandidateBatch
from sidecar.rerank.named import Vocabulary, named_in
from sidecar.rerank.rule import parse_rule


def test_a_value_is_named_only_by_all_its_words_in_a_row():
    voc = Vocabulary.of(["Red Tape", "Puma", "PUMA", "United Colors of Benetton", "", None])
    assert voc.find("red shoes") == frozenset()
    assert voc.find("Red Tape formal shoes") == {"red tape"}
    assert voc.find("ｐｕｍａ sneakers") == {"puma"}  # full-width, folded as the index folds
    assert voc.find("benetton united colors of shirts") == frozenset()
    assert voc.find("united colors of benetton or puma") == {"united colors of benetton", "puma"}
    assert named_in("puma red", {"brand": voc, "colour": Vocabulary.of(["Red"])}) == \
        {"brand": {"puma"}, "colour": {"red"}}


def batch(brands: list[str], conditions: list[str] | None = None) -> CandidateBatch:
    n = len(brands)
    fields = {"brand": brands, "condition": conditions or ["new"] * n}
    return CandidateBatch.from_columns([f"d{i}" for i in range(n)], np.linspace(1, 0, n), fields)


CAP = {"field": "brand", "any": True, "max": 0.3}


def brands_of(resp: dict, b: list[str]) -> list[str]:
    return [b[int(h["id"][1:])] for h in resp["hits"]]


def test_a_named_brand_is_not_capped_and_the_other_brands_still_are():
    b = ["Puma"] * 12 + ["Nike"] * 6 + ["Adidas"] * 6 + ["Reebok"] * 6
    rule = parse_rule({"id": "r", "constraints": [CAP]})
    capped = brands_of(rerank_batch(batch(b), rule, size=10), b)
    assert capped.count("Puma") == 3
    resp = rerank_batch(batch(b), rule, size=10, named={"brand": frozenset({"puma"})}, explain=True)
    assert brands_of(resp, b) == ["Puma"] * 10 and resp["named"] == {"brand": ["puma"]}
    assert all(h["reason"]["named"] == {"brand": "Puma"} for h in resp["hits"])
    b2 = ["Puma"] * 3 + ["Nike"] * 12 + ["Adidas"] * 5 + ["Reebok"] * 5
    mixed = brands_of(rerank_batch(batch(b2), rule, size=10, named={"brand": frozenset({"puma"})}), b2)
    assert mixed.count("Nike") <= 3 and mixed.count("Puma") == 3  # Nike was not named: still capped
    off = parse_rule({"id": "r", "constraints": [CAP], "respect_query": False})
    resp = rerank_batch(batch(b), off, size=10, named={"brand": frozenset({"puma"})})
    assert brands_of(resp, b).count("Puma") == 3 and "named" not in resp


def test_a_max_on_a_named_value_lets_it_be_and_a_min_for_other_values_is_dropped():
    b = ["Nike"] * 15 + ["Puma"] * 10
    nike_cap = parse_rule({"id": "r", "constraints": [{"field": "brand", "value": "Nike", "max": 0.3}]})
    assert brands_of(rerank_batch(batch(b), nike_cap, size=10), b).count("Nike") == 3
    assert brands_of(rerank_batch(batch(b), nike_cap, size=10, named={"brand": frozenset({"nike"})}), b) == ["Nike"] * 10
    cond = ["new"] * 20 + ["used"] * 5
    preowned = parse_rule({"id": "r", "lambda": 0, "constraints": [{"field": "condition", "values": ["used", "refurbished"],
                                                        "min": 0.2}]})
    used_of = lambda resp: sum(cond[int(h["id"][1:])] == "used" for h in resp["hits"])  # noqa: E731
    assert used_of(rerank_batch(batch(b, cond), preowned, size=10)) >= 2
    new = rerank_batch(batch(b, cond), preowned, size=10, named={"condition": frozenset({"new"})})
    assert used_of(new) == 0  # "new watches": the pre-owned minimum would only push new ones down
    used = rerank_batch(batch(b, cond), preowned, size=10, named={"condition": frozenset({"used"})})
    assert used_of(used) >= 2  # "used watches": the minimum asks for what the shopper asked for


def test_puma_shoes_on_the_demo_shows_puma_and_says_why():
    from test_encoder import memory_app

    c = memory_app().test_client()
    r = c.post("/search", json={"q": "puma shoes", "size": 10, "explain": True}).json
    assert r["rule"] == "default" and r["named"] == {"brand": ["puma"]}
    brands = [h["fields"]["brand"] for h in r["hits"]]
    assert brands.count("Puma") >= 8, brands
    assert all(h["explanation"]["reason"]["named"] == {"brand": "Puma"} for h in r["hits"] if h["fields"]["brand"] == "Puma")
    off = c.post("/search", json={"q": "puma shoes", "size": 10, "overrides": {"respect_query": False}}).json
    assert [h["fields"]["brand"] for h in off["hits"]].count("Puma") <= 3 and "named" not in off
    plain = c.post("/search", json={"q": "black shoes", "size": 10}).json
    assert "named" not in plain and max(map([h["fields"]["brand"] for h in plain["hits"]].count,
                                            {h["fields"]["brand"] for h in plain["hits"]})) <= 3


def test_the_evaluation_judges_a_page_as_the_rule_does_the_named_values_left_alone():
    """'Fastrack bag' gives a page of Fastrack: the brand cap holds over the brands the query did
    not name, and a min listing none of the named values does not apply (it holds)."""
    from sidecar.evaluation import diversity as dv
    from sidecar.rerank.rule import parse_constraint

    page = [{"id": str(i), "fields": {"brand": "Fastrack" if i < 8 else "Titan", "condition": "new"}} for i in range(10)]
    cap = parse_constraint({"field": "brand", "any": True, "max": 0.3}, "c")
    assert not dv.holds(cap, page) and dv.holds(cap, page, frozenset({"fastrack"}))
    titan = parse_constraint({"field": "brand", "value": "Titan", "min": 0.5}, "c")
    assert not dv.holds(titan, page) and dv.holds(titan, page, frozenset({"fastrack"}))
    assert not dv.feasible(titan, page, 10, frozenset({"fastrack"}))  # dropped: no page to count
    assert dv.feasible(cap, page * 3, 10, frozenset({"fastrack"}))


def test_the_vocabulary_keeps_the_first_spelling_and_never_confuses_two_values(monkeypatch):
    from sidecar.rerank import named

    voc = named.Vocabulary.of(["Navy Blue", "NAVY  blue", "Red", 3, None, "", "ｒｅｄ tape"])
    assert len(voc) == 3 and voc.longest == 2
    assert voc.get(("navy", "blue")) == "navy blue" and ("red", "tape") in voc and voc.get(("green",)) is None
    monkeypatch.setattr(named, "_key", lambda w: 7)  # every value's key the same: a collision
    clash = named.Vocabulary.of(["Red", "Blue"])
    assert clash.get(("red",)) == "red" and clash.get(("blue",)) is None  # never answered with the wrong value
    assert named.Vocabulary.of([]).get(("red",)) is None
