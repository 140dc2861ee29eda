"""Evaluation: metrics against hand-computed cases, the CLI end to end, the report's shape."""
from __future__ import annotations

import json

import numpy as np
import pytest
from jsonschema import Draft7Validator

from conftest import ROOT, run_cli
from sidecar.evaluation import diversity as dv
from sidecar.evaluation.harness import Query, aggregate, strategy_body
from sidecar.evaluation.report import REPORT_SCHEMA
from sidecar.rerank.rule import parse_constraint, parse_rule


def test_near_dup_pairs_by_title_token_jaccard():
    titles = ["Puma Men Grey T-shirt", "Puma Men Grey T-Shirt", "Puma Men Grey Shirt", "Nike Women Red Top"]
    # tokens: {puma, men, grey, t, shirt} twice (J = 1); vs {puma, men, grey, shirt}: J = 4/5 = 0.8
    assert dv.near_dup_pairs(titles) == 3
    assert dv.near_dup_pairs(titles, threshold=0.9) == 1
    assert dv.near_dup_pairs([]) == 0


def test_max_share_and_ild():
    assert dv.max_share(["a", "a", "b", None]) == 0.5
    assert dv.max_share([None, None]) == 0.0
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # cosines: 0, 0.7071, 0.7071 -> mean 0.4714 -> ILD 0.5286
    assert dv.ild(v) == pytest.approx(1 - (2 * 2 ** -0.5) / 3)
    assert dv.ild(v[:1]) == 0.0


def items(brands):
    return [{"id": str(i), "fields": {"brand": b}} for i, b in enumerate(brands)]


def test_holds_and_feasible():
    cap = parse_constraint({"field": "brand", "any": True, "max": 0.3}, "c")
    assert dv.holds(cap, items(["a", "a", "a", "b"] + ["c"] * 0 + ["d", "e", "f", "g", "h", "i"]))  # 3 of 10
    assert not dv.holds(cap, items(["a"] * 4 + list("bcdefg")))  # 4 of 10
    assert dv.feasible(cap, items(["a"] * 20 + list("bcdefgh")), 10)  # 3 a + 7 others
    assert not dv.feasible(cap, items(["a"] * 20 + list("bcdef")), 10)  # 3 a + 5 others < 10
    used = parse_constraint({"field": "condition", "value": "used", "min": 0.2}, "c")
    page = [{"id": str(i), "fields": {"condition": "used" if i < 2 else "new"}} for i in range(10)]
    assert dv.holds(used, page) and not dv.holds(used, page[1:])
    assert dv.feasible(used, page, 10) and not dv.feasible(used, page[1:], 10)  # 1 used < ceil(0.2*10)


