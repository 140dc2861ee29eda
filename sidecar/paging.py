"""Pages that never run dry: one ranked list per search, built window by window.

A search's ranked list is the concatenation of reranked retrieval windows. Window 1 is a retrieval
of W candidates (W = the rule's window); window j is what a retrieval of j·W brings that no earlier
window held. Each window is reranked on its own, after collapsing near-duplicates of anything an
earlier window held. A page is a slice of that list, and the list does not depend on ``from`` or
``size``: the same request gives the same page, and page n+1 never repeats page n. A later window
is retrieved only when the earlier ones cannot fill the page (collapsing shrinks a window), until
retrieval is exhausted or the window reaches the configured maximum.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .rerank import candidates_batch, rerank_batch
from .rerank.rule import Rule
from .retrieval import Retrieved

Fetch = Callable[[int], Retrieved]
# (new candidates in retrieval order, how many to place, candidates of earlier windows) -> rerank response
Rerank = Callable[[list[dict[str, Any]], int, list[dict[str, Any]]], dict[str, Any]]


@dataclass
class Ranked:
    """The head of a search's ranked list, long enough for the page asked for (and one more item,
    to know whether a next page exists)."""

    placed: list[dict[str, Any]]              # {"id", "rank", "original_rank", "reason"?} in page order
    candidates: list[dict[str, Any]]          # every retrieved candidate, window by window
    total: int = 0
    relation: str = "eq"
    window: int = 0                           # the last retrieval's size
    took_ms: float = 0.0                      # the backend's own time, summed over retrievals
    rerank_seconds: float = 0.0               # time spent reranking, summed over windows
    dedup: dict[str, Any] | None = None


def reranker(rule: Rule, *, explain: bool, now: datetime, query_vector: Any = None, trusted: bool = True) -> Rerank:
    """The ``Rerank`` of a rule: each window's candidates as one batch (checked unless
    ``trusted``: the backend's own output is), earlier windows' candidates as ``prior``."""
    def rerank(cands: list[dict[str, Any]], n: int, prior: list[dict[str, Any]]) -> dict[str, Any]:
        return rerank_batch(candidates_batch(cands, rule, trusted=trusted), rule, size=n, explain=explain,
                            query_vector=query_vector, now=now,
                            prior=candidates_batch(prior, rule, trusted=True) if prior else None)
    return rerank


def rank(fetch: Fetch, rerank: Rerank | None, window: int, max_window: int, need: int,
         clock: Callable[[], float] = time.perf_counter) -> Ranked:
    """The first ``need`` items of the ranked list (fewer only when retrieval runs out).

    ``rerank`` None means no reranking: retrieval order, one retrieval of ``need`` items."""
    if rerank is None:
        r = fetch(min(need, max_window))
        placed = [{"id": c["id"], "rank": i + 1, "original_rank": i + 1, "reason": {"type": "retrieval"}}
                  for i, c in enumerate(r.candidates[:need])]
        return Ranked(placed, r.candidates, r.total, r.relation, min(need, max_window), r.took_ms)
    window = max(1, min(window, max_window))
    out = Ranked([], [])
    seen: set[str] = set()
    j = 0
    while True:
        j += 1
        w = min(j * window, max_window)
        r = fetch(w)
        if j == 1:
            out.total, out.relation = r.total, r.relation
        out.window, out.took_ms = w, out.took_ms + r.took_ms
        new = [c for c in r.candidates if c["id"] not in seen]
        if new:
            t = clock()
            res = rerank(new, need - len(out.placed), out.candidates)
            out.rerank_seconds += clock() - t
            position = {c["id"]: i + 1 for i, c in enumerate(r.candidates)}
            for h in res["hits"]:
                out.placed.append({**h, "rank": len(out.placed) + 1, "original_rank": position[h["id"]]})
            out.dedup = _merge_dedup(out.dedup, res.get("dedup"))
            out.candidates.extend(new)
            seen.update(c["id"] for c in new)
        if len(out.placed) >= need or r.exhausted or w >= max_window or not new:
            return out


def _merge_dedup(acc: dict[str, Any] | None, more: dict[str, Any] | None) -> dict[str, Any] | None:
    if more is None:
        return acc
    if acc is None:
        return dict(more)
    return {"groups": acc["groups"] + more["groups"], "duplicates": acc["duplicates"] + more["duplicates"],
            "collapsed": acc["collapsed"] + more["collapsed"]}
