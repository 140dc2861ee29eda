"""The product type a query names (issue 40, item 1): learnt from the catalog's titles and
categories, found in the query (negations, overlaps, two types named), applied as a filter or a
boost by the rule set's understanding, alike on both backends."""
from __future__ import annotations

import time

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


def test_a_shoppers_words_name_a_type_by_the_vote_of_the_products_nearest_them():
    from sidecar.understand import voted_type

    asked: list[str] = []

    def vote(words_):
        asked.append(words_)
        return ("fragrance", 0.9) if "scent" in words_ else ("gadgets", 0.5) if "gizmo" in words_ else None

    policy = Policy({"colour": "filter"}, prices="none")
    voc = {"colour": Vocabulary.of(["Red"])}
    u = understand("red scent for men", voc.get, policy, {}, lambda: TypeWords(), vote)
    assert u.filters == {"colour": "red", "category": "fragrance"}  # asked with the words naming nothing else
    assert asked == ["scent men"]  # not 'red' (a value found), not 'for' (a function word)
    assert understand("gizmo", None, policy, {}, lambda: TypeWords(), vote).filters == {}  # half the votes: none
    assert understand("not scent", None, policy, {}, lambda: TypeWords(), vote).filters == {}  # a negation
    types = TypeWords({"tshirt": ("topwear", 1.0)})
    asked.clear()
    assert understand("scent tshirt", None, policy, {}, lambda: types, vote).filters == {"category": "topwear"}
    assert asked == []  # a title word named the type: the encoder is not asked
    two = TypeWords({"tshirt": ("topwear", 1.0), "shoe": ("shoes", 1.0)})
    assert understand("tshirt shoes", None, policy, {}, lambda: two, vote).filters == {} and asked == []  # not guessed
    assert voted_type("for the", (), vote) is None


def test_the_vote_is_the_same_on_both_backends(demo_on_opensearch, os_url):
    import numpy as np

    from sidecar.opensearch.client import make_client
    from sidecar.retrieval.memory import MemoryBackend
    from sidecar.retrieval.opensearch_backend import OpenSearchBackend
    from conftest import DEMO_INDEX

    memory = MemoryBackend(ROOT / "demo" / "catalog.jsonl", ROOT / "demo" / "vectors.npy")
    remote = OpenSearchBackend(make_client(os_url), DEMO_INDEX, 10.0)
    rng = np.random.default_rng(3)
    for row in rng.choice(len(memory.docs), 5, replace=False):
        v = memory.vectors[row] + rng.normal(0, 0.01, memory.vectors.shape[1]).astype(np.float32)
        a, b = memory.type_vote(v), remote.type_vote(v)
        assert a[0] == b[0] and abs(a[1] - b[1]) <= 0.05, (a, b)  # HNSW may differ by a neighbour
    assert memory.type_vote(np.ones(3, np.float32)) is None and remote.type_vote(np.ones(3, np.float32)) is None


def test_a_word_the_titles_spread_over_types_is_not_sent_to_the_vote():
    types = TypeWords.train([(f"Sports Sandals {i}", "Sandal") for i in range(15)] + [(f"Sandals Shoes {i}", "Shoes") for i in range(15)])
    assert "sandal" in types.spread and "sandal" not in types.words  # 30 products, half and half
    asked: list[str] = []

    def vote(words_):
        asked.append(words_)
        return ("shoes", 0.95)

    policy = Policy({}, prices="none")
    assert understand("comfy sandals", None, policy, {}, lambda: types, vote).filters == {"category": "shoes"}
    assert asked == ["comfy"]  # only the word the catalog knows nothing of
    asked.clear()
    assert understand("sandals", None, policy, {}, lambda: types, vote).filters == {} and asked == []


def test_a_worker_reads_the_catalog_words_when_it_starts_not_on_a_shoppers_search(demo_on_opensearch, os_url, os_client):
    from conftest import DEMO_INDEX

    def searches() -> int:  # what OpenSearch ran on the demo index so far
        stats = os_client.indices.stats(index=DEMO_INDEX, metric="search")
        return stats["indices"][DEMO_INDEX]["total"]["search"]["query_total"]

    client = demo_app(backend="opensearch", opensearch_url=os_url, index=DEMO_INDEX)
    services = client.application.extensions["sidecar"]
    before = searches()
    services.start()
    deadline = time.monotonic() + 30
    while not services.catalog_words_read and time.monotonic() < deadline:
        time.sleep(0.05)
    assert services.catalog_words_read
    read = searches() - before
    assert read >= 1 + len(services.store.current.catalog_fields())  # the titles' scan, each field's values
    req = {"q": "red tshirts for women", "size": 10}
    counts = []
    for _ in range(2):
        before = searches()
        assert client.post("/search", json=req).status_code == 200
        counts.append(searches() - before)
    assert counts[0] == counts[1] < read  # the first search paid for no read: the same searches as the next


def started_until_logged(services, caplog, line: str, seconds: float = 15) -> None:
    """``services`` started, and waited for until its log holds ``line`` (at most ``seconds``)."""
    with caplog.at_level("INFO"):
        services.start()
        deadline = time.monotonic() + seconds
        while line not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)


def test_a_worker_started_before_its_index_exists_says_so_in_one_line(os_url, caplog):
    client = demo_app(backend="opensearch", opensearch_url=os_url, index="test-no-such-index-yet")
    services = client.application.extensions["sidecar"]
    started_until_logged(services, caplog, "catalog words not read at start")
    assert "catalog words not read at start: the products index is red" in caplog.text
    assert not services.catalog_words_read
    assert "could not read" not in caplog.text  # no warning per field


def test_a_catalog_read_that_fails_at_start_is_one_warning_and_the_worker_serves_on(caplog):
    from sidecar.retrieval.memory import MemoryBackend

    class Broken(MemoryBackend):
        def vocabulary(self, field):
            raise RuntimeError("the catalog is being rebuilt")

    client = demo_app()
    services = client.application.extensions["sidecar"]
    services.backend = Broken(ROOT / "demo" / "catalog.jsonl", ROOT / "demo" / "vectors.npy")
    started_until_logged(services, caplog, "catalog words not read at start")
    assert "catalog words not read at start (the catalog is being rebuilt)" in caplog.text
    assert "Traceback" not in caplog.text and not services.catalog_words_read
