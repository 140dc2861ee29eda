"""One retrieval for two rankings: the backend an interleaved request's two arms share.

Both arms of an interleaved /search rank the same request; when their rules retrieve alike (the
same mode, text, vector, filters, window, vector fetch, facets and fusion) the second arm's
retrieval is the first one's answer, not a second round trip, and so is the vector of a ``like``
product. Arms that retrieve differently each get their own. One instance serves one request (it
holds that request's answers only).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .base import Backend, RetrievalRequest, Retrieved


class SharedRetrieval:
    """A backend that answers the same request once: an interleaved or A/B page whose arms retrieve
    alike costs one retrieval (kept for one request only)."""
    def __init__(self, backend: Backend):
        self._backend = backend
        self._answers: dict[tuple, Retrieved] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self.name = backend.name

    def __getattr__(self, attr: str) -> Any:  # dimension, vocabulary, health: the backend's own
        return getattr(self._backend, attr)

    def vector_of(self, doc_id: str) -> np.ndarray:
        """The backend's vector of a product, asked once."""
        if doc_id not in self._vectors:
            self._vectors[doc_id] = self._backend.vector_of(doc_id)
        return self._vectors[doc_id]

    def retrieve(self, req: RetrievalRequest) -> Retrieved:
        """The backend's answer to ``req``, asked once per distinct request."""
        key = (req.mode, req.text, None if req.vector is None else req.vector.tobytes(),
               json.dumps(req.filters, sort_keys=True, default=str), req.window, req.with_vectors,
               json.dumps(req.facets, sort_keys=True, default=str), repr(req.fusion))
        if key not in self._answers:
            self._answers[key] = self._backend.retrieve(req)
        return self._answers[key]
