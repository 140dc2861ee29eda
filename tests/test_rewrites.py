"""Rewrites in the rule files (issue 40, item 3): synonyms one- and two-way, words deleted, boost
and bury by a field's value, filters added; checked with file:line, hot reloaded, shown in
/search's `understood` and `explain`, in /inspect, in the decision log and in `rules diff`, alike
on both backends. No OpenSearch except the backends' comparison."""
from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import ROOT, demo_app
from sidecar.rerank.named import Vocabulary
from sidecar.retrieval.boosts import Boost, boosted
from sidecar.retrieval.hits import Hits
from sidecar.rules import RuleLoadError, RuleStore, load_rules_dir
from sidecar.understand import Policy, understand
from sidecar.understand.rewrites import RewriteSet, parse_rewrite, rewrite

FIELDS = ("brand", "colour", "gender", "usage")


def rewritten(text, rewrites, given):
    """``rewrite`` with one stage of ``rewrites``."""
    return rewrite(text, (RewriteSet.of(rewrites),), given)


def rw(**raw):
    got, problems = parse_rewrite(raw, "f.yaml:1", FIELDS)
    assert not problems, problems
    return got


def test_one_way_synonyms_add_the_catalogs_word_once_and_only_on_whole_words():
    tee = rw(when=["tee", "t shirt"], synonyms=["tshirt"])
    assert rewritten("red tees", [tee], {}).text == "red tees tshirt"          # plural read as singular
    assert rewritten("Red T-Shirt", [tee], {}).text == "red t-shirt tshirt"    # folded, punctuation between words
    assert rewritten("teeth whitening", [tee], {}).text == "teeth whitening"   # a part of a word is not the word
    assert rewritten("tee tshirt", [tee], {}).text == "tee tshirt"             # already there: not added again
    assert rewritten("tshirt", [tee], {}).applied == ()                        # one way only
    assert rewritten("red tee", [tee], {}).applied == ("f.yaml:1: tee -> also searches tshirt",)


def test_a_two_way_group_searches_every_other_member():
    group = rw(synonyms=["sari", "saree"])
    assert rewritten("blue saree", [group], {}).text == "blue saree sari"
    assert rewritten("blue sari", [group], {}).text == "blue sari saree"
    assert rewritten("blue dress", [group], {}).text == "blue dress"


def test_deleted_words_leave_the_text_but_never_all_of_it():
    noise = rw(when=["buy", "online"], delete=True)
    out = rewritten("buy red shoes online", [noise], {})
    assert out.text == "red shoes" and out.applied == ("f.yaml:1: buy, online -> deleted",)
    assert rewritten("buy online", [noise], {}).text == "buy online"  # nothing would be left: as typed


def test_rewrites_apply_in_order_each_to_the_text_the_earlier_left():
    first, second = rw(when="crimson", synonyms=["red"]), rw(when="red", delete=True)
    assert rewritten("crimson dress", [first, second], {}).text == "crimson dress"  # 'red' added, then deleted
    assert rewritten("crimson dress", [second, first], {}).text == "crimson dress red"


def test_boost_bury_and_filters_are_collected_and_the_requests_filter_wins():
    both = rw(when="office", boost={"field": "usage", "value": "Formal"}, filter={"gender": "Men"})
    out = rewritten("office shirt", [both], {})
    assert out.boosts == (Boost("usage", "formal", 2.0, "f.yaml:1"),) and out.filters == {"gender": "Men"}
    assert rewritten("office shirt", [both], {"gender": "Women"}).filters == {}
    bury = rw(when="party", bury={"field": "usage", "value": "Sports", "weight": 3})
    assert rewritten("party", [bury], {}).boosts[0].factor == 0.25


def test_a_synonym_feeds_what_understanding_finds_and_a_rewrite_filter_is_not_found_again():
    voc = {"colour": Vocabulary.of(["Red", "Blue"]), "gender": Vocabulary.of(["Men", "Women"])}
    policy = Policy(rewrites=(rw(when="crimson", synonyms=["red"]), rw(when="gents", filter={"gender": "Men"})))
    u = understand("crimson kurta for women", voc.get, policy, {})
    assert u.filters == {"colour": "red", "gender": "women"} and len(u.rewrites) == 1
    u = understand("gents women kurta", voc.get, policy, {})
    assert u.filters == {"gender": "Men"}  # the rewrite's filter, not also the found 'women'


