"""The queries a rule edit is replayed on: a queries file, or what shoppers asked most.

A queries file is the evaluation's JSONL (``{"query", "judgments"?, "filters"?}`` a line, query
vectors beside it for kNN). The decision log gives the most frequent normalised queries of a
period with their most frequent filters: the pages that real traffic sees most.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..opensearch.decision_log import since_clause


@dataclass(frozen=True)
class ReplayQuery:
    text: str
    filters: dict[str, Any] = field(default_factory=dict)
    judgments: dict[str, int] = field(default_factory=dict)
    vector: np.ndarray | None = None
    count: int = 1  # how often it was asked (from the decision log)


def from_file(path: Path, vectors: Path | None = None) -> list[ReplayQuery]:
    """ValueError names the line of a query that is not a JSON object with a ``query`` string."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not JSON: {exc}") from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str):
            raise ValueError(f"{path}:{n}: expected an object with a 'query' string")
        rows.append(row)
    vecs = None if vectors is None else np.load(vectors).astype(np.float32)
    if vecs is not None and len(vecs) != len(rows):
        raise ValueError(f"{vectors}: {len(vecs)} query vectors for {len(rows)} queries")
    return [ReplayQuery(r["query"], dict(r.get("filters") or {}), {str(k): int(v) for k, v in (r.get("judgments") or {}).items()},
                        None if vecs is None else vecs[i]) for i, r in enumerate(rows)]


def from_log(client: Any, prefix: str, since: str, top: int) -> list[ReplayQuery]:
    """The ``top`` most frequent queries of /search in the decision log since ``since``, each with
    its most frequent filters."""
    body = {"size": 0, "query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": since_clause(since)}}},
                                                     {"term": {"endpoint": "search"}}, {"exists": {"field": "query"}}]}},
            "aggs": {"q": {"terms": {"field": "query", "size": top},
                           "aggs": {"f": {"terms": {"field": "filters", "size": 1, "missing": ""}}}}}}
    resp = client.search(index=f"{prefix}-*", body=body, params={"ignore_unavailable": "true"})
    out = []
    for bucket in resp.get("aggregations", {}).get("q", {}).get("buckets", []):
        f = (bucket.get("f", {}).get("buckets") or [{"key": ""}])[0]["key"]
        out.append(ReplayQuery(bucket["key"], json.loads(f) if f else {}, count=int(bucket["doc_count"])))
    return out
