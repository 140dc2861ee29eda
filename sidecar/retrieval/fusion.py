"""Reciprocal rank fusion (Cormack et al., 2009) of several ranked id lists, on arrays."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60


def rrf(ranked_lists: Sequence[Sequence[str]], k: int = RRF_K) -> tuple[np.ndarray, np.ndarray]:
    """The fused list, best first, as (positions, scores): ``positions`` index the concatenation
    of the lists (each id once, at its first occurrence), ``scores`` are the summed 1/(k + rank).
    Ties keep the order of first appearance, so the result is deterministic."""
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
    ranks = np.concatenate([np.arange(1, len(r) + 1, dtype=np.float64) for r in ranked_lists])
    fused = np.bincount(entry_slot, weights=1.0 / (k + ranks), minlength=len(firsts))
    order = np.argsort(-fused, kind="stable")
    return firsts[order], fused[order]
