"""Maximal Marginal Relevance with Qdrant's semantics (Carbonell & Goldstein, 1998).

marginal(j) = (1 - d) * rel(j) - d * max_sim(j, selected), cosine similarity, first pick = the
most relevant item. ``max_sim`` is updated incrementally: one matrix-vector product per pick,
so selecting k of n costs O(k * n * dim).
"""
from __future__ import annotations

import numpy as np


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32, so a dot product is a cosine."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


class MMRState:
    """Marginal scores of every candidate given the items selected so far."""

    def __init__(self, relevance: np.ndarray, unit_vectors: np.ndarray, diversity: float):
        self.relevance = np.asarray(relevance, dtype=np.float64)
        self.vectors = unit_vectors
        self.diversity = float(diversity)
        self.max_sim = np.full(len(self.relevance), -np.inf)
        self._weighted_rel = (1.0 - self.diversity) * self.relevance
        self.selected = 0

    def marginal(self) -> np.ndarray:
        """Marginal scores; before the first pick it is the (weighted) relevance alone."""
        if self.selected == 0:
            return self._weighted_rel.copy()
        return self._weighted_rel - self.diversity * self.max_sim

    def add(self, i: int) -> None:
        sims = self.vectors @ self.vectors[i]
        np.maximum(self.max_sim, sims, out=self.max_sim)
        self.selected += 1


def mmr_select(relevance: np.ndarray, unit_vectors: np.ndarray, diversity: float, k: int) -> tuple[list[int], list[float]]:
    """Indices of the k items MMR selects, in order, with the marginal score each had when picked."""
    n = len(relevance)
    k = min(k, n)
    state = MMRState(relevance, unit_vectors, diversity)
    placed = np.zeros(n, dtype=bool)
    order: list[int] = []
    scores: list[float] = []
    for _ in range(k):
        marg = state.marginal()
        marg[placed] = -np.inf
        i = int(np.argmax(marg))
        order.append(i)
        scores.append(float(marg[i]))
        placed[i] = True
        state.add(i)
    return order, scores
