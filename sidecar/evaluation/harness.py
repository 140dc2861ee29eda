"""Run every query through the search pipeline once per strategy and score the pages.

Strategies are the matched (shipped) rule with parts switched off or on, as per-request
overrides, so each goes through exactly the code the service runs:
  baseline      no reranking: the rule's window in retrieval order (no constraints, dedup or MMR),
                so constraint feasibility is judged on the same window as the other strategies
  mmr           MMR only (the rule's diversity, else 0.3)
  rules         the rule as shipped
  agents        the rule's constraints, without dedup and MMR
  agents+dedup  constraints + near-duplicate spreading
  agents+mmr    constraints over MMR, without dedup
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..search.pipeline import named_values, run_search
from ..preview.sources import from_file
from ..rerank.rule import Constraint, Rule
from ..retrieval import Backend
from ..rules import RuleSet
from . import diversity as dv

STRATEGIES = ("baseline", "mmr", "rules", "rules-words", "agents", "agents+dedup", "agents+mmr")
WORDS_ONLY = "rules-words"  # the shipped rules with query understanding off: what understanding adds
DEFAULT_DIVERSITY = 0.3
DEFAULT_DEDUP = {"field": "title", "threshold": 0.8, "max": 0.02}


@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    judgments: dict[str, int]
    vector: np.ndarray | None


def load_queries(path: Path, vectors: Path | None) -> list[Query]:
    """The queries file as `sidecar rules diff` reads it (``preview.sources.from_file``: one reader,
    errors with their line), numbered for the run."""
    return [Query(f"q{i}", q.text, q.judgments, q.vector) for i, q in enumerate(from_file(path, vectors))]


def strategy_body(name: str, rule: Rule | None, sweep: tuple[str, float] | None = None) -> dict[str, Any]:
    """The /search 'rule', 'overrides' and 'understand' fields that make a strategy out of the
    matched rule (every strategy reads the query as /search does, but ``rules-words``)."""
    if name == WORDS_ONLY:
        return {**strategy_body("rules", rule, sweep), "understand": False}
    if rule is None:
        return {"rule": "none"}
    if name == "baseline":
        return {"rule": rule.id, "overrides": {"constraints": [], "dedup": None, "mmr": None}}
    d = rule.order.diversity if rule.order and rule.order.strategy == "mmr" else DEFAULT_DIVERSITY
    dedup = rule.raw.get("dedup") or DEFAULT_DEDUP
    overrides: dict[str, Any] = {
        "rules": {},
        "mmr": {"constraints": [], "dedup": None, "mmr": {"diversity": d}},
        "agents": {"dedup": None, "mmr": None},
        "agents+dedup": {"mmr": None, "dedup": dedup},
        "agents+mmr": {"dedup": None, "mmr": {"diversity": d}},
    }[name]
    if sweep is not None:
        param, value = sweep
        if param == "lambda":
            overrides["lambda"] = value
        else:
            overrides["mmr"] = {"diversity": value}
    return {"rule": rule.id, **({"overrides": overrides} if overrides else {})}


class Evaluator:
    """``mode`` None: each query runs as /search runs a text query (``pipeline.default_mode``),
    with ``encode`` as its query encoder; ``modes`` counts the modes the queries ran in."""

    def __init__(self, backend: Backend, ruleset: RuleSet, mode: str | None, k: int, max_window: int = 1000,
                 vector_of: Any = None, encode: Any = None):
        self.backend, self.ruleset, self.mode, self.k = backend, ruleset, mode, k
        self.max_window = max_window
        self.vector_of = vector_of  # id -> vector, for ILD (None: ILD not reported)
        self.encode = encode
        self.modes: dict[str, int] = {}
        self.understood: dict[str, Any] = {}  # query text -> what /search understood (the rules strategy)

    def page(self, q: Query, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        req = {"q": q.text, "size": self.k, **({"mode": self.mode} if self.mode else {}), **body}
        if self.mode != "bm25" and q.vector is not None:
            req["vector"] = q.vector.tolist()
        elif self.mode in ("knn", "hybrid") and self.encode is None:
            raise ValueError(f"mode {self.mode} needs --query-vectors or a query encoder")
        outcome = run_search(req, self.backend, self.ruleset, self.max_window, encode=self.encode)
        self.modes[outcome.response["mode"]] = self.modes.get(outcome.response["mode"], 0) + 1
        return outcome.response, outcome

    def score_page(self, q: Query, response: dict[str, Any], outcome: Any, constraints: tuple[Constraint, ...],
                   named: dict[str, frozenset[str]] | None = None) -> dict[str, Any]:
        """A page's figures. ``named``: per field, the values the query names; every strategy's
        page is judged as the rule judges it, those values left alone by their field's constraints."""
        named = named or {}
        hits = response["hits"]
        page = [{"id": h["id"], "fields": h["fields"], "title": h["fields"].get("title", "")} for h in hits]
        window = [{**c, "title": c["title"] or ""} for c in outcome.decision.pool.candidates()] if outcome.decision.pool is not None else []
        out: dict[str, Any] = {
            "distinct_brands": len({p["fields"].get("brand") for p in page if p["fields"].get("brand") is not None}),
            "max_brand_share": dv.max_share([p["fields"].get("brand") for p in page]),
            "max_seller_share": dv.max_share([p["fields"].get("seller") for p in page]),
            "category_spread": len({p["fields"].get("category") for p in page if p["fields"].get("category") is not None}),
            "near_dup_pairs": dv.near_dup_pairs([p["title"] for p in page]),
            "rerank_ms": response["timings"]["rerank_ms"],
            "constraints": {},
        }
        if self.vector_of is not None and page:
            out["ild"] = dv.ild(np.stack([self.vector_of(p["id"]) for p in page]))
        brand_cap = next((c for c in constraints if c.field == "brand" and c.any and c.kind == "max"), None)
        out["brand_cap_feasible"] = bool(brand_cap and dv.feasible(brand_cap, window, len(page),
                                                                  named.get("brand", frozenset())))
        for con in constraints:
            spared = named.get(con.field, frozenset())
            if page and dv.feasible(con, window, len(page), spared):
                out["constraints"][con.label] = dv.holds(con, page, spared)
        out["run"] = {h["id"]: float(len(hits) - i) for i, h in enumerate(hits)}
        return out

    def run(self, queries: list[Query], strategies: tuple[str, ...] = STRATEGIES,
            sweep: tuple[str, list[float]] | None = None, progress: bool = True) -> dict[str, Any]:
        jobs: list[tuple[str, tuple[str, float] | None]] = [(s, None) for s in strategies]
        if sweep:
            jobs += [(f"rules[{sweep[0]}={v:g}]", (sweep[0], v)) for v in sweep[1]]
        per: dict[str, list[tuple[Query, dict[str, Any]]]] = {name: [] for name, _ in jobs}
        bar = tqdm(total=len(jobs) * len(queries), desc="evaluating", unit="search", disable=not progress, file=sys.stderr)
        for q in queries:
            m = self.ruleset.match(q.text)
            rule = m.rule if m else None
            constraints = rule.constraints if rule else ()
            named = named_values(rule, q.text, self.backend.vocabulary)
            for name, sw in jobs:
                strategy = "rules" if sw is not None else name
                response, outcome = self.page(q, strategy_body(strategy, rule, sw))
                per[name].append((q, self.score_page(q, response, outcome, constraints, named)))
                if name == "rules" and response.get("understood"):
                    self.understood[q.text] = response["understood"]
                bar.update(1)
        bar.close()
        return {name: aggregate(rows, self.k) for name, rows in per.items()}


