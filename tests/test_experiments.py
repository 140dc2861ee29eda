"""Experiments' pure parts against plain references: deterministic assignment, team-draft
interleaving against the textbook loop, and the statistics against hand-computed figures."""
from __future__ import annotations

import math
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.experiments import assign
from sidecar.experiments.interleave import preference, team_draft
from sidecar.experiments.stats import sign_test_p, two_proportion_p, wilson


def test_assignment_is_a_function_of_the_name_and_the_id_and_splits_evenly():
    ids = [f"client-{i}" for i in range(20000)]
    arms = [assign.arm("fall-rules", i, 0.5) for i in ids]
    assert arms == [assign.arm("fall-rules", i, 0.5) for i in ids]  # a second replica, same answers
    counts = Counter(arms)
    assert abs(counts[None] / len(ids) - 0.5) < 0.02 and abs(counts["a"] - counts["b"]) / len(ids) < 0.02
    # widening the share only adds ids, each on the arm it had
    wider = [assign.arm("fall-rules", i, 0.8) for i in ids]
    assert all(w == a for a, w in zip(arms, wider) if a is not None)
    assert abs(sum(w is not None for w in wider) / len(ids) - 0.8) < 0.02
    assert Counter(assign.arm("other", i, 0.5) for i in ids) != counts  # another experiment, another split


def _reference(a, b, k, seed):
    """The textbook team draft: the team with fewer picks picks; on a tie a coin decides."""
    coin = random.Random(seed)
    page, teams, ta, tb = [], [], 0, 0
    while len(page) < k:
        rest_a = [x for x in a if x not in page]
        rest_b = [x for x in b if x not in page]
        if not rest_a and not rest_b:
            break
        if ta == tb:
            first_a = coin.random() < 0.5
        side = "a" if (ta < tb or (ta == tb and first_a)) else "b"
        if side == "a" and not rest_a:
            side = "b"
        elif side == "b" and not rest_b:
            side = "a"
        page.append((rest_a if side == "a" else rest_b)[0])
        teams.append(side)
        ta, tb = ta + (side == "a"), tb + (side == "b")
    return page, teams


rankings = st.lists(st.sampled_from([f"p{i}" for i in range(30)]), max_size=25, unique=True)


@settings(max_examples=300, deadline=None)
@given(rankings, rankings, st.integers(0, 30), st.integers(0, 2**32))
def test_team_draft_equals_the_textbook_loop_while_both_sides_have_items(a, b, k, seed):
    got = team_draft(a, b, k, seed)
    page, teams = _reference(a, b, k, seed)
    assert len(set(got.ids)) == len(got.ids) and len(got.ids) == min(k, len(set(a) | set(b)))
    for side, ranking in (("a", a), ("b", b)):  # each side's picks in its own order
        mine = [x for x, t in zip(got.ids, got.teams) if t == side]
        assert mine == sorted(mine, key=ranking.index)
    # the rankings' common prefix is on top and credited to neither
    prefix = 0
    while prefix < min(len(a), len(b), len(got.ids)) and a[prefix] == b[prefix] == got.ids[prefix]:
        prefix += 1
    assert got.teams[:prefix] == ["both"] * prefix and "both" not in got.teams[prefix:]
    # identical to the textbook loop until one side runs out (then both just fill from the other)
    n = min(len(got.ids), len(page))
    same = next((i for i in range(n) if (got.ids[i], got.teams[i] if i >= prefix else teams[i]) != (page[i], teams[i])), n)
    rest_a = [x for x in a if x not in got.ids[:same]]
    rest_b = [x for x in b if x not in got.ids[:same]]
    assert same == n or not rest_a or not rest_b


