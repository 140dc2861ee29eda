"""What the sidecar decided for one request, as a typed value: /search, /rerank and the proxy
each produce one, and the decision log and the metrics read it (never a response picked apart)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..rerank.rule import Rule
from ..retrieval.hits import Hits


@dataclass
class Decision:
    """What one request decided, typed: endpoint, rule and how it was chosen, mode, query, the
    page and its explanations; read by the decision log, the metrics and the log line."""
    endpoint: str  # search | rerank | proxy
    rule: Rule | None  # None: no reranking
    how: str | None = None  # how the rule was chosen: exact, pattern, default, explicit, none
    mode: str | None = None  # bm25 | knn | hybrid | dsl (proxy) | None (/rerank)
    query: str | None = None
    index: str | None = None
    window: int | None = None  # the last retrieval's size
    frm: int = 0
    size: int = 0
    pool: Hits | None = None  # every candidate, in retrieval order
    placed: list[dict[str, Any]] = field(default_factory=list)  # the page: id, rank, original_rank(, reason)
    dedup: dict[str, Any] | None = None
    rerank_ms: float = 0.0
    retrieval_ms: float | None = None
    total_ms: float | None = None
    took_ms: float | None = None  # OpenSearch's own "took"
    # the request's own filters (/search), not the understood ones: `sidecar rules diff` replays them
    filters: dict[str, Any] | None = None
    experiment: dict[str, str] | None = None  # name, method, arm (experiments.serve)
    teams: list[str] | None = None  # an interleaved page: the arm of each placed item
    client_id: str | None = None  # the client the page was served to (its request id is signed for it)
    understood: dict[str, Any] | None = None  # what the query became (/search): text, filters added, rewrites
