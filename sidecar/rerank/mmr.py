"""Maximal Marginal Relevance with Qdrant's semantics (Carbonell & Goldstein, 1998).

marginal(j) = (1 - d) * rel(j) - d * max_sim(j, selected), cosine similarity, first pick = the
most relevant item, ties to the better-ranked (lower index) item. ``max_sim`` is updated
incrementally: one matrix-vector product per pick, so selecting k of n costs O(k * n * dim).
(A lazy heap of upper bounds was tried and measured slower on real kNN candidates: they are
mutually similar, so every pick lowers many bounds; see bench/bench_rerank.py.)
"""
from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32, so a dot product is a cosine."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms)


class MMRState:
    """Marginal scores of every candidate given the items selected so far."""

    def __init__(self, relevance: np.ndarray, unit_vectors: np.ndarray, diversity: float):
        self.relevance = np.asarray(relevance, dtype=np.float64)
        self.vectors = unit_vectors
        self.diversity = float(diversity)
        self.weighted_rel = (1.0 - self.diversity) * self.relevance
        self.max_sim = np.full(len(self.relevance), -np.inf, dtype=np.float32)
        self.placed = np.zeros(len(self.relevance), dtype=bool)
        self.k = 0

    def marginal(self) -> np.ndarray:
        """Marginal scores, placed items at -inf; before the first pick, the weighted relevance."""
        if self.k == 0 or self.diversity == 0.0:
            marg = self.weighted_rel.copy()
        else:
            marg = self.weighted_rel - self.diversity * self.max_sim
        marg[self.placed] = -np.inf
        return marg

    def add(self, i: int) -> None:
        self.placed[i] = True
        self.k += 1
        if self.diversity != 0.0:
            np.maximum(self.max_sim, self.vectors @ self.vectors[i], out=self.max_sim)


def mmr_select(relevance: np.ndarray, unit_vectors: np.ndarray, diversity: float, k: int) -> tuple[list[int], list[float]]:
    """Indices of the k items MMR selects, in order, with the marginal score each had when picked."""
    state = MMRState(relevance, unit_vectors, diversity)
    order: list[int] = []
    scores: list[float] = []
    for _ in range(min(k, len(state.relevance))):
        marg = state.marginal()
        i = int(np.argmax(marg))  # first maximum: ties go to the better-ranked item
        order.append(i)
        scores.append(float(marg[i]))
        state.add(i)
    return order, scores