def test_team_draft_passes_over_what_the_caller_refuses_and_credits_clicks():
    a, b = ["x1", "x2", "x3", "x4"], ["y1", "x1", "y2", "y3"]
    got = team_draft(a, b, 4, seed=7, compatible=lambda page, item: item != "y1")
    assert "y1" not in got.ids and len(got.ids) == 4
    clicked = [item in ("x2", "y2") for item in got.ids]
    expected = {"a": 0, "b": 0}
    for t, c in zip(got.teams, clicked):
        expected[t] += c
    assert preference(got.teams, clicked) == (None if expected["a"] == expected["b"] else max(expected, key=expected.get))
    assert preference(got.teams, [False] * 4) is None


def test_statistics_against_hand_computed_figures():
    lo, hi = wilson(10, 100)  # Wilson's interval for 10/100: 0.0552 .. 0.1744
    assert math.isclose(lo, 0.05522, abs_tol=1e-4) and math.isclose(hi, 0.17437, abs_tol=1e-4)
    assert wilson(0, 0) == (0.0, 1.0) and wilson(0, 10)[0] == 0.0 and math.isclose(wilson(10, 10)[1], 1.0)
    # 60/100 against 40/100: z = 0.2 / sqrt(0.5 * 0.5 * 0.02) = 2.828, p = 0.00468
    assert math.isclose(two_proportion_p(60, 100, 40, 100), 0.004678, abs_tol=1e-5)
    assert two_proportion_p(0, 10, 0, 10) == 1.0
    # 9 wins, 1 loss: 2 * (1 + 10) / 1024 = 0.02148
    assert math.isclose(sign_test_p(9, 1), 22 / 1024, rel_tol=1e-9)
    assert sign_test_p(5, 5) == 1.0 and sign_test_p(0, 0) == 1.0
    assert sign_test_p(30000, 29000) < 1e-4  # large n stays finite


def _toy(n_queries: int = 30):
    """A better and a worse ranking of each query: the better puts the relevant items first."""
    rng = random.Random(1)
    grades, better, worse = {}, {}, {}
    for q in range(n_queries):
        items = [f"q{q}-{i}" for i in range(10)]
        g = {it: (3 if i < 2 else 1 if i < 4 else 0) for i, it in enumerate(items)}
        grades[str(q)] = g
        better[str(q)] = items
        shuffled = items[:]
        rng.shuffle(shuffled)
        worse[str(q)] = sorted(shuffled, key=lambda it: g[it] > 0)  # relevant items last
    return grades, better, worse


def test_the_simulator_finds_the_better_arm_and_interleaving_needs_fewer_sessions():
    from sidecar.experiments import simulate

    grades, better, worse = _toy()
    for model in ("pbm", "cascade"):
        ab = [simulate.ab(better, worse, grades, model, seed, 2000) for seed in range(5)]
        il = [simulate.interleave(better, worse, grades, model, seed, 2000) for seed in range(5)]
        assert all(o.winner == "a" and o.better == "a" and o.p < 0.05 for o in ab + il), (model, ab, il)
        assert sorted(o.needed for o in il)[2] < sorted(o.needed for o in ab)[2]


def test_the_sessions_needed_are_what_a_test_of_that_many_finds():
    """At the estimated number of sessions a fresh test finds the better arm in about 80% of
    runs (the power the estimate is for): 22 to 38 of 40, for both methods. The effect: the
    second best item moved to fifth place (interleaving needs about 100 sessions, A/B 3,000)."""
    from sidecar.experiments import simulate

    grades, better, _ = _toy()
    moved = {q: [p[0], p[4], p[2], p[3], p[1], *p[5:]] for q, p in better.items()}
    for fn in (simulate.interleave, simulate.ab):
        needed = sorted(fn(better, moved, grades, "pbm", seed, 20000).needed for seed in range(5))[2]
        found = sum(fn(better, moved, grades, "pbm", 100 + seed, round(needed)).winner == "a" for seed in range(40))
        assert 22 <= found <= 38, (fn.__name__, needed, found)


