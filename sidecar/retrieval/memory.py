"""The embedded backend: a catalog held in the process (BM25 by bm25s, exact cosine kNN by numpy).

It serves the README demo with nothing else running, and the evaluation harness. Scores follow
OpenSearch's conventions so rules behave alike on both backends: kNN score = (1 + cos) / 2.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from ..catalog import FIELDS, KEYWORD_FIELDS, BadLine, count_lines, iter_catalog, load_vectors
from ..rerank import dedup
from ..rerank.batch import unit_rows
from ..rerank.named import Vocabulary
from ..rerank.dates import to_epoch
from . import facets
from .base import EXACT_TOTAL, NotFound, RetrievalRequest, Retrieved
from .filters import RANGE_FIELDS, fold, mask
from .fusion import fuse
from .hits import Hits
from .product_types import SAMPLE, TYPE_FIELD, VOTE_K, TypeWords, vote

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG


class MemoryBackend:
    """The embedded backend: a catalog in memory, BM25 by bm25s, exact kNN, the same filters,
    totals, facets and fusion as the OpenSearch backend (tested equal)."""
    name = "memory"

    def __init__(self, catalog: Path, vectors: Path | None = None, *, num_perm: int = 64, encoder: Any = None,
                 text_field: str = "title"):
        """``vectors``: row i = line i of the catalog; without them, an ``encoder``
        (``sidecar.encoder.Encoder``) embeds each product's ``text_field``; with neither, no kNN."""
        t0 = time.perf_counter()
        total = count_lines(catalog)
        vecs = load_vectors(vectors, total) if vectors is not None else None
        docs, rows = [], []
        for row, item in iter_catalog(catalog):
            if isinstance(item, BadLine):
                log.warning("%s:%d: skipped: %s", catalog, item.line, item.reason)
                continue
            docs.append(item)
            rows.append(row)
        self.docs = docs
        self.ids = [d["id"] for d in docs]
        self.pos = {doc_id: i for i, doc_id in enumerate(self.ids)}
        if vecs is not None:
            self.vectors = unit_rows(np.asarray(vecs[rows], dtype=np.float32))
        elif encoder is not None and docs:
            self.vectors = encoder.encode([str(d.get(text_field) or "") for d in docs])
            log.info("memory backend: embedded the %s of %d products with %s", text_field, len(docs), encoder.name)
        else:
            self.vectors = None
        self.fields = [{k: d[k] for k in FIELDS if d.get(k) is not None} for d in docs]
        self.columns: dict[str, np.ndarray] = {k: np.array([fold(d.get(k)) for d in docs], dtype=object)
                                               for k in KEYWORD_FIELDS}  # filters match folded (filters.py)
        self.columns["id"] = np.array(self.ids, dtype=object)
        for k in RANGE_FIELDS:
            self.columns[k] = np.array([to_epoch(d.get(k)) for d in docs], dtype=np.float64)  # None -> NaN
        sigs = dedup.signatures([d.get("title") for d in docs], num_perm)
        self.signatures = [dedup.encode_signature(s) if ok else None for s, ok in zip(sigs, dedup.has_signature(sigs))]
        self._vocabularies: dict[str, Vocabulary] = {}
        self._types: TypeWords | None = None
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize([d["title"] for d in docs], stopwords="en", show_progress=False), show_progress=False)
        log.info("memory backend: %d products%s loaded from %s in %.1fs", len(docs),
                 "" if self.vectors is None else f" with {self.vectors.shape[1]}-d vectors", catalog, time.perf_counter() - t0)

    def health(self) -> str:
        """Always green: there is no cluster to be red."""
        return "green"

    def vocabulary(self, field: str) -> Vocabulary:
        """The distinct values of a keyword field (``rerank.named``), built once per field."""
        voc = self._vocabularies.get(field)
        if voc is None:
            voc = self._vocabularies[field] = Vocabulary.of(dict.fromkeys(self.columns[field].tolist())
                                                            if field in KEYWORD_FIELDS else ())
        return voc

    def type_words(self) -> TypeWords:
        """The title words that name a product type (``product_types``), trained once from the
        first ``SAMPLE`` products, as the OpenSearch backend trains it."""
        if self._types is None:
            self._types = TypeWords.train((d.get("title"), d.get(TYPE_FIELD)) for d in self.docs[:SAMPLE])
        return self._types

    def dimension(self) -> int | None:
        """The catalog's vector dimension (None when it was loaded without vectors)."""
        return None if self.vectors is None else int(self.vectors.shape[1])

    def vector_of(self, doc_id: str) -> np.ndarray:
        """A product's vector; raises NotFound for an unknown id or a catalog without vectors."""
        if doc_id not in self.pos:
            raise NotFound(doc_id)
        if self.vectors is None:
            raise NotFound(f"{doc_id} (the catalog was loaded without vectors)")
        return self.vectors[self.pos[doc_id]]

    def _text_match(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(BM25 scores, the products that match the text: one of its terms)."""
        tokens = bm25s.tokenize([text], stopwords="en", return_ids=False, show_progress=False)[0]
        tokens = [t for t in tokens if t in self.bm25.vocab_dict]
        if not tokens:
            return np.zeros(len(self.docs)), np.zeros(len(self.docs), dtype=bool)
        scores = self.bm25.get_scores(tokens)
        return scores, scores > 0

    def type_vote(self, vector: np.ndarray) -> tuple[str, float] | None:
        """The type most of the ``VOTE_K`` products nearest ``vector`` hold, and its share of them
        (``product_types``); None without vectors or of another dimension."""
        if self.vectors is None or len(vector) != self.vectors.shape[1]:
            return None
        nearest = self._knn(vector, np.ones(len(self.docs), dtype=bool), VOTE_K)
        return vote(self.columns[TYPE_FIELD][i] for i, _ in nearest)

    def _knn(self, vector: np.ndarray, keep: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.vectors is None:
            raise ValueError("mode: knn/hybrid needs a catalog loaded with --vectors")
        q = unit_rows(np.asarray(vector, dtype=np.float32)[None, :])[0]
        if q.shape[0] != self.vectors.shape[1]:
            raise ValueError(f"vector: has {q.shape[0]} dimensions, the catalog's vectors have {self.vectors.shape[1]}")
        scores = (1.0 + self.vectors @ q) / 2.0
        return _top(np.where(keep, scores.astype(np.float64), -np.inf), k)

    def retrieve(self, req: RetrievalRequest) -> Retrieved:
        """As the OpenSearch backend retrieves: the same hits, the same ``total`` (the match set:
        text and filters for BM25 and hybrid, the window for kNN; past ``EXACT_TOTAL`` without
        facets, "at least" that) and the same facets (multi-select: ``facets``)."""
        t0 = time.perf_counter()
        n = len(self.docs)
        keep = mask(self.columns, req.filters, n) if req.filters else np.ones(n, dtype=bool)
        how = None
        if req.mode == "knn":
            ranked = self._knn(req.vector, keep, req.window)
            hits = self._hits(ranked, req)
            total, exhausted = len(ranked), int(np.count_nonzero(keep)) <= req.window
        else:
            scores, text_match = self._text_match(req.text or "")
            matched = keep & text_match
            best = _top(np.where(matched, scores, -np.inf), req.window)
            total = int(np.count_nonzero(matched))
            exhausted = total <= req.window
            hits = self._hits(best, req)
            if req.mode == "hybrid":
                near = self._knn(req.vector, keep, req.window)
                hits, how = fuse(req.text, hits, self._hits(near, req), req.fusion, req.window)
                exhausted = exhausted and int(np.count_nonzero(keep)) <= req.window
        counted = None
        if req.facets:
            if req.mode == "knn":  # over its window, retrieved under every filter
                counted = facets.count(req.facets, lambda fld: (self.docs[i] for i, _ in ranked))
            else:  # each facet over the text's matches and every filter but its own (multi-select)
                def docs_of(fld: str) -> Any:
                    others = {k: v for k, v in req.filters.items() if k != fld}
                    m = text_match & mask(self.columns, others, n) if others else text_match
                    return (self.docs[i] for i in np.flatnonzero(m))

                counted = facets.count(req.facets, docs_of)
        relation = "eq"
        if not req.facets and total > EXACT_TOTAL:  # as OpenSearch counts hits (track_total_hits)
            total, relation = EXACT_TOTAL, "gte"
        return Retrieved(hits, (time.perf_counter() - t0) * 1000, total, relation, exhausted=exhausted,
                         facets=counted, fusion=how)

    def _hits(self, ranked: list[tuple[int, float]], req: RetrievalRequest) -> Hits:
        rows = [i for i, _ in ranked]
        return Hits([self.ids[i] for i in rows], np.array([s for _, s in ranked], dtype=np.float64),
                    [self.fields[i] for i in rows],
                    self.vectors[rows] if req.with_vectors and self.vectors is not None else None,
                    [self.signatures[i] for i in rows])


def _top(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Best k (index, score) with a finite score, score descending, ties by catalog order."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) == 0:
        return []
    if len(finite) > k:
        part = np.argpartition(-scores[finite], k - 1)[:k]
        boundary = scores[finite][part].min()
        finite = finite[scores[finite] >= boundary]  # keep every tie at the boundary, cut after sorting
    order = finite[np.lexsort((finite, -scores[finite]))][:k]
    return [(int(i), float(scores[i])) for i in order]
