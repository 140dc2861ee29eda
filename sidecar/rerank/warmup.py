"""Compile (or load from numba's cache) every kernel before the first request needs it.

``warm()`` reranks a tiny synthetic batch once per base order with every kind of constraint and
both kinds of dedup, so each kernel is compiled for the exact argument types requests use. The
service runs it when it starts (``/readyz`` says not ready until it is done), the Docker image
at build time (``sidecar warm``), so that compilation never happens on a request.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from . import properties
from .reranking import rerank_batch
from .batch import CandidateBatch
from .packed import decode_rows
from .strategies import STRATEGIES

_NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def warm() -> list[str]:
    """Run every base order, constraint kind and dedup mode once; returns the strategies run."""
    n = 12
    rng = np.random.default_rng(0)
    titles = ["Puma Men Grey T-shirt", "Puma Men Grey Tshirt", "Nike Women Red Top", None] * (n // 4)
    batch = CandidateBatch.from_columns(
        [f"w{i}" for i in range(n)], np.linspace(1.0, 0.1, n),
        {"brand": ["A", "B", "C"] * (n // 3), "price": [float(i) for i in range(n)],
         "listed_at": ["2026-01-01", None, "2025-06-01"] * (n // 3), "condition": [["used", "new"], "new", None] * (n // 3)},
        vectors=rng.normal(size=(n, 8)).astype(np.float32), texts=titles)
    constraints = [p.example for p in properties.REGISTERED]  # every property, on this batch's fields
    for key in STRATEGIES:
        for dedup in ({"collapse": True}, {"max": 0.02}):
            rule = {"id": "warm", "constraints": constraints, "dedup": dedup}
            if key != "score":
                rule[key] = {"diversity": 0.3}
            rerank_batch(batch, rule, size=6, now=_NOW, explain=True, query_vector=np.ones(8, np.float32))
    decode_rows(["AAAAAA==", "AQIDBA=="], "<u4")  # the packed-rows decoder (vectors, stored signatures)
    return list(STRATEGIES)