def test_the_simulator_declares_few_winners_between_equal_arms():
    from sidecar.experiments import simulate

    grades, better, worse = _toy()
    # the same pages on both arms: interleaving credits no click (every item is both arms' at its rank)
    assert all(simulate.interleave(better, better, grades, "pbm", seed, 300).p == 1.0 for seed in range(5))
    # different pages of equal worth to shoppers who click by position only: the coin keeps it fair
    alike = {q: dict.fromkeys([*better[q], *worse[q]], 2) for q in better}
    winners = sum(simulate.interleave(better, worse, alike, "pbm", seed, 300).winner is not None for seed in range(40))
    winners += sum(simulate.ab(better, better, grades, "pbm", seed, 300).winner is not None for seed in range(40))
    assert winners <= 8  # 80 tests at 5%: 4 expected, more than 8 happens about 2% of the time


# --- experiments in rule files, and the pages they serve (memory backend) ---------------------

def _arms(tmp_path, experiment: str, edit=lambda text: text.replace("mmr: {diversity: 0.3}", "mmr: {diversity: 0.7}")
          .replace("max: 0.3, label: \"one brand", "max: 0.2, label: \"one brand")):
    """query_rules copied as the serving rules (with ``experiment`` added) and as an edited arm b."""
    import shutil

    from conftest import ROOT

    serving, arm = tmp_path / "query_rules", tmp_path / "query_rules.next"
    shutil.copytree(ROOT / "query_rules", serving)
    shutil.copytree(ROOT / "query_rules", arm)
    for f in arm.glob("*.yaml"):
        f.write_text(edit(f.read_text()))
    (serving / "90-experiments.yaml").write_text(experiment)
    return serving, arm


EXPERIMENT = ("# experiments of the team\nexperiments:\n  - name: next-rules\n    b: ../query_rules.next\n"
              "    share: 1.0\n    method: {method}\n")


def test_experiments_load_with_the_rules_and_their_mistakes_are_file_line_errors(tmp_path):
    import pytest

    from sidecar.rules import RuleLoadError, load_rules_dir

    serving, arm = _arms(tmp_path, EXPERIMENT.format(method="ab"))
    rs = load_rules_dir(serving)
    (ex,) = rs.experiments
    assert (ex.name, ex.method, ex.share, ex.line) == ("next-rules", "ab", 1.0, 3)
    a, b = rs.arms["next-rules"]
    assert a.experiments == () and a.by_id.keys() == rs.by_id.keys()  # ".": the serving rules themselves
    assert b.version == load_rules_dir(arm).version and b.version != a.version
    from conftest import run_cli

    check = run_cli("rules", "check", str(serving))
    assert check.returncode == 0 and f"experiment next-rules ({serving}/90-experiments.yaml:3): ab, share 1" in check.stdout
    bad = serving / "90-experiments.yaml"
    cases = [
        ("experiments:\n  - name: x\n    b: ../query_rules.next\n    share: 2\n", ":4: experiments/0/share"),
        ("experiments:\n  - name: x\n    b: ../query_rules.next\n    share: 1\n    start: soon\n",
         ":5: start: 'soon' is not an ISO 8601"),
        ("experiments:\n  - name: x\n    b: ../query_rules.next\n    share: 1\n    start: 2026-12-02\n"
         "    end: 2026-12-01\n", ":6: end: 2026-12-01 is not after start"),
        ("experiments:\n  - name: x\n    b: ../nowhere\n    share: 1\n", ":2: b: the rules in"),
        ("experiments:\n  - name: x\n    b: ../query_rules.next\n    share: 1\n    rule: nope\n", ":2: rule: no rule 'nope'"),
        ("experiments:\n  - name: x\n    b: ../query_rules.next\n    share: 1\n"
         "  - name: x\n    b: ../query_rules.next\n    share: 1\n", ":5: duplicate experiment name 'x'"),
    ]
    for text, expected in cases:
        bad.write_text(text)
        with pytest.raises(RuleLoadError) as err:
            load_rules_dir(serving)
        assert any(f"{bad}{expected}" in str(e) for e in err.value.errors), (expected, err.value.errors)
    bad.write_text(EXPERIMENT.format(method="ab"))
    (arm / "90-nested.yaml").write_text(EXPERIMENT.format(method="ab").replace("../query_rules.next", "../query_rules"))
    with pytest.raises(RuleLoadError, match="90-nested.yaml:3: an experiment in an experiment's arm"):
        load_rules_dir(serving)