def test_the_boost_action_of_understanding_boosts_and_does_not_filter():
    voc = {"colour": Vocabulary.of(["Red"])}
    u = understand("red skirt", voc.get, Policy(fields={"colour": "boost"}), {})
    assert u.filters == {} and u.boosts == (Boost("colour", "red", 2.0, "understanding.fields.colour"),)


def test_boosted_reorders_a_window_stably_by_folded_value_and_list_fields():
    hits = Hits(["a", "b", "c", "d"], np.array([4.0, 3.0, 2.0, 1.0]),
                [{"usage": "Casual"}, {"usage": "FORMAL"}, {"usage": ["x", "Formal"]}, {}], signatures=[None] * 4)
    out = boosted(hits, [Boost("usage", "formal", 2.0, "w")])
    assert out.ids == ["b", "a", "c", "d"] and out.scores.tolist() == [6.0, 4.0, 4.0, 1.0]  # ties keep their order
    assert boosted(hits, [Boost("usage", "sports", 2.0, "w")]) is hits
    assert boosted(hits, [Boost("usage", "casual", 0.1, "w")]).ids == ["b", "c", "d", "a"]  # buried


def write(dir_, name, text):
    (dir_ / name).write_text(text)


def test_rule_file_mistakes_are_named_with_file_and_line(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: d\n    match: {default: true}\n")
    write(tmp_path, "b.yaml", "rewrites:\n  - when: tee\n  - synonyms: [a]\n  - when: x\n    boost: {field: nope, value: y}\n"
                              "  - delete: true\n  - when: y\n    filter: {material: silk}\n  - when: z\n    bury: {field: usage}\n"
                              "  - when: w\n    boost: {field: usage, value: Formal, weight: 0}\n")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    got = [str(e) for e in err.value.errors]
    b = f"{tmp_path}/b.yaml"
    assert got[-2:] == [f"{b}:10: rewrites/5/bury: 'value' is a required property",
                        f"{b}:12: rewrites/6/boost/weight: 0 is less than or equal to the minimum of 0"], got
    assert len(got) == 7  # the schema's errors and every other rewrite's, in one reading
    write(tmp_path, "b.yaml", "rewrites:\n  - when: tee\n  - synonyms: [a]\n  - when: x\n    boost: {field: nope, value: y}\n"
                              "  - delete: true\n  - when: y\n    filter: {material: silk}\n  - description: nothing\n")
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    assert [str(e) for e in err.value.errors] == [
        f"{b}:2: rewrites[0]: does nothing: give synonyms, delete, boost, bury or filter",
        f"{b}:3: rewrites[1]: a two-way synonym group (no 'when') needs two different members",
        f"{b}:5: rewrites[2]: boost.field: 'nope' is not a keyword field of the catalog (brand, seller, condition, "
        "category, master_category, colour, gender, season, usage)",
        f"{b}:6: rewrites[3]: a rewrite needs 'when' (the words that trigger it), or 'synonyms' alone (a two-way group)",
        f"{b}:8: rewrites[4]: filter: 'material' is not a keyword field of the catalog (brand, seller, condition, "
        "category, master_category, colour, gender, season, usage)",
        f"{b}:9: rewrites[5]: a rewrite needs 'when' (the words that trigger it), or 'synonyms' alone (a two-way group)"]


def test_every_files_rewrites_join_in_file_order_and_an_edit_is_served_without_a_restart(tmp_path):
    write(tmp_path, "a.yaml", "rules:\n  - id: d\n    match: {default: true}\nrewrites:\n  - when: tee\n    synonyms: [tshirt]\n")
    write(tmp_path, "b.yaml", "rewrites:\n  - when: tshirt\n    delete: true\n")
    store = RuleStore(tmp_path)
    assert [r.where for r in store.current.understanding.rewrites] == [f"{tmp_path}/a.yaml:5", f"{tmp_path}/b.yaml:2"]
    time.sleep(0.01)
    write(tmp_path, "b.yaml", "rewrites:\n  - when: tee\n    boost: {field: usage, value: Sports}\n")
    assert store.reload() and store.current.understanding.rewrites[1].boosts[0].value == "sports"
    time.sleep(0.01)
    write(tmp_path, "b.yaml", "rewrites:\n  - when: tee\n    boost: {field: usage}\n")  # broken: the last good serve on
    assert not store.reload() and store.current.understanding.rewrites[1].boosts[0].value == "sports"


def test_search_shows_the_rewrites_and_each_boosted_hit_says_why():
    c = demo_app()
    r = c.post("/search", json={"q": "buy office shirt online", "size": 10, "explain": True, "rule": "none"}).json
    u = r["understood"]
    assert u["text"] == "office shirt" and any("deleted" in line for line in u["rewrites"])
    assert len(u["boosts"]) == 1 and u["boosts"][0].startswith("boost usage=formal x2 (") and "20-rewrites.yaml:" in u["boosts"][0]
    formal = [h for h in r["hits"] if h["fields"].get("usage") == "Formal"]
    assert formal and all(h["explanation"]["boosted"][0].startswith("boost usage=formal") for h in formal)
    assert all("boosted" not in h["explanation"] for h in r["hits"] if h["fields"].get("usage") != "Formal")
    plain = c.post("/search", json={"q": "office shirt", "size": 10, "rule": "none", "understand": False}).json
    share = lambda page: sum(h["fields"].get("usage") == "Formal" for h in page["hits"])  # noqa: E731
    assert share(r) > share(plain) and "understood" not in plain
    saree = c.post("/search", json={"q": "saree", "size": 20, "rule": "none"}).json
    assert {"sari", "saree"} <= {w.lower() for h in saree["hits"] for w in h["fields"]["title"].split()}


def test_the_decision_record_says_what_the_query_became():
    from sidecar.opensearch.decision_log import build_record
    from sidecar.retrieval.memory import MemoryBackend
    from sidecar.search.pipeline import run_search

    out = run_search({"q": "gym shorts"}, MemoryBackend(ROOT / "demo" / "catalog.jsonl"),
                     load_rules_dir(ROOT / "query_rules"), 1000)
    rec = build_record(out.decision, "r1")
    assert rec["understood_text"] == "gym shorts" and any("20-rewrites.yaml:" in r and "gym" in r for r in rec["rewrites"])
    assert run_search({"q": "cotton shorts"}, MemoryBackend(ROOT / "demo" / "catalog.jsonl"), load_rules_dir(ROOT / "query_rules"),
                      1000).decision.understood is None


def test_rules_diff_and_inspect_show_what_the_query_became(tmp_path):
    import shutil

    from sidecar.preview.replay import replay
    from sidecar.preview.sources import ReplayQuery
    from sidecar.retrieval.memory import MemoryBackend

    old = tmp_path / "old"
    shutil.copytree(ROOT / "query_rules", old)
    (old / "20-rewrites.yaml").unlink()
    report, _ = replay(MemoryBackend(ROOT / "demo" / "catalog.jsonl"), load_rules_dir(old), load_rules_dir(ROOT / "query_rules"),
                       [ReplayQuery("buy office shirt online", {}), ReplayQuery("black jacket", {})], k=10, progress=False)
    first, second = report["results"]
    assert first["read_before"]["text"] == "buy office shirt online" and first["read_after"]["text"] == "office shirt"
    assert "rewrites" not in first["read_before"] and first["page_changed"]
    assert second["read_before"] == second["read_after"]  # both sets read 'black' alike
    assert report["summary"]["readings_changed"] == 1
    page = demo_app().get("/inspect", query_string={"q": "buy office shirt online"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="became"' in html and "office shirt" in html and "20-rewrites.yaml" in html


@pytest.mark.parametrize("q", ["buy office shirt online", "gym shorts for gents", "blue saree", "ladies tee under 500"])
def test_rewrites_read_and_rank_alike_on_both_backends(demo_on_opensearch, q):
    """The same reading on both; on each, exactly the hits holding a boosted value say they were
    moved. (Pages and totals may differ where the two BM25 analyzers differ, rewrites or not:
    'men' matches 729 demo products in memory, 651 in OpenSearch.)"""
    req = {"q": q, "size": 10, "rule": "none", "explain": True}
    pages = [demo_app().post("/search", json=req).json, demo_on_opensearch.post("/search", json=req).json]
    assert pages[0]["understood"] == pages[1]["understood"], [p["understood"] for p in pages]
    for page in pages:
        usage = {b.split()[1].split("=")[1] for b in page["understood"].get("boosts", [])}
        assert all(("boosted" in h["explanation"]) == (str(h["fields"].get("usage", "")).lower() in usage)
                   for h in page["hits"])
    if q in ("buy office shirt online", "blue saree"):  # words both analyzers read alike
        assert pages[0]["total"] == pages[1]["total"] and pages[0]["total"]["value"] > 0


RULE_OWN = """rules:
  - id: d
    match: {default: true}
  - id: jeans
    match: {patterns: ['\\bjeans\\b']}
    rewrites:
      - when: jeans
        synonyms: [denim]
      - when: skinny
        boost: {field: usage, value: Casual}
rewrites:
  - when: buy
    delete: true
"""


def test_a_rules_own_rewrites_apply_after_the_sets_only_when_it_serves(tmp_path):
    from sidecar.retrieval.memory import MemoryBackend
    from sidecar.search.pipeline import run_search

    write(tmp_path, "a.yaml", RULE_OWN)
    rs, backend = load_rules_dir(tmp_path), MemoryBackend(ROOT / "demo" / "catalog.jsonl")
    u = run_search({"q": "buy blue jeans", "size": 3}, backend, rs, 1000).response
    assert u["rule"] == "jeans" and u["understood"]["text"] == "blue jeans denim"
    assert [r.split(": ", 1)[0] for r in u["understood"]["rewrites"]] == [f"{tmp_path}/a.yaml:12", f"{tmp_path}/a.yaml:7"]
    other = run_search({"q": "buy blue shirt", "size": 3}, backend, rs, 1000).response
    assert other["rule"] == "d" and other["understood"]["text"] == "blue shirt"  # the set's only
    named = run_search({"q": "buy jeans", "size": 3, "rule": "jeans", "overrides": {"size": 5}}, backend, rs, 1000).response
    assert named["understood"]["text"] == "jeans denim"  # named by id, with overrides: still its own
    assert "understood" not in run_search({"q": "buy jeans", "size": 3, "understand": False}, backend, rs, 1000).response


def test_a_rules_rewrites_are_checked_where_written_and_only_files_take_them(tmp_path):
    write(tmp_path, "a.yaml", RULE_OWN.replace("boost: {field: usage, value: Casual}", "boost: {field: fabric, value: silk}"))
    with pytest.raises(RuleLoadError) as err:
        load_rules_dir(tmp_path)
    assert [str(e) for e in err.value.errors] == [
        f"{tmp_path}/a.yaml:10: rules[1].rewrites[1]: boost.field: 'fabric' is not a keyword field of the catalog "
        "(brand, seller, condition, category, master_category, colour, gender, season, usage)"]
    r = demo_app().post("/rerank", json={"candidates": [{"id": "a", "score": 1.0}], "size": 1,
                                         "rule": {"id": "x", "rewrites": [{"when": "a", "delete": True}]}})
    assert r.status_code == 400 and r.json["error"]["field"] == "rule.rewrites"  # /rerank takes the core's shape


def test_rules_diff_reads_each_side_with_its_serving_rules_rewrites(tmp_path):
    from sidecar.preview.replay import replay
    from sidecar.preview.sources import ReplayQuery
    from sidecar.retrieval.memory import MemoryBackend

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    write(new, "a.yaml", RULE_OWN)
    write(old, "a.yaml", RULE_OWN.split("    rewrites:\n      - when: jeans")[0] + "rewrites:\n  - when: buy\n    delete: true\n")
    report, _ = replay(MemoryBackend(ROOT / "demo" / "catalog.jsonl"), load_rules_dir(old), load_rules_dir(new),
                       [ReplayQuery("buy jeans", {})], k=5, progress=False)
    (result,) = report["results"]
    assert result["read_before"]["text"] == "jeans" and result["read_after"]["text"] == "jeans denim"


def test_the_index_gives_what_applying_every_rewrite_in_order_gives():
    """``RewriteSet``'s word index only skips rewrites no word can trigger: random sets and
    queries (chains of synonyms, deletions, groups) get what the plain in-order walk gets."""
    import random

    from sidecar.understand.rewrites import _apply

    def plain(text, rewrites):
        current, lines, filters = text.lower(), [], {}
        for r in rewrites:
            current, line, _ = _apply(r, current, {}, filters)
            if line is not None:
                lines.append(line)
        return (current if lines else text), tuple(lines)

    rng = random.Random(40)
    lex = [f"w{i}" for i in range(12)]
    for _ in range(300):
        raws = []
        for i in range(rng.randint(1, 12)):
            kind = rng.random()
            if kind < 0.3:
                raws.append({"synonyms": rng.sample(lex, 2)})
            elif kind < 0.5:
                raws.append({"when": rng.choice(lex), "delete": True})
            else:
                raws.append({"when": [" ".join(rng.sample(lex, rng.choice((1, 1, 2))))], "synonyms": rng.sample(lex, 1)})
        rules = [parse_rewrite(raw, f"f:{i}", FIELDS)[0] for i, raw in enumerate(raws)]
        query = " ".join(rng.choices(lex, k=rng.randint(1, 5)))
        got = rewritten(query, rules, {})
        assert (got.text, got.applied) == plain(query, rules), (query, raws)
