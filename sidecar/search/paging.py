"""Pages that never run dry: one ranked list per search, built window by window.

A search's ranked list is the concatenation of reranked retrieval windows. Window 1 is a retrieval
of W candidates (W = the rule's window); window j is what a retrieval of j·W brings that no earlier
window held. Each window is reranked on its own, after collapsing near-duplicates of anything an
earlier window held. A page is a slice of that list, and the list does not depend on ``from`` or
``size``: the same request gives the same page, and page n+1 never repeats page n. A later window
is retrieved only when the earlier ones cannot fill the page (collapsing shrinks a window), until
retrieval is exhausted or the window reaches the configured maximum.

A search without a rule (``rule: "none"``) is built the same way, each window's fresh hits kept
in retrieval order, over windows of ``RETRIEVAL_WINDOW``: its list does not depend on ``from``
either (a hybrid search fuses and normalises each window anew, so a window sized by the page
asked for would order one page's items differently from the next page's, and pages would repeat).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..rerank import CandidateBatch, rerank_batch, rows_batch
from ..rerank.rule import Rule
from ..retrieval import Retrieved
from ..retrieval.hits import Hits

RETRIEVAL_WINDOW = 100  # the window of a search without reranking (one retrieval for its first ten pages of 10)
Fetch = Callable[[int], Retrieved]
# (new hits in retrieval order, how many to place, hits of earlier windows or None) -> rerank response
Rerank = Callable[[Hits, int, "Hits | None"], dict[str, Any]]


@dataclass
class Ranked:
    """The head of a search's ranked list, long enough for the page asked for (and one more item,
    to know whether a next page exists)."""

    placed: list[dict[str, Any]]              # {"id", "rank", "original_rank", "reason"?} in page order
    pool: Hits | None = None                  # every retrieved hit, window by window
    total: int = 0
    relation: str = "eq"
    window: int = 0                           # the last retrieval's size
    took_ms: float = 0.0                      # the backend's own time, summed over retrievals
    rerank_seconds: float = 0.0               # time spent reranking, summed over windows
    dedup: dict[str, Any] | None = None

    @property
    def candidates(self) -> int:
        """How many candidates the windows retrieved so far."""
        return 0 if self.pool is None else len(self.pool)


def batch_of(hits: Hits, rule: Rule) -> CandidateBatch:
    """Hits as the core's ``CandidateBatch``: columns are read from the sources on first use, and
    kept with the hits (``Hits.columns``) for any other ranking of them."""
    return rows_batch(hits.ids, hits.scores, hits.sources, rule, vectors=hits.vectors, stored=hits.signatures,
                      columns=hits.columns)


def reranker(rule: Rule, *, explain: bool, now: datetime, query_vector: Any = None, max_pairs: int = -1,
             named: dict[str, frozenset[str]] | None = None) -> Rerank:
    """The ``Rerank`` of a rule: each window's hits as one batch, earlier windows' as ``prior``
    (``max_pairs``, ``named``: as ``rerank_batch`` takes them)."""
    def rerank(hits: Hits, n: int, prior: Hits | None) -> dict[str, Any]:
        return rerank_batch(batch_of(hits, rule), rule, size=n, explain=explain, query_vector=query_vector,
                            now=now, prior=batch_of(prior, rule) if prior is not None else None, max_pairs=max_pairs,
                            named=named)
    return rerank


def in_retrieval_order(hits: Hits, n: int, prior: Hits | None) -> dict[str, Any]:
    """The ``Rerank`` of no rule: a window's fresh hits as retrieval ordered them."""
    return {"hits": [{"id": i, "reason": {"type": "retrieval"}} for i in hits.ids[:n]]}


def rank(fetch: Fetch, rerank: Rerank | None, window: int, max_window: int, need: int,
         clock: Callable[[], float] = time.perf_counter) -> Ranked:
    """The first ``need`` items of the ranked list (fewer only when retrieval runs out).

    ``rerank`` None means no reranking: retrieval order, over windows of ``RETRIEVAL_WINDOW``
    (``window`` is then not used), so that every page is a slice of one list."""
    if rerank is None:
        rerank, window = in_retrieval_order, RETRIEVAL_WINDOW
    window = max(1, min(window, max_window))
    out = Ranked([])
    seen: set[str] = set()
    j = 0
    while True:
        j += 1
        w = min(j * window, max_window)
        r = fetch(w)
        if j == 1:
            out.total, out.relation = r.total, r.relation
        out.window, out.took_ms = w, out.took_ms + r.took_ms
        fresh = [k for k, i in enumerate(r.hits.ids) if i not in seen]
        if fresh:
            new = r.hits if len(fresh) == len(r.hits) else r.hits.take(fresh)
            t = clock()
            res = rerank(new, need - len(out.placed), out.pool)
            out.rerank_seconds += clock() - t
            position = {i: k + 1 for k, i in enumerate(r.hits.ids)}
            for h in res["hits"]:
                out.placed.append({**h, "rank": len(out.placed) + 1, "original_rank": position[h["id"]]})
            out.dedup = _merge_dedup(out.dedup, res.get("dedup"))
            out.pool = new if out.pool is None else Hits.concat([out.pool, new])
            seen.update(new.ids)
        if len(out.placed) >= need or r.exhausted or w >= max_window or not fresh:
            return out


def check_window(frm: int, size: int, max_window: int) -> None:
    """ValueError, naming ``from`` (or ``size`` on a first page), when the page ends past the
    maximum window: /search, the proxy and an interleaved page refuse it alike."""
    if frm + size > max_window:
        raise ValueError(f"{'from' if frm else 'size'}: from + size = {frm + size} exceeds the maximum window "
                         f"{max_window}")


def has_next(ranked: Ranked, frm: int, size: int, max_window: int) -> bool:
    """A next page (``from + size``, the same size) exists and may be asked for: more items were
    placed, and that page ends inside the maximum window (else asking for it is a 400). A page of
    size 0 (facets alone) has no next page."""
    return size > 0 and len(ranked.placed) > frm + size and frm + 2 * size <= max_window


def _merge_dedup(acc: dict[str, Any] | None, more: dict[str, Any] | None) -> dict[str, Any] | None:
    if more is None:
        return acc
    if acc is None:
        return dict(more)
    return {"groups": acc["groups"] + more["groups"], "duplicates": acc["duplicates"] + more["duplicates"],
            "collapsed": acc["collapsed"] + more["collapsed"]}
