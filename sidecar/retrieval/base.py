"""What every retrieval backend takes and gives, and the errors the HTTP layer maps to 503/504."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..rerank.named import Vocabulary
from ..rerank.rule import FusionSpec
from .hits import Hits
from .product_types import TypeWords

MODES = ("bm25", "knn", "hybrid")


class BackendError(Exception):
    """The backend failed in a way the caller did not cause."""


class BackendUnavailable(BackendError):
    """Not reachable (down, refused): HTTP 503."""


class BackendTimeout(BackendError):
    """No answer within the configured timeout: HTTP 504."""


class BackendBusy(BackendError):
    """OpenSearch refused for load (its 429: a full search queue): HTTP 429 with Retry-After."""


class NotFound(Exception):
    """A referenced document (e.g. ``like``) does not exist."""


@dataclass(frozen=True)
class RetrievalRequest:
    """What a search asks of a backend: the mode, text and vector, filters, how many hits (the
    window), whether with vectors, the facets to count and how hybrid fuses."""
    mode: str
    text: str | None
    vector: np.ndarray | None
    filters: dict[str, Any]
    window: int
    with_vectors: bool = False  # fetch vectors only when the rule's base order reads them
    facets: Any = None  # facets.py's request spec: counted with this retrieval (the first window)
    fusion: FusionSpec = FusionSpec()  # how hybrid fuses its two lists (fusion.py)


EXACT_TOTAL = 10_000  # matches counted exactly (OpenSearch's default track_total_hits); beyond: "gte"


@dataclass
class Retrieved:
    """The hits in retrieval order, as columns (``hits.Hits``).

    ``total``/``relation``: the size of the search's match set, the set its facets count (the
    products that match the text and the filters for BM25 and hybrid; the window for kNN), "gte"
    when there are more than ``EXACT_TOTAL`` and no facets were asked (which count it exactly);
    ``exhausted``: a larger window would bring nothing new."""

    hits: Hits
    took_ms: float = 0.0
    total: int = 0
    relation: str = "eq"
    exhausted: bool = True
    facets: dict[str, list[dict[str, Any]]] | None = None  # when the request asked (facets.py)
    fusion: dict[str, Any] | None = None  # hybrid: how the two lists were fused (fusion.fuse)


class Backend(Protocol):
    """A retrieval backend (OpenSearch, or the embedded memory one): the same request gives the
    same match set, total and facets on both."""
    name: str

    def retrieve(self, req: RetrievalRequest) -> Retrieved:
        """The first ``req.window`` hits in retrieval order, with the match set's total and facets.
        Raises a BackendError: BackendUnavailable (503), BackendTimeout (504) or BackendBusy."""
        ...

    def vector_of(self, doc_id: str) -> np.ndarray:
        """A product's vector; raises NotFound when there is no such product or it has none."""
        ...

    def dimension(self) -> int | None:
        """The dimension of the products' vectors (None: the products have none)."""
        ...

    def vocabulary(self, field: str) -> Vocabulary:
        """The values a keyword field holds, for finding the ones a query names."""
        ...

    def type_words(self) -> TypeWords:
        """The title words that name a product type, trained from the products
        (``product_types``), for finding the type a query names."""
        ...

    def type_vote(self, vector: np.ndarray) -> tuple[str, float] | None:
        """The type most of the products nearest ``vector`` hold and its share of them (None:
        the products have no vectors of that dimension)."""
        ...

    def health(self) -> str:
        """'green', 'yellow' (searches succeed), 'red' (some cannot) or 'unreachable'."""
        ...
