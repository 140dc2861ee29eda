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
    """Marginal scores of every candidate given the items selected so far.

    Kept as two arrays so that a marginal score vector is one subtraction: the weighted relevance
    with placed items set to -inf, and diversity * max_sim (per pick: one matrix-vector product,
    one scaling, one maximum). Each numpy call costs tens of microseconds here; fewer calls per
    pick is what makes k = 50 of n = 1,000 fast.
    """

    def __init__(self, relevance: np.ndarray, unit_vectors: np.ndarray, diversity: float):
        self.relevance = np.asarray(relevance, dtype=np.float64)
        self.vectors = unit_vectors
        self.diversity = float(diversity)
        self._open_rel = (1.0 - self.diversity) * self.relevance  # -inf once placed
        self._penalty = np.full(len(self.relevance), -np.inf)  # diversity * max_sim (-inf: nothing picked)
        self._sim = np.empty(len(self.relevance), dtype=np.float32)
        self.k = 0

    def marginal(self) -> np.ndarray:
        """Marginal scores, placed items at -inf; before the first pick, the weighted relevance."""
        if self.k == 0 or self.diversity == 0.0:
            return self._open_rel.copy()
        return self._open_rel - self._penalty

    def add(self, i: int) -> None:
        self._open_rel[i] = -np.inf
        if self.diversity != 0.0:
            np.matmul(self.vectors, self.vectors[i], out=self._sim)
            np.maximum(self._penalty, self._sim * self.diversity, out=self._penalty)
        self.k += 1


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
