"""Replay queries under an old and a new rule set: one retrieval each (two when the sets read the
query differently: their understanding sections), two pages, one report.

The report says, per query, which rule matched before and after, how many items moved, entered
or left the first page, each constraint's share and hold on both pages, and nDCG when the query
has judgments; the summary counts pages and matches that changed, constraints broken (held
before, not after: an edit that must not ship unnoticed) and newly met, and the relevance delta.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

from tqdm import tqdm

from ..search.pipeline import choose_rule, named_values
from ..rerank.rule import Rule
from ..retrieval import Backend
from ..retrieval.filters import validate_filters
from ..rules import RuleSet
from ..understand import Policy, read
from .compare import Comparison, compare, rank_side, retrieve_once
from .sources import ReplayQuery


def compare_query(backend: Backend, before: RuleSet | None, after: RuleSet, q: ReplayQuery, *, k: int, mode: str,
                  max_window: int, now: datetime, rule: Any = None, max_pairs: int = -1, embed: Any = None) -> Comparison:
    """One query's comparison. ``before`` None: retrieval order (no reranking) on the left;
    ``rule``: the right side's rule given (an id of ``after``, or a parsed Rule) instead of matched;
    ``max_pairs``: the near-duplicate bound of ``rerank_batch`` (a page's drafts are bounded);
    ``embed``: the query encoder (understanding reads a shopper's words with it, as /search does)."""
    if mode in ("knn", "hybrid") and q.vector is None:
        raise ValueError(f"query {q.text!r}: mode {mode} needs a query vector (--query-vectors)")
    filters = validate_filters(q.filters)
    # what /search retrieves for each side: the query as the rule serving it reads it (rules are
    # matched on the words and the request's filters, as /search matches them)
    right_rule, right_how, right_reading = serving(after, rule, q.text, filters)
    left_rule, left_how, left_reading = ((None, "none", right_reading) if before is None
                                         else serving(before, None, q.text, filters))
    left, right = (left_rule, left_how), (right_rule, right_how)
    right_side = read(q.text, backend, right_reading, filters, embed)
    sides = [right_side if left_reading == right_reading else read(q.text, backend, left_reading, filters, embed),
             right_side]
    vectors = any(r is not None and r.needs_vectors for r, _ in (left, right))
    window = min(max_window, max(r.window if r is not None else k for r, _ in (left, right)))
    fetches = {}
    keys = []
    for text, wanted, u in sides:
        boosts = u.boosts if u is not None else ()
        key = (text, repr(sorted(wanted.items())), boosts)
        keys.append(key)
        if key not in fetches:
            fetches[key] = retrieve_once(backend, mode, text, q.vector, wanted, with_vectors=vectors, boosts=boosts)
            fetches[key](window)  # the one retrieval of this reading
    qv = q.vector if mode == "knn" else None
    cmp = compare(q.text, filters,
                  rank_side(fetches[keys[0]], *left, k, now, max_window, qv, max_pairs,
                            named_values(left[0], q.text, backend.vocabulary)),
                  rank_side(fetches[keys[1]], *right, k, now, max_window, qv, max_pairs,
                            named_values(right[0], q.text, backend.vocabulary)),
                  q.judgments)
    cmp.read = tuple(u.shown() if u is not None else None for _, _, u in sides)  # type: ignore[assignment]
    return cmp


def serving(rules: RuleSet, rule: Any, text: str, filters: dict[str, Any]) -> tuple[Rule | None, str, Policy]:
    """The rule that serves ``text`` under ``rules``, how it was chosen, and how the query is read
    with it (``rule``: an id, None for the rule the query matches, or a draft ``Rule``, which has
    no rewrites of its own)."""
    if isinstance(rule, Rule):
        return rule, "draft", rules.understanding
    chosen, how = choose_rule(rules, rule, text, filters)
    return chosen, how, rules.reading(chosen)


def encoded_text(backend: Backend, rules: RuleSet, text: str, filters: dict[str, Any], rule: Any = None,
                 embed: Any = None) -> str:
    """The text /search embeds for ``text`` under ``rules``, as ``compare_query`` reads it."""
    return read(text, backend, serving(rules, rule, text, filters)[2], filters, embed)[0]


def replay(backend: Backend, before: RuleSet, after: RuleSet, queries: list[ReplayQuery], *, k: int = 10,
           mode: str = "bm25", max_window: int = 1000, now: datetime | None = None,
           progress: bool = True, embed: Any = None) -> tuple[dict[str, Any], list[Comparison]]:
    """(report, comparisons): the JSON report and the comparisons it was made from (for HTML)."""
    now = now or datetime.now(timezone.utc)
    comparisons = []
    for q in tqdm(queries, desc="replaying", unit="query", disable=not progress, file=sys.stderr):
        comparisons.append(compare_query(backend, before, after, q, k=k, mode=mode, max_window=max_window, now=now,
                                         embed=embed))
    results = [c.to_json() for c in comparisons]
    for r, q in zip(results, queries):
        r["count"] = q.count
    return {"k": k, "mode": mode, "queries": len(results), "before_version": before.version,
            "after_version": after.version, "summary": summarize(results), "results": results}, comparisons


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    broken = [(r["query"], c["label"]) for r in results for c in r["constraints"] if c["status"] == "broken"]
    met = [(r["query"], c["label"]) for r in results for c in r["constraints"] if c["status"] == "newly met"]
    judged = [r for r in results if "ndcg_before" in r]
    out: dict[str, Any] = {
        "pages_changed": sum(r["page_changed"] for r in results),
        "readings_changed": sum(r.get("read_before") != r.get("read_after") for r in results),
        "rules_changed": sum(r["rule_changed"] for r in results),
        "items_moved": sum(r["moved"] for r in results),
        "items_entered": sum(len(r["entered"]) for r in results),
        "constraints_broken": len(broken),
        "constraints_newly_met": len(met),
        "broken": [{"query": q, "constraint": c} for q, c in broken],
        "newly_met": [{"query": q, "constraint": c} for q, c in met],
    }
    if judged:
        b = sum(r["ndcg_before"] for r in judged) / len(judged)
        a = sum(r["ndcg_after"] for r in judged) / len(judged)
        out.update(ndcg_before=round(b, 4), ndcg_after=round(a, 4), ndcg_delta=round(a - b, 4), judged=len(judged))
    return out
