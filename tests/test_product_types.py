"""The product type a query names (issue 40, item 1): learnt from the catalog's titles and
categories, found in the query (negations, overlaps, two types named), applied as a filter or a
boost by the rule set's understanding, alike on both backends."""
from __future__ import annotations

import pytest

from conftest import ROOT, demo_app
from sidecar.rerank.named import Vocabulary
from sidecar.retrieval.product_types import MIN_PRODUCTS, TypeWords
from sidecar.rules import RuleLoadError, load_rules_dir
from sidecar.understand import Policy, understand

TITLES = ([(f"Puma Men Black Tshirt {i}", "Topwear") for i in range(30)]
          + [(f"Nike Women Running Shoes {i}", "Shoes") for i in range(30)]
          + [(f"Nike Men Red Tshirt {i}", "Topwear") for i in range(10)]
          + [(f"Rare Scarf {i}", "Accessories") for i in range(MIN_PRODUCTS - 1)])


def test_a_word_names_a_type_only_when_nearly_all_its_products_are_of_it():
    types = TypeWords.train(TITLES)
    assert types.words["tshirt"] == ("topwear", 1.0) and types.words["shoe"] == ("shoes", 1.0)  # singular, folded
    assert "nike" not in types.words  # 30 shoes and 10 tshirts: 0.75 of one type, below MIN_SHARE
    assert "scarf" not in types.words  # too few products to tell
    assert types.words["men"] == ("topwear", 1.0)  # in this catalog men only ever buy tshirts: it says so
    assert not any(w.isdigit() for w in types.words)
    assert TypeWords.train([(None, "Topwear"), ("Shirt", None)]).words == {}


def test_the_query_names_one_type_or_none():
    types = TypeWords.train([(f"Men Tshirt {i}", "Topwear") for i in range(25)] + [(f"Men Shoes {i}", "Shoes") for i in range(25)])
    policy = Policy({}, prices="none")
    u = understand("red tshirts", None, policy, {}, lambda: types)
    assert u.filters == {"category": "topwear"} and [(f.field, f.said) for f in u.found] == [("category", "tshirts")]
    assert understand("tshirt shoes", None, policy, {}, lambda: types).filters == {}  # two types: none guessed
    assert understand("not shoes", None, policy, {}, lambda: types).filters == {}  # a negation
    assert understand("shoes", None, policy, {"category": "Bags"}, lambda: types).filters == {}  # the request's wins
    boost = understand("shoes", None, Policy({}, prices="none", product_type="boost"), {}, lambda: types)
    assert boost.filters == {} and boost.boosts[0].field == "category" and boost.boosts[0].value == "shoes"
    off = understand("shoes", None, Policy({}, prices="none", product_type="none"), {}, lambda: types)
    assert off.filters == {} and not off.boosts


def test_a_word_inside_a_value_already_found_names_no_type():
    types = TypeWords.train([(f"Red Tape Shoes {i}", "Shoes") for i in range(25)] + [(f"Tape Roll {i}", "Tools") for i in range(25)])
    voc = {"brand": Vocabulary.of(["Red Tape"])}
    u = understand("red tape", voc.get, Policy({"brand": "filter"}, prices="none"), {}, lambda: types)
    assert u.filters == {"brand": "red tape"}  # 'tape' is the brand's word here, not the Tools type


def test_the_understanding_section_takes_product_type(tmp_path):
    (tmp_path / "a.yaml").write_text("rules:\n  - id: d\n    match: {default: true}\nunderstanding:\n  product_type: boost\n")
    assert load_rules_dir(tmp_path).understanding.product_type == "boost"
    (tmp_path / "a.yaml").write_text("rules:\n  - id: d\n    match: {default: true}\nunderstanding:\n  product_type: always\n")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    assert ":5:" in str(err.value.errors[0]) and "always" in str(err.value.errors[0])
    assert load_rules_dir(ROOT / "query_rules").understanding.product_type == "filter"


def test_search_filters_by_the_named_type_and_says_so():
    c = demo_app()
    r = c.post("/search", json={"q": "watch", "size": 10, "rule": "none"}).json
    assert r["understood"]["filters"] == {"category": "watches"} and r["hits"]
    assert all(h["fields"]["category"] == "Watches" for h in r["hits"])
    assert c.post("/search", json={"q": "watch", "size": 10, "rule": "none", "understand": False}).json["total"]["value"] \
        > r["total"]["value"]


@pytest.mark.parametrize("q", ["watch", "red tshirts for women", "sports shoes for men", "not shoes"])
def test_both_backends_learn_the_same_types_and_read_alike(demo_on_opensearch, q):
    req = {"q": q, "size": 10, "rule": "none"}
    a, b = demo_app().post("/search", json=req).json, demo_on_opensearch.post("/search", json=req).json
    assert a.get("understood") == b.get("understood")