def test_a_store_reloads_when_an_arm_directory_is_edited(tmp_path):
    from sidecar.rules import RuleStore

    serving, arm = _arms(tmp_path, EXPERIMENT.format(method="ab"))
    store = RuleStore(serving)
    before = store.current.arms["next-rules"][1].version
    assert store.poll_once() in (None, True)  # the first look may learn the arm's listing
    f = next(arm.glob("*.yaml"))
    f.write_text(f.read_text() + "\n# edited\n")
    assert store.poll_once() is True
    assert store.current.arms["next-rules"][1].version != before


SECRET = "experiments-test-key-5b1e07c9a2d84f36e81b0c4d9a7f2e35"  # every replica's SIDECAR_SECRET
KEY = SECRET.encode()


def _client(rules, secret: str = SECRET):
    from conftest import ROOT
    from sidecar.config import Config
    from sidecar.server import create_app

    cfg = Config.load(environ={}, catalog=str(ROOT / "demo" / "catalog.jsonl"), vectors=str(ROOT / "demo" / "vectors.npy"),
                      rules=str(rules), rules_poll_seconds=0, backend="memory", encoder="off", secret=secret)
    return create_app(cfg).test_client()


def _search(client, body, **kw):
    import json

    r = client.post("/search", data=json.dumps(body), content_type="application/json", **kw)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_an_ab_experiment_serves_each_client_one_arms_own_pages(tmp_path):
    import shutil

    serving, arm = _arms(tmp_path, EXPERIMENT.format(method="ab"))
    shutil.copytree(serving, tmp_path / "plain", ignore=shutil.ignore_patterns("90-*"))
    c, plain_a, plain_b = _client(serving), _client(tmp_path / "plain"), _client(arm)
    seen = Counter()
    for i in range(24):
        client = f"shopper-{i}"
        body = {"q": "shoes", "size": 8}
        page = _search(c, {**body, "client_id": client})
        side = assign.arm("next-rules", client, 1.0, KEY)
        assert page["experiment"] == {"name": "next-rules", "method": "ab", "arm": side}
        assert _search(c, body, headers={"X-Client-Id": client})["experiment"]["arm"] == side  # the header too
        own = _search(plain_a if side == "a" else plain_b, body)
        assert [h["id"] for h in page["hits"]] == [h["id"] for h in own["hits"]]
        seen[side] += 1
    assert seen["a"] > 0 and seen["b"] > 0
    # no client id, a named rule or overrides: served by the rules as usual
    for body in ({"q": "shoes"}, {"q": "shoes", "client_id": "x", "rule": "broad-mmr"},
                 {"q": "shoes", "client_id": "x", "overrides": {"size": 5}}):
        assert "experiment" not in _search(c, body)
    listed = c.get("/inspect/experiments")
    assert listed.status_code == 200 and ">next-rules</a>" in listed.get_data(as_text=True)
    memory = c.get("/inspect/experiments?name=next-rules")  # the report reads OpenSearch
    assert memory.status_code == 400 and "memory backend" in memory.get_data(as_text=True)
    assert "no experiment" in plain_a.get("/inspect/experiments?name=next-rules").get_data(as_text=True)


