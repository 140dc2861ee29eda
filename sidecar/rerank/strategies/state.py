"""The one state tuple every base order's kernels take, so the agent loop has one signature.

  rel   float64[n]     relevance (score order: the normalised retrieval score)
  vec   float32[n, d]  unit vectors (empty for score order)
  a     float64[n]     MMR: max similarity to the placed items seen so far (-inf: none yet)
  b     int64[n]       MMR: how many placed items ``a`` has seen (stale when < placed count)
  w     float64[n]     MMR: (1 - diversity) * rel
  r     float32[n]     DPP: residual variance (the marginal gain)
  comp  float32[n, K]  DPP: Cholesky components of the placed items
  hkey  float64[n]     MMR: heap keys (-bound)
  hidx  int64[n]       MMR: heap items
  tmp   int64[n]       MMR: this slot's exact head of the order
  sel   int64[K]       placed items in order
  meta  int64[4]       0: placed count, 1: heap size, 2: score order's first unplaced index, or
                       the slot MMR's prefix belongs to, 3: MMR's prefix length
  par   float64[4]     0: diversity, 1: DPP's first gain (penalties are shares of it)
"""
from __future__ import annotations

import numpy as np


def make(rel: np.ndarray, size: int, vectors: np.ndarray | None = None, diversity: float = 0.0,
         uses: str = "") -> tuple:
    """The state tuple; arrays a strategy does not use (``uses``: "mmr", "dpp" or "") are empty."""
    n = len(rel)
    k = max(1, min(size, n))
    m = n if uses == "mmr" else 0
    d = n if uses == "dpp" else 0
    vec = np.zeros((n, 0), dtype=np.float32) if vectors is None else np.ascontiguousarray(vectors, dtype=np.float32)
    rel = np.ascontiguousarray(rel, dtype=np.float64)
    return (rel, vec, np.full(m, -np.inf), np.zeros(m, dtype=np.int64),
            (1.0 - diversity) * rel if m else np.zeros(d), np.zeros(d, dtype=np.float32),
            np.zeros((d, k if d else 0), dtype=np.float32), np.zeros(m), np.zeros(m, dtype=np.int64),
            np.zeros(m, dtype=np.int64), np.zeros(k, dtype=np.int64), np.zeros(4, dtype=np.int64),
            np.array([diversity, 0.0, 0.0, 0.0]))
