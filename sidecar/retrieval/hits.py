"""OpenSearch hits as columns: the one conversion shared by the backend and the proxy.

Vectors travel as base64 in a non-indexed ``binary`` field (``vector_f16``: little-endian float16,
2 bytes a dimension), so a window of 200 hits decodes in one compiled pass (``rerank.packed``)
instead of parsing 200 x 384 JSON numbers. The ``knn_vector`` field ``vector`` stays the search
field; it is read as JSON float lists only from an index written before ``vector_f16`` existed
(the slow path).
The stored MinHash signature (``minhash``, base64 uint32) is used when a hit carries it; retrieval
does not ask for it, since computing it from the title costs less than shipping it.
"""
from __future__ import annotations

import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..rerank.packed import decode_rows

VECTOR_FIELD = "vector"            # the knn_vector field searched by kNN
VECTOR_BINARY_FIELD = "vector_f16"  # the same vector, base64 float16, for transport
SIGNATURE_FIELD = "minhash"         # base64 uint32 MinHash signature of the title


def encode_vector(vector: np.ndarray) -> str:
    """A vector as stored in ``vector_f16``: base64 of its little-endian float16 bytes."""
    return binascii.b2a_base64(np.asarray(vector, dtype="<f2").tobytes(), newline=False).decode("ascii")


def decode_vectors(values: Sequence[str]) -> np.ndarray | None:
    """``vector_f16`` strings as an (n, d) float32 matrix; None when any is missing or the
    lengths differ. Canonical base64 of equal length (what the indexer writes) is decoded by one
    compiled pass (``rerank.packed``); anything else by ``binascii``, leniently."""
    if not values or any(type(v) is not str for v in values):
        return None
    packed = decode_rows(values, "<f2")
    if packed is not None:
        return packed.astype(np.float32)
    try:
        if values[0][-1:] != "=":
            raw = binascii.a2b_base64("".join(values))
        else:
            raw = b"".join(map(binascii.a2b_base64, values))
    except ValueError:  # binascii.Error, or a character outside ASCII
        return None
    n = len(values)
    if len(raw) % (2 * n):
        return None
    return np.frombuffer(raw, dtype="<f2").reshape(n, -1).astype(np.float32)


@dataclass
class Hits:
    """A list of hits in retrieval order as columns: ``sources`` are the hits' ``_source`` dicts
    themselves (not copied), with the transport fields taken out."""

    ids: list[str]
    scores: np.ndarray
    sources: list[dict[str, Any]]
    vectors: np.ndarray | None = None
    signatures: list[Any] = field(default_factory=list)  # stored signature per hit (base64), or None
    # the reranker's columns read from these sources, kept for another ranking of the same hits
    # (an interleaved request's second arm); the sources are not changed once retrieved
    columns: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: Sequence[int]) -> Hits:
        """These rows, in this order (a window's new hits, the fused head of two lists)."""
        r = np.asarray(rows, dtype=np.int64)
        return Hits([self.ids[i] for i in r.tolist()], self.scores[r], [self.sources[i] for i in r.tolist()],
                    None if self.vectors is None else self.vectors[r], [self.signatures[i] for i in r.tolist()])

    @staticmethod
    def concat(parts: Sequence[Hits]) -> Hits:
        """Several hit lists as one (earlier windows of a search; the lists of a hybrid search)."""
        if len(parts) == 1:
            return parts[0]
        vecs = [p.vectors for p in parts]
        return Hits([i for p in parts for i in p.ids], np.concatenate([p.scores for p in parts]),
                    [s for p in parts for s in p.sources],
                    None if any(v is None for v in vecs) else np.vstack(vecs),
                    [s for p in parts for s in p.signatures])

    def candidates(self) -> list[dict[str, Any]]:
        """As the core's candidate dicts (id, score, fields, title): for the decision log and the
        evaluation, which read a few hits each; the reranking reads the columns."""
        return [{"id": i, "score": float(s), "fields": src, "title": src.get("title")}
                for i, s, src in zip(self.ids, self.scores.tolist(), self.sources)]


def from_hits(hits: list[dict[str, Any]], *, with_vectors: bool, keep_source: bool = False) -> Hits:
    """One pass over OpenSearch's ``hits.hits``: ids, scores, sources; then the vectors from
    ``vector_f16`` (one decode), else from ``vector`` float lists (an older index). The transport
    fields are taken out of the sources unless ``keep_source`` (the proxy returns them as stored).

    The one trust policy for backend output: OpenSearch's hits are not re-validated (ids are
    strings, a null ``_score``, as under ``sort``, counts as 0); only client input is checked."""
    ids = [h["_id"] for h in hits]
    scores = np.fromiter((h.get("_score") or 0.0 for h in hits), dtype=np.float64, count=len(hits))
    sources = [h.get("_source") or {} for h in hits]
    read = dict.get if keep_source else dict.pop
    signatures = [read(s, SIGNATURE_FIELD, None) for s in sources]
    packed = [read(s, VECTOR_BINARY_FIELD, None) for s in sources]
    lists = [read(s, VECTOR_FIELD, None) for s in sources]
    vectors = None
    if with_vectors and sources:
        vectors = decode_vectors(packed)
        if vectors is None and all(v is not None for v in lists):
            vectors = np.asarray(lists, dtype=np.float32)
    return Hits(ids, scores, sources, vectors, signatures)