def test_an_experiment_covers_only_its_rule_its_share_and_its_time():
    from datetime import datetime, timezone

    from sidecar.experiments.serve import assignment
    from sidecar.rules.experiments import Experiment

    now = datetime(2026, 12, 1, tzinfo=timezone.utc)

    def ex(**kw):
        base = dict(name="e", a=".", b="../b", share=1.0, method="ab", rule=None, start=None, end=None, file="f", line=1)
        return Experiment(**{**base, **kw})

    assert ex().covers("r", now) and ex(rule="r").covers("r", now) and not ex(rule="s").covers("r", now)
    assert not ex(start=datetime(2026, 12, 2, tzinfo=timezone.utc)).covers("r", now)
    assert not ex(end=now).covers("r", now) and ex(end=datetime(2026, 12, 2, tzinfo=timezone.utc)).covers("r", now)
    assert not ex(share=0.0).covers("r", now)

    class Rules:  # the two things assignment reads of a rule set
        experiments = (ex(share=0.3),)
        arms = {"e": (None, None)}

        def match(self, q, filters):
            return None

    ids = [f"c{i}" for i in range(2000)]
    inside = sum(assignment(Rules(), {"q": "x"}, i, now) is not None for i in ids)
    assert abs(inside / len(ids) - 0.3) < 0.04


def test_an_interleaved_page_merges_both_arms_by_team_draft_within_their_shared_limits(tmp_path):
    import shutil

    from sidecar.rerank.shares import count
    from sidecar.rules import load_rules_dir

    serving, arm = _arms(tmp_path, EXPERIMENT.format(method="interleave"))
    shutil.copytree(serving, tmp_path / "plain", ignore=shutil.ignore_patterns("90-*"))
    c, own = _client(serving), {"a": _client(tmp_path / "plain"), "b": _client(arm)}
    rs = load_rules_dir(serving)
    a_rule, b_rule = rs.arms["next-rules"][0].get("broad-mmr"), rs.arms["next-rules"][1].get("broad-mmr")
    caps = [(ca, max(ca.fraction, cb.fraction)) for ca in a_rule.constraints for cb in b_rule.constraints
            if ca.kind == cb.kind == "max" and (ca.field, ca.prop) == (cb.field, cb.prop)]
    assert caps  # the shipped rule has caps both arms hold
    ranking = {side: [h["id"] for h in _search(own[side], {"q": "shoes", "size": 24})["hits"]] for side in own}
    assert ranking["a"] != ranking["b"]
    leads = Counter()
    for i in range(8):
        body = {"q": "shoes", "size": 8, "client_id": f"shopper-{i}"}
        p1, p2 = _search(c, body), _search(c, {**body, "from": 8})
        assert p1["experiment"] == {"name": "next-rules", "method": "interleave", "arm": "interleaved"}
        hits = p1["hits"] + p2["hits"]
        ids = [h["id"] for h in hits]
        assert len(set(ids)) == 16 and [h["rank"] for h in hits] == list(range(1, 17))  # page 2 continues page 1
        assert [h["id"] for h in _search(c, body)["hits"]] == ids[:8]  # the same request, the same page
        leads[next(h["team"] for h in hits if h["team"] != "both")] += 1
        for side in ("a", "b"):  # each arm's picks keep that arm's own order
            picks = [ranking[side].index(h["id"]) for h in hits if h["team"] == side]
            assert picks == sorted(picks) and len(picks) >= 4
        for page in (p1, p2):  # the caps both arms hold, at the looser fraction
            items = [{"id": h["id"], "fields": h["fields"]} for h in page["hits"]]
            for con, fraction in caps:
                assert count(con, items) <= fraction * 8 + 1e-9, (con.label, fraction)
    assert leads["a"] > 0 and leads["b"] > 0  # a coin decides who picks first
    # a page too short for a cap's fraction (0.3 of 3 allows no brand at all) is still filled,
    # no worse than the arms' own first pages
    for i in range(4):
        small = _search(c, {"q": "shoes", "size": 3, "client_id": f"shopper-{i}"})["hits"]
        assert len(small) == 3
    # the arms retrieve alike here (only the order and a cap differ): one retrieval serves both
    backend = c.application.extensions["sidecar"].backend
    calls, real = [], backend.retrieve
    backend.retrieve = lambda req: (calls.append(req.window), real(req))[1]
    _search(c, {"q": "shoes", "size": 8, "client_id": "shopper-0"})
    interleaved = len(calls)
    _search(c, {"q": "shoes", "size": 8})
    assert interleaved == len(calls) - interleaved >= 1
    looked_up, real_vector = [], backend.vector_of
    backend.vector_of = lambda doc_id: (looked_up.append(doc_id), real_vector(doc_id))[1]
    _search(c, {"q": "shoes", "like": "15970", "size": 8, "client_id": "shopper-0"})
    assert looked_up == ["15970"]  # the like product's vector, fetched once for both arms