def aggregate(rows: list[tuple[Query, dict[str, Any]]], k: int) -> dict[str, Any]:
    """Means over queries; relevance metrics by ranx; constraint satisfaction among feasible pages."""
    from ranx import Qrels, Run, evaluate

    judged = [(q, r) for q, r in rows if any(g > 0 for g in q.judgments.values())]
    qrels = Qrels({q.qid: {d: g for d, g in q.judgments.items() if g > 0} for q, _ in judged})
    run = Run({q.qid: (r["run"] or {"__none__": 0.0}) for q, r in judged})
    names = [f"ndcg@{k}", "mrr", f"recall@{k}", f"precision@{k}", "map"]
    ir = evaluate(qrels, run, names) if judged else {n: 0.0 for n in names}
    metrics: dict[str, Any] = {n: round(float(ir[n]), 4) for n in names}
    for key in ("distinct_brands", "max_brand_share", "max_seller_share", "category_spread", "near_dup_pairs", "ild"):
        vals = [r[key] for _, r in rows if key in r]
        metrics[key] = round(float(np.mean(vals)), 4) if vals else None
    feasible_brand = [r["max_brand_share"] for _, r in rows if r["brand_cap_feasible"]]
    metrics["max_brand_share_where_cap_feasible"] = round(float(np.max(feasible_brand)), 4) if feasible_brand else None
    sat: dict[str, list[bool]] = {}
    for _, r in rows:
        for label, ok in r["constraints"].items():
            sat.setdefault(label, []).append(ok)
    metrics["constraint_satisfaction"] = {label: round(sum(v) / len(v), 4) for label, v in sorted(sat.items())}
    metrics["constraint_feasible_pages"] = {label: len(v) for label, v in sorted(sat.items())}
    times = [r["rerank_ms"] for _, r in rows]
    metrics["rerank_p50_ms"] = round(float(np.percentile(times, 50)), 3)
    metrics["rerank_p99_ms"] = round(float(np.percentile(times, 99)), 3)
    metrics["queries"] = len(rows)
    return metrics
