"""Query understanding (issue 40): prices in words, the catalog's values found in the query, the
rule set's understanding section (validated with file:line, hot reloaded), and /search alike on
both backends. Quality on the fashion queries: `sidecar eval` (rules against rules-words)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from conftest import ROOT, demo_app
from sidecar.rerank.named import Vocabulary
from sidecar.rules import RuleLoadError, RuleStore, load_rules_dir
from sidecar.understand import DEFAULT_POLICY, Policy, understand
from sidecar.understand.attributes import find_attributes, singular
from sidecar.understand.prices import find_price


@pytest.mark.parametrize("query, gte, lte, rest", [
    ("red tshirts for women under 500", None, 500, "red tshirts for women"),
    ("blue jeans for men below 1500", None, 1500, "blue jeans for men"),
    ("men black formal shoes between 1000 and 3000", 1000, 3000, "men black formal shoes"),
    ("shoes between 3000 and 1000", 1000, 3000, "shoes"),               # either order
    ("kurta upto rs. 1,500", None, 1500, "kurta"), ("jeans less than 1.5k", None, 1500, "jeans"),
    ("watch over $50", 50, None, "watch"), ("priced above 2000 sandals", 2000, None, "sandals"),
    ("shoes ₹500-₹800", 500, 800, "shoes"), ("bags 2k to 3k rs", 2000, 3000, "bags"),
    ("tops from 300 to 700", 300, 700, "tops"), ("max 999 rupees shirt", None, 999, "shirt"),
    ("shirt UNDER 500", None, 500, "shirt"), ("at least 400 watch", 400, None, "watch"),
    ("shirt  under\t\t 500 ", None, 500, "shirt"),                     # read with its spaces collapsed
])
def test_prices_in_words(query, gte, lte, rest):
    price, text = find_price(query)
    assert (price.gte, price.lte, text) == (gte, lte, rest)


@pytest.mark.parametrize("query", ["size 10 shoes", "32 inch tv", "levis 501", "shirt 500-1000", "shoes under",
                                   "iphone 12 cover", "under armour shoes", "2 pack socks"])
def test_a_number_without_a_price_word_or_currency_is_not_a_price(query):
    assert find_price(query) == (None, query)


VOCABULARIES = {"brand": Vocabulary.of(["Red Tape", "Puma", "Pepe Jeans"]),
                "colour": Vocabulary.of(["Red", "Navy Blue", "Blue", "Black", "Off White"]),
                "gender": Vocabulary.of(["Men", "Women", "Unisex"])}


@pytest.mark.parametrize("query, found", [
    ("red tshirts for women", [("colour", "red"), ("gender", "women")]),
    ("Red Tape shoes for mens", [("brand", "red tape"), ("gender", "men")]),  # the longest value wins the overlap
    ("navy blue jeans", [("colour", "navy blue")]),                         # not also "blue"
    ("Women's BLACK shoes", [("gender", "women"), ("colour", "black")]),
    ("ｒｅｄ shirt", [("colour", "red")]),                                   # width folded
    ("not red shoes", []), ("shoes without black", []), ("non black socks", []),  # negations left alone
    ("off white sneakers", [("colour", "off white")]),
    ("pepe jeans for men", [("brand", "pepe jeans"), ("gender", "men")]),
    ("womens", [("gender", "women")]), ("blues", [("colour", "blue")]),
])
def test_values_found_in_the_query(query, found):
    got = find_attributes(query, VOCABULARIES, ["brand", "colour", "gender"])
    assert [(f.field, f.value) for f in got] == found


def test_plurals_by_suffix():
    assert [singular(w) for w in ("tshirts", "dresses", "accessories", "jeans", "glass", "bus", "watches")] == \
        ["tshirt", "dress", "accessory", "jean", "glass", "bu", "watch"]


def test_the_request_wins_and_what_the_policy_says_is_all_that_is_done():
    vocab = VOCABULARIES.__getitem__
    u = understand("red tshirts for women under 500", vocab, DEFAULT_POLICY, {})
    assert u.text == "red tshirts for women"
    assert u.filters == {"price": {"lte": 500.0}, "colour": "red", "gender": ["women", "unisex"]}
    u = understand("red tshirts for women under 500", vocab, DEFAULT_POLICY, {"colour": "Blue", "price": {"gte": 1}})
    assert u.filters == {"gender": ["women", "unisex"]} and u.text == "red tshirts for women under 500"
    u = understand("red or black shirt for men", vocab, Policy({"colour": "filter"}, prices="none"), {})
    assert u.filters == {"colour": ["red", "black"]}
    assert understand("under 500", vocab, DEFAULT_POLICY, {}).text == "under 500"  # nothing else to search for
    assert understand("shirt", vocab, Policy({}, prices="none"), {}).filters == {}
    shown = understand("red shirt under 500", vocab, DEFAULT_POLICY, {}).shown()
    assert shown["found"] == [{"field": "colour", "value": "red", "said": "red"},
                              {"field": "price", "value": {"lte": 500.0}, "said": "under 500"}]


def write(dir_, name, text):
    (dir_ / name).write_text(text)


def test_the_understanding_section_of_a_rule_set(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: d\n    match: {default: true}\nunderstanding:\n"
                              "  fields: {colour: filter, gender: none, brand: filter}\n  prices: none\n")
    rs = load_rules_dir(tmp_path)
    assert rs.understanding == Policy({"colour": "filter", "gender": "none", "brand": "filter"}, prices="none")
    assert rs.understanding.filtered == ["colour", "brand"]
    write(tmp_path, "b.yaml", "understanding:\n  prices: filter\n")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    assert [str(e) for e in err.value.errors] == [f"{tmp_path}/b.yaml:1: a second understanding section (the first is "
                                                  f"at {tmp_path}/a.yaml:4)"]
    (tmp_path / "b.yaml").unlink()
    write(tmp_path, "a.yaml", "rules:\n  - id: d\n    match: {default: true}\nunderstanding:\n"
                              "  fields:\n    colour: filter\n    material: filter\n")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    assert str(err.value.errors[0]).startswith(f"{tmp_path}/a.yaml:7: understanding.fields: 'material' is not a "
                                               "keyword field of the catalog")
    write(tmp_path, "a.yaml", "rules:\n  - id: d\n    match: {default: true}\nunderstanding:\n  prices: maybe\n")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    assert ":5:" in str(err.value.errors[0]) and "maybe" in str(err.value.errors[0])
    shipped = load_rules_dir(ROOT / "query_rules").understanding
    assert replace(shipped, rewrites=()) == DEFAULT_POLICY and shipped.rewrites  # and 20-rewrites.yaml's


def test_an_edit_of_the_section_is_picked_up_without_a_restart(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: d\n    match: {default: true}\n")
    store = RuleStore(tmp_path)
    assert store.current.understanding == DEFAULT_POLICY
    time.sleep(0.01)
    write(tmp_path, "a.yaml", "rules:\n  - id: d\n    match: {default: true}\nunderstanding: {prices: none}\n")
    assert store.reload() and store.current.understanding.prices == "none"


BODIES = [{"q": "red tshirts for women under 500"}, {"q": "blue jeans for men below 1500"},
          {"q": "men black formal shoes between 1000 and 3000"}, {"q": "not black shoes"},
          {"q": "black shoes", "filters": {"colour": "Brown"}}]


def test_search_says_what_it_understood_and_every_hit_holds_it():
    c = demo_app()
    r = c.post("/search", json={"q": "red tshirts for women under 500", "size": 10, "explain": True}).json
    assert r["understood"]["filters"] == {"price": {"lte": 500.0}, "colour": "red", "gender": ["women", "unisex"],
                                          "category": "topwear"}  # "tshirts" names the type
    assert r["hits"] and all(h["fields"]["colour"] == "Red" and h["fields"]["gender"] in ("Women", "Unisex")
                             and h["fields"]["price"] <= 500 for h in r["hits"])
    assert r["total"]["value"] == len(r["hits"]) or r["total"]["value"] > len(r["hits"])
    words = c.post("/search", json={"q": "red tshirts for women under 500", "size": 10, "understand": False}).json
    assert "understood" not in words and words["total"]["value"] > r["total"]["value"]
    mine = c.post("/search", json={"q": "black shoes", "filters": {"colour": "Brown"}, "size": 5}).json
    assert all(h["fields"]["colour"] == "Brown" for h in mine["hits"])  # the request's own filter wins


@pytest.mark.parametrize("body", BODIES)
def test_search_understands_alike_on_both_backends(demo_on_opensearch, body):
    req = {**body, "size": 10, "rule": "none"}
    a, b = demo_app().post("/search", json=req).json, demo_on_opensearch.post("/search", json=req).json
    assert a.get("understood") == b.get("understood") and a["total"] == b["total"], (req, a.get("understood"),
                                                                                     b.get("understood"))


def test_the_decision_records_the_requests_own_filters_not_the_understood_ones():
    from sidecar.retrieval.memory import MemoryBackend
    from sidecar.search.pipeline import run_search

    backend = MemoryBackend(ROOT / "demo" / "catalog.jsonl")
    rules = load_rules_dir(ROOT / "query_rules")
    out = run_search({"q": "black jacket", "filters": {"condition": "new"}}, backend, rules, 1000)
    assert out.response["understood"]["filters"] == {"colour": "black"}
    assert out.decision.filters == {"condition": "new"}  # what `rules diff --from-log` replays: the shopper's own
    assert run_search({"q": "black jacket"}, backend, rules, 1000).decision.filters is None