def test_two_rankings_of_one_retrieval_read_each_field_once_and_rank_as_alone():
    """An interleaved request ranks the same hits under both arms' rules: the columns read for
    the first ranking serve the second (``Hits.columns``), and each ranks as it would alone."""
    from dataclasses import replace
    from datetime import datetime, timezone

    import numpy as np
    from conftest import ROOT

    from sidecar.search.paging import reranker
    from sidecar.retrieval.hits import Hits
    from sidecar.rules import load_rules_dir

    class Counted(dict):
        reads = 0

        def get(self, *args):
            Counted.reads += 1
            return super().get(*args)

    rows = [{"title": f"item {i}", "brand": f"b{i % 3}", "seller": f"s{i % 5}", "condition": ("new", "used")[i % 4 == 0],
             "price": 10.0 + i} for i in range(40)]
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rules = load_rules_dir(ROOT / "query_rules")
    a = rules.get("watches-preowned")  # near-duplicates collapsed, a share of pre-owned, a brand cap
    b = replace(a, dedup=None, constraints=a.constraints[1:])  # the brand cap alone

    def hits() -> Hits:
        return Hits([f"d{i}" for i in range(40)], np.linspace(2, 1, 40), [Counted(r) for r in rows])

    alone = {name: reranker(rule, explain=False, now=now)(hits(), 10, None)["hits"] for name, rule in (("a", a), ("b", b))}
    shared = hits()
    first = reranker(a, explain=False, now=now)(shared, 10, None)["hits"]
    Counted.reads = 0
    second = reranker(b, explain=False, now=now)(shared, 10, None)["hits"]
    assert first == alone["a"] and second == alone["b"]
    assert shared.columns and Counted.reads == 0  # b's fields were all read for a