def test_aggregate_uses_ranx_metrics_on_a_hand_computed_case():
    q1 = Query("q1", "x", {"a": 2, "b": 1, "c": 1}, None)
    q2 = Query("q2", "y", {"x": 1}, None)
    base = {"distinct_brands": 1, "max_brand_share": 1.0, "max_seller_share": 1.0, "category_spread": 1,
            "near_dup_pairs": 0, "rerank_ms": 1.0, "constraints": {"c": True}, "brand_cap_feasible": False}
    rows = [(q1, {**base, "run": {"a": 3.0, "d": 2.0, "b": 1.0}}), (q2, {**base, "run": {"y": 2.0, "x": 1.0}, "constraints": {"c": False}})]
    m = aggregate(rows, 3)
    # q1 linear-gain nDCG@3: (2 + 1/2) / (2 + 1/log2(3) + 1/2) = 0.7985; q2: (1/log2(3)) / 1 = 0.6309
    assert m["ndcg@3"] == pytest.approx((0.79848 + 0.63093) / 2, abs=1e-4)
    assert m["mrr"] == pytest.approx(0.75)
    assert m["recall@3"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert m["precision@3"] == pytest.approx((2 / 3 + 1 / 3) / 2, abs=1e-4)
    assert m["constraint_satisfaction"] == {"c": 0.5}


def test_strategies_switch_parts_of_the_rule():
    rule = parse_rule({"id": "r", "mmr": {"diversity": 0.4}, "dedup": {"max": 0.02},
                       "constraints": [{"field": "brand", "any": True, "max": 0.3}]})
    assert strategy_body("baseline", rule)["overrides"] == {"constraints": [], "dedup": None, "mmr": None}
    assert strategy_body("rules", rule) == {"rule": "r"}
    assert strategy_body("mmr", rule)["overrides"]["mmr"] == {"diversity": 0.4}
    assert strategy_body("agents", rule)["overrides"] == {"dedup": None, "mmr": None}
    assert strategy_body("rules", rule, ("lambda", 2.0))["overrides"] == {"lambda": 2.0}
    assert strategy_body("rules", None) == {"rule": "none"}


def test_eval_cli_end_to_end_on_a_slice(fashion_slice, fashion_dir, tmp_path):
    catalog, vectors = fashion_slice
    out, png = tmp_path / "report.json", tmp_path / "plot.png"
    res = run_cli("eval", "--queries", str(fashion_dir / "queries-dev.jsonl"),
                  "--query-vectors", str(fashion_dir / "query-vectors-dev.f16.npy"), "--backend", "memory",
                  "--catalog", str(catalog), "--vectors", str(vectors), "--rules", str(ROOT / "query_rules"),
                  "--mode", "knn", "--k", "10", "--out", str(out), "--plot", str(png), "--sweep", "lambda=0,2",
                  "--limit", "8", "--quiet", timeout=600)
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert not list(Draft7Validator(REPORT_SCHEMA).iter_errors(report))
    names = set(report["strategies"])
    assert {"baseline", "mmr", "rules", "agents", "agents+dedup", "agents+mmr"} <= names
    assert {"rules[lambda=0]", "rules[lambda=2]"} <= names
    assert report["config"]["queries"] == 8
    base, rules = report["strategies"]["baseline"], report["strategies"]["rules"]
    assert base["rerank_p50_ms"] >= 0 and rules["distinct_brands"] >= base["distinct_brands"]
    assert rules["near_dup_pairs"] <= base["near_dup_pairs"]
    assert "strategy" in res.stdout and "ndcg@10" in res.stdout
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_cli_errors(tmp_path):
    res = run_cli("eval", "--queries", str(tmp_path / "missing.jsonl"), "--backend", "memory", "--catalog", "x")
    assert res.returncode == 2 and "missing.jsonl" in res.stderr
    res = run_cli("eval", "--queries", "x", "--sweep", "alpha=1")
    assert res.returncode == 2 and "--sweep must be" in res.stderr


def test_eval_from_text_embeds_the_queries_as_the_given_vectors_do(fashion_slice, fashion_dir, tmp_path):
    """Without --query-vectors the query texts are embedded by the encoder; the pages are those of
    the shared file's vectors (the same model), so the figures agree closely."""
    catalog, vectors = fashion_slice
    common = ["eval", "--queries", str(fashion_dir / "queries-dev.jsonl"), "--backend", "memory",
              "--catalog", str(catalog), "--vectors", str(vectors), "--rules", str(ROOT / "query_rules"),
              "--mode", "knn", "--k", "10", "--limit", "12", "--quiet"]
    given, text = tmp_path / "given.json", tmp_path / "text.json"
    res = run_cli(*common, "--query-vectors", str(fashion_dir / "query-vectors-dev.f16.npy"), "--out", str(given),
                  timeout=600)
    assert res.returncode == 0, res.stderr
    res = run_cli(*common, "--out", str(text), timeout=600)
    assert res.returncode == 0, res.stderr
    a, b = (json.loads(p.read_text())["strategies"]["baseline"] for p in (given, text))
    assert abs(a["ndcg@10"] - b["ndcg@10"]) < 0.02, (a["ndcg@10"], b["ndcg@10"])
    off = run_cli(*common, "--out", str(text), env={"SIDECAR_ENCODER": "off"})
    assert off.returncode == 2 and "needs --query-vectors when SIDECAR_ENCODER=off" in off.stderr


def test_experiments_simulate_cli_on_a_slice(fashion_slice, fashion_dir, tmp_path):
    """A: the shipped rules; B: retrieval order (one default rule, no constraints): the simulator
    builds both sets' pages as /search does, names the one the judgments prefer, and reports the
    sessions each method needed and the A/A false-winner rate."""
    catalog, vectors = fashion_slice
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "00.yaml").write_text("rules:\n  - id: plain\n    match: {default: true}\n")
    res = run_cli("experiments", "simulate", "--queries", str(fashion_dir / "queries-dev.jsonl"),
                  "--query-vectors", str(fashion_dir / "query-vectors-dev.f16.npy"), "--backend", "memory",
                  "--catalog", str(catalog), "--vectors", str(vectors), "--mode", "knn", "--a", str(ROOT / "query_rules"),
                  "--b", str(plain), "--runs", "3", "--sessions", "3000", "--aa-runs", "10", "--aa-sessions", "300",
                  "--json", "--quiet", timeout=600)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["queries"] == 150 and len(out["ab_sessions"]) == len(out["interleaving_sessions"]) == 3
    assert out["better_by_ndcg"] in ("a", "b") and out["aa_runs"] == 20
    assert 0.0 <= out["aa_false_winner_rate"] <= 0.25
    assert set(out["runs_favouring_the_worse"]) == {"ab", "interleaving"}
    bad = run_cli("experiments", "simulate", "--queries", str(fashion_dir / "queries-dev.jsonl"), "--a", str(plain),
                  "--b", str(tmp_path / "missing"), "--backend", "memory", "--catalog", str(catalog))
    assert bad.returncode == 2 and "missing" in bad.stderr
