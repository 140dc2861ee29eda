"""Candidate retrieval: the OpenSearch backend and the embedded memory backend."""
from .base import MODES, Backend, BackendError, BackendTimeout, BackendUnavailable, NotFound, RetrievalRequest, Retrieved

__all__ = ["MODES", "Backend", "BackendError", "BackendTimeout", "BackendUnavailable", "NotFound",
           "RetrievalRequest", "Retrieved"]
