"""An experiment's /search: which arm a request is on, and the page it gets.

A request takes part when the rule set declares a running experiment that covers it, the
request brings a client id (``client_id`` in the body, else the ``X-Client-Id`` header) and
the id falls in the experiment's share (``assign``). Requests that name a ``rule`` or send
``overrides`` never take part: they are a developer's, not a shopper's.

- ``ab``: the page is arm a's or arm b's, exactly as that rule set serves it.
- ``interleave``: both arms rank the request; the page is their team-draft merge
  (``interleave``), each hit marked with its team. Both arms rank from the first item, so page
  2 continues page 1 (the coins are seeded by the experiment, client and query). What the merge
  guarantees beyond team draft's own: an item either arm collapsed as a near-duplicate is
  left out when both arms collapse near-duplicates, and a ``max`` cap both arms' rules hold on
  the same field (and value) holds on the merged page at the looser of the two fractions.
  Nothing else is promised: a ``min`` of one arm may be missed, since the other arm's picks
  need not serve it.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

from ..search import paging
from ..search.outcome import Decision
from ..search.pipeline import SearchOutcome, choose_rule, page_size
from ..rerank.reranking import compile_agent, rows_batch
from ..rerank.rule import Rule
from ..retrieval.hits import Hits
from ..rules import RuleSet
from ..rules.experiments import Experiment
from . import assign
from .interleave import team_draft

HEADER = "X-Client-Id"


@dataclass(frozen=True)
class Assignment:
    experiment: Experiment
    arm: str  # "a", "b", or "interleaved"

    def label(self) -> dict[str, str]:
        return {"name": self.experiment.name, "method": self.experiment.method, "arm": self.arm}


def client_of(body: Any, headers: Mapping[str, str]) -> str | None:
    """The id a request is assigned by: the body's ``client_id`` (checked by the contract), else
    the header."""
    if isinstance(body, dict) and isinstance(body.get("client_id"), str):
        return body["client_id"]
    return headers.get(HEADER) or None


def assignment(ruleset: RuleSet, body: Any, client: str | None, now: datetime, key: bytes = b"") -> Assignment | None:
    """The first running experiment (in file order) that covers the request and takes its
    client in (assigned by the hash keyed by ``key``, the deployment's secret); None: the
    request is served by the rules as usual."""
    if not ruleset.experiments or client is None or not isinstance(body, dict):
        return None
    if body.get("rule") is not None or body.get("overrides") is not None or body.get("size") == 0:
        return None  # a developer's request, or no page at all (facets alone)
    filters = body.get("filters") if isinstance(body.get("filters"), dict) else None
    q = body.get("q") if isinstance(body.get("q"), str) else ""
    try:
        match = ruleset.match(q, filters)
    except (TypeError, ValueError):
        return None  # a malformed request: the search itself names the field
    rule_id = match.rule.id if match else None
    for ex in ruleset.experiments:
        if ex.name in ruleset.arms and ex.covers(rule_id, now):
            side = assign.arm(ex.name, client, ex.share, key)
            if side is not None:
                return Assignment(ex, "interleaved" if ex.method == "interleave" else side)
    return None


def run(body: dict[str, Any], ruleset: RuleSet, chosen: Assignment, client: str,
        search: Callable[[dict[str, Any], RuleSet], SearchOutcome], max_window: int) -> SearchOutcome:
    """The request's outcome under its assignment; ``search(body, rules)`` runs one /search."""
    a, b = ruleset.arms[chosen.experiment.name]
    if chosen.arm in ("a", "b"):
        out = search(body, a if chosen.arm == "a" else b)
        out.response["experiment"] = chosen.label()
        out.decision.experiment = chosen.label()
        return out
    return _interleaved(body, a, b, chosen, client, search, max_window)


def _interleaved(body: dict[str, Any], a: RuleSet, b: RuleSet, chosen: Assignment, client: str,
                 search: Callable[[dict[str, Any], RuleSet], SearchOutcome], max_window: int) -> SearchOutcome:
    frm = body.get("from", 0)
    q = body.get("q") or ""
    size = body.get("size")
    if size is None:  # one page has one size: arm a's rule's (the arms' rules may differ)
        size = page_size(choose_rule(a, None, q, body.get("filters") or {})[0], None)
    paging.check_window(frm, size, max_window)
    # each arm ranks as deep as the page (and one more, as any search does); when the merge comes
    # up short (it passes over items the shared limits refuse, and over items both arms hold),
    # both rank a whole page more, once. The prefix of a longer merge is the shorter one (greedy
    # arms), so pages stay continuous.
    seed = int.from_bytes(hashlib.blake2b(f"{chosen.experiment.name}\0{client}\0{q}".encode(), digest_size=8).digest(),
                          "big")
    deepest = min(frm + 2 * size, max_window)
    depth = min(frm + size, deepest)
    while True:
        whole = {**body, "from": 0, "size": depth}
        out_a, out_b = search(whole, a), search(whole, b)
        ids_a = [h["id"] for h in out_a.response["hits"]]
        ids_b = [h["id"] for h in out_b.response["hits"]]
        hit_of = {h["id"]: h for h in out_b.response["hits"]} | {h["id"]: h for h in out_a.response["hits"]}
        pool = _union(out_a.decision.pool, out_b.decision.pool)
        merged = team_draft(ids_a, ids_b, frm + size + 1, seed,  # one more: is there a next page?
                            compatible=shared_limits(out_a.decision, out_b.decision, pool, size, (ids_a, ids_b)))
        more = out_a.response["has_next"] or out_b.response["has_next"] or depth in (len(ids_a), len(ids_b))
        if len(merged.ids) > frm + size or depth >= deepest or not more:
            break
        depth = deepest
    hits = []
    for i, (doc_id, team) in enumerate(zip(merged.ids, merged.teams)):
        if frm <= i < frm + size:
            hits.append({**hit_of[doc_id], "rank": i + 1, "team": team})
    response = {**out_a.response, "from": frm, "size": size, "hits": hits, "experiment": chosen.label(),
                "has_next": len(merged.ids) > frm + size and frm + 2 * size <= max_window}
    response["timings"] = {k: round(out_a.response["timings"][k] + out_b.response["timings"][k], 3)
                           for k in out_a.response["timings"]}
    da = out_a.decision
    placed = [{"id": h["id"], "rank": h["rank"], "original_rank": h["rank"]} for h in hits]
    decision = replace(da, frm=frm, size=size, pool=pool, placed=placed, experiment=chosen.label(),
                       teams=[h["team"] for h in hits], rerank_ms=response["timings"]["rerank_ms"],
                       retrieval_ms=response["timings"]["retrieval_ms"], total_ms=response["timings"]["total_ms"])
    return SearchOutcome(response, decision)


def shared_limits(da: Decision, db: Decision, pool: Hits | None, size: int,
                  tops: tuple[list[str], list[str]]) -> Callable[[list[str], str], bool]:
    """The merge's ``compatible``: the hard parts both arms agree on (see the module). ``pool``:
    both arms' candidates (every item either may place). A cap allows floor(fraction x size)
    items on a page of ``size``, or as many as either arm's own first page (``tops``) holds when
    a page is too short for the fraction (a cap of 0.3 on a page of 2 allows no item at all: the
    arms' soft constraints then place what they must, and so may the merge)."""
    refused: set[str] = set()
    if _collapses(da.rule) and _collapses(db.rule):
        refused = set((da.dedup or {}).get("collapsed", ())) | set((db.dedup or {}).get("collapsed", ()))
    caps = _shared_caps(da.rule, db.rule)
    # each cap compiled once over the candidates, as the reranker compiles it (from the columns it
    # read, ``Hits.columns``): per item, the value it counts under (a code per value for `any`,
    # else whether it has the property)
    marks = []
    if caps and pool is not None:
        batch = rows_batch(pool.ids, pool.scores, pool.sources, columns=pool.columns)
        for con, fraction in caps:
            agent = compile_agent(con, batch)
            mark = dict(zip(pool.ids, agent.codes.tolist() if agent.codes is not None
                            else [1 if h else -1 for h in agent.has.tolist()]))
            held = max((max(Counter(m for i in top[:size] if (m := mark[i]) >= 0).values(), default=0)
                        for top in tops))
            marks.append((mark, max(math.floor(fraction * size + 1e-9), held)))

    def compatible(page: list[str], item: str) -> bool:
        if item in refused:
            return False
        current = page[len(page) - len(page) % size:]  # the page (of ``size``) the item would join
        for mark, limit in marks:
            m = mark[item]
            if m >= 0 and sum(1 for i in current if mark[i] == m) + 1 > limit:
                return False
        return True

    return compatible


def _collapses(rule: Rule | None) -> bool:
    return rule is not None and rule.dedup is not None and rule.dedup.collapse


def _shared_caps(ra: Rule | None, rb: Rule | None) -> list[tuple[Any, float]]:
    """The ``max`` constraints on the same field and property in both rules, each with the
    looser fraction."""
    if ra is None or rb is None:
        return []
    theirs = {(c.field, c.prop): c.fraction for c in rb.constraints if c.kind == "max"}
    return [(c, max(c.fraction, theirs[(c.field, c.prop)])) for c in ra.constraints
            if c.kind == "max" and (c.field, c.prop) in theirs]


def _union(pa: Hits | None, pb: Hits | None) -> Hits | None:
    """Both arms' candidates: arm a's, then those only arm b retrieved (arm a's own when that is
    none, as when they share a retrieval)."""
    if pa is None or pb is None:
        return pa or pb
    if pa is pb:
        return pa
    known = set(pa.ids)
    extra = [k for k, i in enumerate(pb.ids) if i not in known]
    if not extra:
        return pa
    return Hits(list(pa.ids) + [pb.ids[k] for k in extra], np.concatenate([pa.scores, pb.scores[extra]]),
                list(pa.sources) + [pb.sources[k] for k in extra])
