"""Fusing a hybrid search's two lists (BM25 and kNN) into one, best first.

Two methods (a rule picks with ``fusion: {method: ...}``, ``rerank.rule.FusionSpec``):

- ``convex`` (the default): each list's scores normalised over that list (min-max, as OpenSearch's
  normalization processor does, or z-score), then a weighted sum; a hit missing from a list
  scores just below that list's lowest (``MISSING_GAP``). With ``adaptive`` (the default) the BM25 weight is scaled
  by how well BM25 matched the query: the share of its first places (``MATCH_DEPTH``) filled
  with titles that hold every word of the query. A query in the catalog's own words keeps both halves; a query
  in words the titles do not use (``sneakers`` where titles say ``Casual Shoes``) leans on kNN;
  BM25 finding nothing gives the kNN list itself.
- ``rrf``: reciprocal rank fusion (Cormack et al., 2009), which reads only ranks.

Guarantees (tests/test_fusion.py): one empty list gives the other in its own order; the fused
score is non-decreasing in either half's score; ties keep first appearance (BM25 list first),
so the result is deterministic. Limits: the match share counts whole words (lower case, NFKC, no
stemming, English stop words left out), so "shirts" does not match "shirt"; it is a signal of
vocabulary mismatch, not a relevance model.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..rerank.named import words
from ..rerank.rule import FusionSpec
from .hits import Hits

RRF_K = 60
MISSING_GAP = 0.001  # a hit missing from a list scores this far below the list's lowest (OpenSearch's min-max: 0 vs 0.001)
MATCH_DEPTH = 20  # the BM25 hits whose titles say how well the query's words matched
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split())  # Lucene's English stop words, which bm25s also drops


def terms(text: str | None) -> list[str]:
    """The words of a text as the match share counts them: ``named.words`` (folded), stop words
    left out."""
    return [t for t in words(text) if t not in STOP_WORDS]


def match_share(query: str | None, titles: Sequence[str | None], depth: int) -> float:
    """The share of the first ``depth`` places that BM25 filled with a title holding every
    distinct term of the query (0 when the query has no terms). BM25 also ranks titles that hold
    only some of the words, and finds few or none when the words are not the catalog's: either
    way the share is low."""
    wanted = set(terms(query))
    if not wanted or depth <= 0:
        return 0.0
    return sum(wanted.issubset(terms(t)) for t in titles[:depth]) / depth


def rrf(ranked_lists: Sequence[Sequence[str]], k: int = RRF_K) -> tuple[np.ndarray, np.ndarray]:
    """The fused list, best first, as (positions, scores): ``positions`` index the concatenation
    of the lists (each id once, at its first occurrence), ``scores`` are the summed 1/(k + rank).
    Ties keep the order of first appearance, so the result is deterministic."""
    ranks = [np.arange(1, len(r) + 1, dtype=np.float64) for r in ranked_lists]
    return _combine(ranked_lists, [1.0 / (k + r) for r in ranks], [0.0] * len(ranked_lists))


def normalised(scores: np.ndarray, method: str) -> np.ndarray:
    """One list's scores on a common scale: min-max to [0, 1] (all equal: 1), or z-score (all
    equal: 0)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return s
    if method == "zscore":
        sd = float(s.std())
        return np.zeros(len(s)) if sd == 0 else (s - s.mean()) / sd
    lo, hi = float(s.min()), float(s.max())
    return np.ones(len(s)) if hi == lo else (s - lo) / (hi - lo)


def convex(ranked_lists: Sequence[Sequence[str]], scores: Sequence[np.ndarray], weights: Sequence[float],
           method: str = "minmax") -> tuple[np.ndarray, np.ndarray]:
    """The weighted sum of normalised scores, as (positions, scores) like ``rrf``; a list of
    weight 0 does not change the others' order (its hits rank after theirs)."""
    norm = [normalised(s, method) for s in scores]
    missing = [float(n.min()) - MISSING_GAP if len(n) else 0.0 for n in norm]
    return _combine(ranked_lists, [w * n for w, n in zip(weights, norm)], [w * m for w, m in zip(weights, missing)])


def _combine(ranked_lists: Sequence[Sequence[str]], parts: Sequence[np.ndarray],
             absent: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sum each id's part from every list (``absent[j]`` where list j lacks it); (positions,
    sums) best first, ties in first-appearance order."""
    ids = [doc_id for ranked in ranked_lists for doc_id in ranked]
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    first: dict[str, int] = {}
    for pos, doc_id in enumerate(ids):
        first.setdefault(doc_id, pos)
    firsts = np.fromiter(first.values(), dtype=np.int64, count=len(first))  # in first-appearance order
    slot = np.empty(len(ids), dtype=np.int64)
    slot[firsts] = np.arange(len(firsts))
    entry_slot = slot[np.fromiter(map(first.__getitem__, ids), dtype=np.int64, count=len(ids))]
    fused = np.full(len(firsts), float(sum(absent)))
    start = 0
    for ranked, part, miss in zip(ranked_lists, parts, absent):
        rows = entry_slot[start:start + len(ranked)]
        fused[rows] += np.asarray(part, dtype=np.float64) - miss  # each id once per list
        start += len(ranked)
    order = np.argsort(-fused, kind="stable")
    return firsts[order], fused[order]


def fuse(text: str | None, bm25: Hits, knn: Hits, spec: FusionSpec, window: int) -> tuple[Hits, dict[str, Any]]:
    """The fused head (at most ``window`` hits, the fused score as each hit's score) and what
    was done, for the response: the method, and for ``convex`` the weights used and the match
    share they came from."""
    lists = [bm25.ids, knn.ids]
    if spec.method == "rrf":
        positions, scores = rrf(lists)
        info: dict[str, Any] = {"method": "rrf"}
    else:
        depth = min(MATCH_DEPTH, window)
        share = match_share(text, [s.get("title") for s in bm25.sources[:depth]], depth) if spec.adaptive else 1.0
        w_bm25, w_knn = (spec.bm25 * share, spec.knn) if len(knn) else (spec.bm25, 0.0)
        if w_bm25 + w_knn == 0:
            w_bm25, w_knn = (0.0, 1.0) if len(knn) else (1.0, 0.0)
        total = w_bm25 + w_knn
        positions, scores = convex(lists, [bm25.scores, knn.scores], [w_bm25 / total, w_knn / total],
                                   spec.normalization)
        info = {"method": "convex", "normalization": spec.normalization,
                "weights": {"bm25": round(w_bm25 / total, 4), "knn": round(w_knn / total, 4)},
                **({"match": round(share, 4)} if spec.adaptive else {})}
    fused = Hits.concat([bm25, knn]).take(positions[:window])
    fused.scores = scores[:window]
    return fused, info
