"""Candidate retrieval: the OpenSearch backend and the embedded memory backend."""
from .base import (MODES, Backend, BackendBusy, BackendError, BackendTimeout, BackendUnavailable, NotFound,
                   RetrievalRequest, Retrieved)

__all__ = ["MODES", "Backend", "BackendBusy", "BackendError", "BackendTimeout", "BackendUnavailable", "NotFound",
           "RetrievalRequest", "Retrieved"]