def test_report_figures_against_hand_computed_ones():
    from sidecar.experiments.report import summarize, text

    def page(rid, arm, sat=1.0, ids=("x",), teams=None):
        return {"request_id": rid, "experiment": "e", "arm": arm, "@timestamp": f"2026-12-01T00:00:{rid[1:]:0>2}Z",
                "ids_after": list(ids), "teams": teams, "constraint_satisfaction": sat, "dedup_collapsed": 1}

    def ev(qid, action, obj="x"):
        return {"query_id": qid, "action_name": action, "event_attributes": {"object": {"object_id": obj}}}

    genuine = lambda query_id, client: True  # noqa: E731 - signatures: test_the_report_credits_only_what_happened
    pages = [page("p1", "a"), page("p2", "a", 0.5), page("p3", "a"), page("p4", "a"),
             page("p5", "b"), page("p6", "b"), page("p7", "b"), page("p8", "b"), page("p9", "b"),
             {**page("p10", "a"), "experiment": "other"}]
    events = [ev("p1", "click"), ev("p1", "click"), ev("p2", "click"), ev("p2", "add_to_cart"),
              ev("p5", "click"), ev("p6", "click"), ev("p7", "click"), ev("p8", "click"), ev("p8", "purchase"),
              ev("p10", "click"), ev("nowhere", "click")]
    out = summarize("e", pages, events, genuine)
    a, b = out["arms"]["a"], out["arms"]["b"]
    assert (out["method"], out["pages"], out["events_read"], out["events_on_pages"]) == ("ab", 9, 11, 8)
    assert out["events_elsewhere"] == 1 and out["refused"] == {"forged": 0, "other_client": 0, "unknown_page": 1,
                                                               "not_on_page": 0, "repeat": 1}
    assert (a["pages"], a["click"]["pages_with"], a["click"]["rate"]) == (4, 2, 0.5)  # two clicks on p1 count once
    assert (b["click"]["pages_with"], b["click"]["rate"], b["purchase"]["rate"], a["purchase"]["rate"]) == (4, 0.8, 0.2, 0.0)
    assert (a["click"]["low"], a["click"]["high"]) == tuple(round(x, 6) for x in wilson(2, 4))
    assert out["difference"]["click"] == {"b_minus_a": 0.3, "p_value": round(two_proportion_p(2, 4, 4, 5), 6)}
    assert a["constraint_satisfaction"] == 0.875 and b["dedup_collapsed"] == 1
    assert out["running"][-1] == {"t": "2026-12-01T00:00:09Z", "pages": 9, "a": 0.5, "b": 0.8}
    assert "click" in text(out) and "repeat 1" in text(out)

    teams = ["a", "b", "a", "b"]
    ids = ["i1", "i2", "i3", "i4"]
    pages = [page(f"p{i}", "interleaved", ids=ids, teams=teams) for i in range(1, 7)]
    events = [ev("p1", "click", "i2"), ev("p2", "click", "i2"), ev("p2", "click", "i4"), ev("p3", "click", "i1"),
              ev("p4", "click", "i1"), ev("p4", "click", "i2"), ev("p5", "click", "zz"), ev("p6", "add_to_cart", "i1")]
    r = summarize("e", pages, events, genuine)["interleaving"]
    # p1, p2 prefer b; p3 prefers a; p4 ties; p5's click is not on its page (refused: no credited click); p6 has no click
    assert (r["wins"], r["ties"], r["pages_with_clicks"], r["clicks_not_on_page"]) == ({"a": 1, "b": 2}, 1, 4, 1)
    assert r["preference_b"] == round(2 / 3, 6) and r["p_value"] == round(sign_test_p(2, 1), 6) == 1.0
    shared = [page("p1", "interleaved", ids=ids, teams=["both", "a", "b", "a"])]
    r = summarize("e", shared, [ev("p1", "click", "i1")], genuine)["interleaving"]  # a click on the arms' common top
    assert (r["wins"], r["ties"], r["pages_with_clicks"]) == ({"a": 0, "b": 0}, 1, 1)


def test_the_report_credits_only_what_happened():
    """A forger against an A/B over real pages: made-up ids, another client's page, objects not on
    the page, a wrong position, 50 repeats of one real click. Credited: that one click."""
    from sidecar.experiments.identity import PageSigner
    from sidecar.experiments.report import summarize

    signer = PageSigner(SECRET)
    pages = []
    for i in range(40):
        client = f"shopper-{i}"
        pages.append({"request_id": signer.mint(client), "client_id": client, "experiment": "e",
                      "arm": "ab"[i % 2], "@timestamp": f"2026-12-01T00:{i:02d}:00Z", "from": 0,
                      "ids_after": [f"item-{i}-{k}" for k in range(10)]})
    mine = pages[1]  # the forger's own page (arm b)

    def click(page, client, obj, ordinal=None):
        attrs = {"object": {"object_id": obj}} | ({"position": {"ordinal": ordinal}} if ordinal else {})
        return {"query_id": page["request_id"] if isinstance(page, dict) else page, "client_id": client,
                "action_name": "click", "event_attributes": attrs}

    forged = [click(f"{'%016x' % k}.{'0' * 32}", "shopper-1", "item-1-0") for k in range(30)]  # made-up ids
    stolen = [click(p, "shopper-1", p["ids_after"][0]) for p in pages[2::2]]  # other clients' pages, as itself
    off_page = [click(mine, "shopper-1", "item-99-0"), click(mine, "shopper-1", "item-1-3", ordinal=1)]
    repeats = [click(mine, "shopper-1", "item-1-2", ordinal=3) for _ in range(51)]
    events = forged + stolen + off_page + repeats
    out = summarize("e", pages, events, signer.verify)
    assert out["events_on_pages"] == 1, out
    assert out["arms"]["b"]["click"]["pages_with"] == 1 and out["arms"]["a"]["click"]["pages_with"] == 0
    refused = out["refused"]
    assert refused["forged"] == 30 and refused["other_client"] == len(pages[2::2])
    assert refused["not_on_page"] == 2 and refused["repeat"] == 50 and refused["unknown_page"] == 0
    assert out["events_elsewhere"] == 0
    # a genuine id of a page that was not logged (sampled out): unknown, not credited
    unlogged = signer.mint("shopper-1")
    assert summarize("e", pages, [click(unlogged, "shopper-1", "x")], signer.verify)["refused"]["unknown_page"] == 1


