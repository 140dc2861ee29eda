"""The production backend: BM25, kNN (Lucene HNSW) and hybrid retrieval from OpenSearch.

Query DSL is built as data: the shopper's text is only ever a value inside it. Searches refuse
partial results (``allow_partial_search_results: false``): a page reranked from the shards that
happened to answer would look complete and not be; the failure is a 503 instead. A search names
its shard copies by a ``preference`` derived from itself, so replicas of the sidecar and any
coordinating node give the same page for the same request. A hit carries the
product fields and the vector (base64 float16) only when the rule's base order reads it. No
``filter_path``: OpenSearch applies it while writing the answer, which costs a window of 200 more
than the few bytes it would drop (bench/bench_transport.py). Timeouts and
connection failures become BackendTimeout / BackendUnavailable, which the HTTP layer maps to
504 / 503 promptly instead of hanging.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, NotFoundError, TransportError

from ..catalog import FIELDS, KEYWORD_FIELDS
from ..logs import Throttle, first_line
from ..rerank.named import Vocabulary
from . import deadline
from .base import BackendBusy, BackendTimeout, BackendUnavailable, NotFound, RetrievalRequest, Retrieved
from . import facets
from .filters import to_dsl
from .fusion import fuse
from .hits import VECTOR_BINARY_FIELD, VECTOR_FIELD, Hits, decode_vectors, from_hits
from .product_types import SAMPLE, TYPE_FIELD, VOTE_K, TypeWords, vote

log = logging.getLogger(__name__)
VOCABULARY_SIZE = 10_000  # values of a field read for recognising them in queries
VOCABULARY_TTL = 300.0  # seconds a field's values are kept before they are read again
TYPE_TTL = 3600.0  # seconds the type words are kept: reading them scans up to SAMPLE titles


def found_legacy_vectors(index: str, legacy: set[str], asked: bool, hits: list[dict[str, Any]], cols: Hits) -> bool:
    """True, once per index and logged, when vectors were asked for and these hits carry none in
    ``vector_f16``: the index was written before that field, and the caller asks again for the
    float lists (``legacy`` then holds the index)."""
    if not (asked and hits and cols.vectors is None) or index in legacy:
        return False
    legacy.add(index)
    log.warning("index %s has no %s field: vectors travel as JSON float lists (slow); "
                "re-index with `sidecar index --recreate` to store them compactly", index, VECTOR_BINARY_FIELD)
    return True


def call(fn, *args: Any, cancellable: bool = False, **kwargs: Any) -> Any:
    """Run one client call within the request's deadline (``deadline.budget`` cuts its
    ``request_timeout``), translating transport failures into the backend errors.
    ``cancellable``: a search; OpenSearch is told to cancel it (``cancel_after_time_interval``)
    when the sidecar stops waiting, so a query nobody waits for does not run on. An answer that
    arrives after the deadline is a BackendTimeout too (``deadline.check``)."""
    if "request_timeout" in kwargs:
        kwargs["request_timeout"] = deadline.budget(kwargs["request_timeout"])
        if cancellable:
            kwargs["params"] = {**(kwargs.get("params") or {}),
                                "cancel_after_time_interval": f"{max(1, int(kwargs['request_timeout'] * 1000))}ms"}
    try:
        out = fn(*args, **kwargs)
    except ConnectionTimeout as exc:
        raise BackendTimeout(f"OpenSearch did not answer in time: {exc.info if hasattr(exc, 'info') else exc}") from None
    except OSConnectionError as exc:
        raise BackendUnavailable(f"OpenSearch is unreachable: {exc.error if hasattr(exc, 'error') else exc}") from None
    deadline.check()
    return out


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """OpenSearch's error statuses as the backend errors: 400 a ValueError (the request's fault),
    429 BackendBusy, any other BackendUnavailable."""
    try:
        yield
    except TransportError as exc:
        if exc.status_code == 400:
            raise ValueError(f"body: OpenSearch refused the search: {exc.error}") from None
        if exc.status_code == 429:
            raise BackendBusy(f"OpenSearch is overloaded: {exc.error}") from None
        raise BackendUnavailable(f"OpenSearch error {exc.status_code}: {exc.error}") from None


class OpenSearchBackend:
    """Retrieval from an OpenSearch index (BM25, Lucene kNN, hybrid fused here), every call within
    the request's deadline."""
    name = "opensearch"

    def __init__(self, client: OpenSearch, index: str, timeout: float):
        self.client = client
        self.index = index
        self.timeout = timeout
        self.legacy: set[str] = set()  # holds the index once it turns out to have no vector_f16 field
        self._props: dict[str, Any] | None = None  # the index's mapped fields, read on first use
        self._vocabularies: dict[str, tuple[float, Vocabulary]] = {}  # field -> (read at, values)
        self._types: tuple[float, TypeWords] | None = None  # (read at, the words naming product types)
        # the reads a search makes besides its own fail with every search while OpenSearch is away:
        # one line per kind every 10 s, as the search's own failure (server.errors), not one per search
        self._warn = Throttle(log)

    @property
    def legacy_vectors(self) -> bool:
        """Whether the index predates ``vector_f16`` (its vectors come as JSON float lists, slowly)."""
        return self.index in self.legacy

    def health(self) -> str:
        """The products index's health: red when a primary shard is unassigned (or the index is
        missing), so searches cannot all succeed. Asked with ``timeout=0s``: OpenSearch answers
        at once instead of waiting for a better colour; a paused cluster costs at most 1 s."""
        try:
            h = self.client.cluster.health(index=self.index, params={"timeout": "0s", "ignore": 408},
                                           request_timeout=min(self.timeout, 1.0))
        except Exception:  # noqa: BLE001 - readiness is a question, not a failure
            return "unreachable"
        return str(h.get("status", "red"))

    def vector_of(self, doc_id: str) -> np.ndarray:
        """A product's vector from its stored fields; raises NotFound for an unknown id or one without."""
        try:
            doc = call(self.client.get, index=self.index, id=doc_id,
                       _source_includes=[VECTOR_BINARY_FIELD, VECTOR_FIELD], request_timeout=self.timeout)
        except NotFoundError:
            raise NotFound(doc_id) from None
        src = doc.get("_source", {})
        packed = decode_vectors([src.get(VECTOR_BINARY_FIELD)])
        if packed is not None:
            return packed[0]
        if src.get(VECTOR_FIELD) is None:
            raise NotFound(f"{doc_id} (stored without a vector)")
        return np.asarray(src[VECTOR_FIELD], dtype=np.float32)

    def _source(self, req: RetrievalRequest) -> list[str]:
        """What a hit must carry: the product fields (the dedup text among them: its MinHash
        signature costs less to compute than to ship, bench/bench_peer.py), and the vector when
        the rule's base order reads it."""
        fields = [*FIELDS]
        if req.with_vectors:
            fields.append(VECTOR_FIELD if self.legacy_vectors else VECTOR_BINARY_FIELD)
        return fields

    def _body(self, req: RetrievalRequest, mode: str, with_facets: bool = True) -> dict[str, Any]:
        clauses = to_dsl(req.filters, folded=self.folded) if req.filters else []
        if mode == "bm25":
            query: dict[str, Any] = {"bool": {"must": [{"match": {"title": {"query": req.text or ""}}}], "filter": clauses}}
        else:
            knn: dict[str, Any] = {"vector": np.asarray(req.vector, dtype=np.float32).tolist(), "k": req.window}
            if clauses:
                knn["filter"] = {"bool": {"filter": clauses}}
            query = {"knn": {VECTOR_FIELD: knn}}
        body = {"size": req.window, "_source": self._source(req), "query": query}
        if req.facets and with_facets:
            body["aggs"] = facets.to_aggs(req.facets)
        return body

    def _facets_body(self, req: RetrievalRequest) -> dict[str, Any]:
        """The search of no hits that counts a BM25 or hybrid search's match set and its facets,
        multi-select: the filters on faceted fields go to ``post_filter`` (they narrow the total)
        and, for each facet, under the aggregation of every other facet (``facets`` module)."""
        plain, faceted = facets.split(req.facets, req.filters or {})
        clauses = {fld: to_dsl({fld: cond}, folded=self.folded) for fld, cond in faceted.items()}
        body: dict[str, Any] = {
            "size": 0, "track_total_hits": True,
            "query": {"bool": {"must": [{"match": {"title": {"query": req.text or ""}}}],
                               "filter": to_dsl(plain, folded=self.folded) if plain else []}},
            "aggs": facets.to_aggs(req.facets, {f: [c for g, cs in clauses.items() if g != f for c in cs]
                                                for f in req.facets})}
        if clauses:
            body["post_filter"] = {"bool": {"filter": [c for cs in clauses.values() for c in cs]}}
        return body

    def msearch_header(self, req: RetrievalRequest) -> dict[str, Any]:
        """The header line of each of a request's searches in its msearch (see the module)."""
        return {"index": self.index, "allow_partial_search_results": False, "preference": _preference(req)}

    def _hits(self, hits: list[dict[str, Any]], req: RetrievalRequest) -> Hits | None:
        """The hits as columns; None when vectors were asked for and the index has no
        ``vector_f16`` (written before it existed): the caller asks again for the float lists."""
        out = from_hits(hits, with_vectors=req.with_vectors)
        return None if found_legacy_vectors(self.index, self.legacy, req.with_vectors, hits, out) else out

    def _properties(self) -> dict[str, Any]:
        """The index's mapped fields, read once (the vector dimension, the folded sub-fields)."""
        if self._props is None:
            mapping = call(self.client.indices.get_mapping, index=self.index, request_timeout=self.timeout)
            self._props = next(iter(mapping.values()), {}).get("mappings", {}).get("properties", {})
            if not self.folded:
                log.warning("index %s has no folded keyword sub-fields: filters match case-sensitively until it "
                            "is re-indexed (sidecar index --recreate)", self.index)
        return self._props

    def vocabulary(self, field: str) -> Vocabulary:
        """The distinct values of a keyword field (at most ``VOCABULARY_SIZE``, the most frequent),
        for finding the ones a query names (``rerank.named``): one terms aggregation, kept
        ``VOCABULARY_TTL`` seconds. OpenSearch failing to answer gives an empty vocabulary (no
        value is named; the search itself reports the failure) and is asked again next time."""
        now = time.monotonic()
        kept = self._vocabularies.get(field)
        if kept is not None and now - kept[0] < VOCABULARY_TTL:
            return kept[1]
        if field not in KEYWORD_FIELDS:
            return Vocabulary.of(())
        body = {"size": 0, "track_total_hits": False,
                "aggs": {"v": {"terms": {"field": field, "size": VOCABULARY_SIZE}}}}
        try:
            resp = call(self.client.search, index=self.index, body=body, request_timeout=min(self.timeout, 2.0),
                        cancellable=True)
        except Exception as exc:  # noqa: BLE001 - a missing vocabulary names nothing; the search reports failures
            self._warn.log(logging.WARNING, f"vocabulary:{field}",
                           "could not read the values of %s from index %s (%s): no %s is recognised in queries",
                           field, self.index, first_line(exc), field)
            return Vocabulary.of(())
        voc = Vocabulary.of(b["key"] for b in resp.get("aggregations", {}).get("v", {}).get("buckets", []))
        self._vocabularies[field] = (now, voc)
        return voc

    def type_words(self) -> TypeWords:
        """The title words that name a product type (``product_types``), trained from the first
        ``SAMPLE`` products in index order (pages of 5,000 titles and types), kept ``TYPE_TTL``
        seconds: a worker reads them when it starts (``Services.start``); after that, the search
        that finds them stale waits for the scan (a second or more for tens of thousands of
        products), once an hour per worker. OpenSearch failing to answer names no type (the search
        itself reports the failure), and is asked again next time."""
        now = time.monotonic()
        if self._types is not None and now - self._types[0] < TYPE_TTL:
            return self._types[1]
        pairs: list[tuple[str | None, str | None]] = []
        body: dict[str, Any] = {"size": 5000, "sort": ["_doc"], "track_total_hits": False,
                                "_source": ["title", TYPE_FIELD]}
        try:
            while len(pairs) < SAMPLE:
                hits = call(self.client.search, index=self.index, body=body, request_timeout=min(self.timeout, 5.0),
                            cancellable=True)["hits"]["hits"]
                pairs += [(h["_source"].get("title"), h["_source"].get(TYPE_FIELD)) for h in hits]
                if len(hits) < body["size"]:
                    break
                body["search_after"] = hits[-1]["sort"]
        except Exception as exc:  # noqa: BLE001 - no type is named; the search reports failures
            self._warn.log(logging.WARNING, "type_words",
                           "could not read the titles of index %s (%s): no product type is recognised in queries",
                           self.index, first_line(exc))
            return TypeWords()
        types = TypeWords.train(pairs[:SAMPLE])
        self._types = (now, types)
        return types

    def type_vote(self, vector: np.ndarray) -> tuple[str, float] | None:
        """The type most of the ``VOTE_K`` products nearest ``vector`` hold, and its share of them
        (``product_types``): one kNN search of their types alone. None when the index has no
        vectors of this dimension; OpenSearch failing to answer names no type (the search itself
        reports the failure)."""
        if self.dimension() != len(vector):
            return None
        body = {"size": VOTE_K, "_source": [TYPE_FIELD], "track_total_hits": False,
                "query": {"knn": {VECTOR_FIELD: {"vector": np.asarray(vector, dtype=np.float32).tolist(), "k": VOTE_K}}}}
        try:
            hits = call(self.client.search, index=self.index, body=body, request_timeout=self.timeout,
                        cancellable=True)["hits"]["hits"]
        except Exception as exc:  # noqa: BLE001 - no type is named; the search reports failures
            self._warn.log(logging.WARNING, "type_vote", "could not ask index %s for the types near a query (%s)",
                           self.index, first_line(exc))
            return None
        return vote(h.get("_source", {}).get(TYPE_FIELD) for h in hits)

    def dimension(self) -> int | None:
        """The index's vector dimension (None when the mapping does not say)."""
        with translated():
            return self._properties().get(VECTOR_FIELD, {}).get("dimension")

    @property
    def folded(self) -> bool:
        """The keyword fields have their ``folded`` sub-field (indices written since it exists)."""
        props = self._props if self._props is not None else self._properties()
        return "folded" in props.get("brand", {}).get("fields", {})

    def retrieve(self, req: RetrievalRequest) -> Retrieved:
        """ValueError (the request's fault: a vector of the wrong size, a query OpenSearch refuses
        with a 400) names the field; BackendError for OpenSearch's own failures."""
        with translated():
            if req.vector is not None and req.mode != "bm25":
                dim = self.dimension()
                if dim is not None and len(req.vector) != dim:
                    raise ValueError(f"vector: has {len(req.vector)} dimensions, the index's vectors have {dim}")
            out = self._retrieve(req)
            return out if out is not None else self._retrieve(req)  # once more, after switching to float lists

    def _retrieve(self, req: RetrievalRequest) -> Retrieved | None:
        """One round trip: the hits' search (two for hybrid, fused by ``fusion.fuse``) and, for facets over
        BM25 matches, a search of no hits of its own in the same msearch: OpenSearch runs the
        searches of an msearch side by side, and keeps a search of size 0 in its shard request
        cache. A kNN search's facets are over its own window, so they ride on that search."""
        modes = ["bm25", "knn"] if req.mode == "hybrid" else [req.mode]
        separate = bool(req.facets) and req.mode != "knn"
        bodies = [self._body(req, mode, with_facets=not separate) for mode in modes]
        if separate:  # modes[0] is bm25 here (bm25 or hybrid): the text's matches, counted
            bodies.append(self._facets_body(req))
        if len(bodies) == 1:
            responses = [call(self.client.search, index=self.index, body=bodies[0],
                              params={"allow_partial_search_results": "false", "preference": _preference(req)},
                              request_timeout=self.timeout, cancellable=True)]
        else:
            header = self.msearch_header(req)
            resp = call(self.client.msearch, body=[line for b in bodies for line in (header, b)],
                        request_timeout=self.timeout, cancellable=True)
            responses = resp["responses"]
            for r in responses:
                if "error" in r:  # as a single search's error status maps (``retrieve``)
                    if r.get("status") == 400:
                        raise ValueError(f"body: OpenSearch refused the search: {_reason(r['error'])}")
                    if r.get("status") == 429:
                        raise BackendBusy(f"OpenSearch is overloaded: {r['error']}")
                    raise BackendUnavailable(f"OpenSearch error: {r['error']}")
        took = float(max(r.get("took", 0) for r in responses))
        counted = None
        if req.facets:
            counted = facets.from_aggs(req.facets, (responses[-1] if separate else responses[0]).get("aggregations", {}))
        lists = []
        for r in responses[:len(modes)]:
            hits = self._hits(r["hits"].get("hits") or [], req)
            if hits is None:
                return None
            lists.append(hits)
        # the match set's size (``Retrieved``): the text's matches under the filters, counted
        # exactly by the facets' search when there is one; a kNN search's window
        if req.mode == "knn":
            total, relation = len(lists[0]), "eq"
        else:
            total, relation = _total(responses[-1] if separate else responses[0])
        if len(lists) == 1:
            return Retrieved(lists[0], took, total, relation, exhausted=len(lists[0]) < req.window, facets=counted)
        fused, how = fuse(req.text, lists[0], lists[1], req.fusion, req.window)
        return Retrieved(fused, took, total, relation,
                         exhausted=all(len(h) < req.window for h in lists) and len(fused) < req.window, facets=counted,
                         fusion=how)


def _reason(error: Any) -> str:
    """The root cause OpenSearch gives in an error object (its whole text when it has none)."""
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        return "; ".join(str(c.get("reason", c)) for c in causes if isinstance(c, dict)) or str(error)
    return str(error)


def _preference(req: RetrievalRequest) -> str:
    """The same search goes to the same shard copies, from any sidecar replica and any
    coordinating node: scores, and so pages, do not change with the copy that answered."""
    h = hashlib.sha1(f"{req.text or ''}|{req.filters!r}".encode())
    if req.vector is not None:
        h.update(np.asarray(req.vector, dtype=np.float32).tobytes())
    return "srp-" + h.hexdigest()[:16]


def _total(resp: dict[str, Any]) -> tuple[int, str]:
    """OpenSearch's hit count and relation ("gte" past track_total_hits' bound)."""
    t = resp["hits"].get("total") or {}
    if isinstance(t, int):
        return t, "eq"
    return int(t.get("value", 0)), t.get("relation", "eq")