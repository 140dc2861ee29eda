"""The production backend: BM25, kNN (Lucene HNSW) and hybrid retrieval from OpenSearch.

Query DSL is built as data: the shopper's text is only ever a value inside it. Vectors are
fetched only when asked for (MMR), the MinHash signature always (compact base64). Timeouts and
connection failures become BackendTimeout / BackendUnavailable, which the HTTP layer maps to
504 / 503 promptly instead of hanging.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, TransportError

from ..catalog import FIELDS
from .base import BackendTimeout, BackendUnavailable, NotFound, RetrievalRequest, Retrieved
from .filters import to_dsl
from .fusion import rrf

SOURCE = [*FIELDS, "minhash"]


def call(fn, *args: Any, **kwargs: Any) -> Any:
    """Run one client call, translating transport failures into the backend errors."""
    try:
        return fn(*args, **kwargs)
    except ConnectionTimeout as exc:
        raise BackendTimeout(f"OpenSearch did not answer in time: {exc.info if hasattr(exc, 'info') else exc}") from None
    except OSConnectionError as exc:
        raise BackendUnavailable(f"OpenSearch is unreachable: {exc.error if hasattr(exc, 'error') else exc}") from None


class OpenSearchBackend:
    name = "opensearch"

    def __init__(self, client: OpenSearch, index: str, timeout: float):
        self.client = client
        self.index = index
        self.timeout = timeout

    def ping(self) -> bool:
        try:
            return bool(self.client.ping(request_timeout=self.timeout))
        except Exception:  # noqa: BLE001 - readiness is a yes/no question
            return False

    def vector_of(self, doc_id: str) -> np.ndarray:
        try:
            doc = call(self.client.get, index=self.index, id=doc_id, _source_includes=["vector"],
                       request_timeout=self.timeout)
        except NotFoundError:
            raise NotFound(doc_id) from None
        vec = doc.get("_source", {}).get("vector")
        if vec is None:
            raise NotFound(f"{doc_id} (stored without a vector)")
        return np.asarray(vec, dtype=np.float32)

    def _body(self, req: RetrievalRequest, mode: str) -> dict[str, Any]:
        source = SOURCE + (["vector"] if req.with_vectors else [])
        clauses = to_dsl(req.filters)
        if mode == "bm25":
            query: dict[str, Any] = {"bool": {"must": [{"match": {"title": {"query": req.text or ""}}}], "filter": clauses}}
        else:
            knn: dict[str, Any] = {"vector": np.asarray(req.vector, dtype=np.float32).tolist(), "k": req.window}
            if clauses:
                knn["filter"] = {"bool": {"filter": clauses}}
            query = {"knn": {"vector": knn}}
        return {"size": req.window, "_source": source, "query": query}

    @staticmethod
    def _candidate(h: dict[str, Any], with_vectors: bool) -> dict[str, Any]:
        """A hit as a candidate; its _source becomes ``fields`` in place (no copy per hit)."""
        src = h.get("_source") or {}
        c = {"id": h["_id"], "score": float(h["_score"] or 0.0), "fields": src}
        sig = src.pop("minhash", None)
        vec = src.pop("vector", None)
        if sig is not None:
            c["signature"] = sig
        if with_vectors and vec is not None:
            c["vector"] = vec
        if src.get("title") is not None:
            c["title"] = src["title"]
        return c

    def retrieve(self, req: RetrievalRequest) -> Retrieved:
        try:
            if req.mode in ("bm25", "knn"):
                resp = call(self.client.search, index=self.index, body=self._body(req, req.mode),
                            request_timeout=self.timeout)
                hits = resp["hits"]["hits"]
                total, relation = _total(resp, len(hits), req.window)
                return Retrieved([self._candidate(h, req.with_vectors) for h in hits], float(resp.get("took", 0)),
                                 total, relation, exhausted=len(hits) < req.window)
            lines: list[dict[str, Any]] = []
            for mode in ("bm25", "knn"):
                lines += [{"index": self.index}, self._body(req, mode)]
            resp = call(self.client.msearch, body=lines, request_timeout=self.timeout)
        except TransportError as exc:
            raise BackendUnavailable(f"OpenSearch error {exc.status_code}: {exc.error}") from None
        hit_of: dict[str, dict[str, Any]] = {}
        lists = []
        totals = []
        for r in resp["responses"]:
            if "error" in r:
                raise BackendUnavailable(f"OpenSearch error: {r['error']}")
            hits = r["hits"]["hits"]
            for h in hits:
                hit_of.setdefault(h["_id"], h)
            lists.append([h["_id"] for h in hits])
            totals.append(_total(r, len(hits), req.window))
        fused = []  # candidates are built for the fused window only
        for doc_id, score in rrf(lists)[: req.window]:
            c = self._candidate(hit_of[doc_id], req.with_vectors)
            c["score"] = score
            fused.append(c)
        # the union of both lists holds at least the larger one
        total = max(t for t, _ in totals)
        relation = "gte" if all(t for t, _ in totals) or any(rel == "gte" for _, rel in totals) else "eq"
        return Retrieved(fused, float(resp.get("took", 0)), total, relation,
                         exhausted=all(len(ids) < req.window for ids in lists) and len(fused) < req.window)


def _total(resp: dict[str, Any], n_hits: int, window: int) -> tuple[int, str]:
    """OpenSearch's hit count and relation; a kNN search counts only the k it returned, so a full
    window means "at least"."""
    t = resp["hits"].get("total") or {}
    value, relation = int(t.get("value", n_hits)), t.get("relation", "eq")
    if n_hits >= window and value <= n_hits:
        relation = "gte"
    return value, relation