def test_two_replicas_assign_every_client_alike(tmp_path):
    serving, _ = _arms(tmp_path, EXPERIMENT.format(method="ab"))
    one, two = _client(serving), _client(serving)  # two servers of the same rules: nothing shared
    for i in range(20):
        body = {"q": "shoes", "size": 4, "client_id": f"shopper-{i}"}
        assert _search(one, body)["experiment"] == _search(two, body)["experiment"]


def test_events_wait_in_the_spool_while_opensearch_is_away(tmp_path):
    """An outage loses no accepted event: each waits in the worker's spool (nothing dropped, nothing
    unknown), and the spool is bounded: past it the answer is a 503, never a 202."""
    import socket

    from conftest import ROOT
    from sidecar.config import Config
    from sidecar.server import create_app

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg = Config.load(environ={}, backend="opensearch", opensearch_url=dead, index="products", encoder="off",
                      rules=str(ROOT / "query_rules"), rules_poll_seconds=0, events_spool_bytes=65536,
                      events_per_client=100000)
    app = create_app(cfg)
    c, events = app.test_client(), app.extensions["sidecar"].events
    event = {"action_name": "click", "query_id": "q1", "event_attributes": {"object": {"object_id": "1"}}}
    for _ in range(5):
        r = c.post("/events", json={"events": [event, event]})
        assert r.status_code == 202 and r.json == {"accepted": 2}
    assert not events.flush(1.0) and events.accepted == 10 and events.written == events.dropped == 0
    assert events.pending() > 0 and events.path.stat().st_size == events.pending()  # on disk, before the 202
    stored = 10
    while True:
        r = c.post("/events", json={"events": [event] * 100})
        if r.status_code != 202:
            break
        stored += 100
    assert r.status_code == 503 and r.json["error"]["type"] == "events_not_stored" and r.headers["Retry-After"]
    assert events.accepted == stored and events.pending() <= 65536
    text = c.get("/metrics").get_data(as_text=True)
    assert f"sidecar_events_accepted_total {float(stored)}" in text
    assert 'sidecar_events_refused_total{reason="spool_full"} 100.0' in text
    events.close(0.5)


def test_the_report_page_says_when_opensearch_is_away_and_the_server_serves_on(tmp_path):
    import socket

    from sidecar.config import Config
    from sidecar.server import create_app

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    serving, _ = _arms(tmp_path, EXPERIMENT.format(method="ab"))
    c = create_app(Config.load(environ={}, backend="opensearch", opensearch_url=dead, index="products", encoder="off",
                               rules=str(serving), rules_poll_seconds=0, backend_timeout=1.0)).test_client()
    page = c.get("/inspect/experiments?name=next-rules")
    assert page.status_code == 503 and "OpenSearch could not be read" in page.get_data(as_text=True)
    r = c.post("/search", json={"q": "shoes", "client_id": "x"})
    assert r.status_code == 503 and r.json["error"]["type"] == "backend_unavailable"
    assert c.get("/healthz").status_code == 200
