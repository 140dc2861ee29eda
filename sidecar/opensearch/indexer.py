"""Bulk-loading a catalog (+ vectors + MinHash signatures) into an OpenSearch products index.

Vectors come from a file (row i = line i) or, without one, from the query encoder run over each
product's title (``embed_catalog``), so the index answers text queries semantically.

Everything that can be checked before writing is checked first (vector count, dimensions), so
a mismatch never leaves a half-written index. Bad catalog lines are reported with their line
number and skipped. Batches are retried on 429 and on timeouts with exponential backoff; two
batches are in flight at once so that building the next batch overlaps OpenSearch's indexing.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError
from tqdm import tqdm

from ..catalog import FIELDS, BadLine, count_lines, iter_catalog, load_vectors
from .client import load_mapping
from ..rerank import dedup, minhash
from ..retrieval.hits import VECTOR_BINARY_FIELD, encode_vector

log = logging.getLogger(__name__)

INDEXED_FIELDS = ("id", *FIELDS)
MINHASH_NUM_PERM = 64
MINHASH_FIELD = "title"


@dataclass
class IndexSummary:
    indexed: int = 0
    failed: int = 0
    skipped_lines: list[BadLine] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def docs_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"indexed": self.indexed, "failed": self.failed, "skipped_lines": len(self.skipped_lines),
                "seconds": round(self.seconds, 2), "docs_per_second": round(self.docs_per_second, 1)}


def index_body(dimension: int | None, shards: int | None = None, replicas: int | None = None) -> dict[str, Any]:
    """The products index body of mappings/products.json, with the vector dimension of the
    data. Default layout: 1 shard, replicas auto-expanded to 0-1 (0 on one node, so it is green;
    1 on a cluster, so losing a node loses no data); ``shards``/``replicas`` set them instead."""
    body = load_mapping("products.json")
    settings = body["settings"]["index"]
    if shards is not None:
        settings["number_of_shards"] = int(shards)
    if replicas is not None:
        settings.pop("auto_expand_replicas", None)
        settings["number_of_replicas"] = int(replicas)
    props = body["mappings"]["properties"]
    if dimension is None:
        props.pop("vector")
        props.pop("vector_f16")
    else:
        props["vector"]["dimension"] = int(dimension)
    body["mappings"]["_meta"]["minhash"] = {"num_perm": MINHASH_NUM_PERM, "field": MINHASH_FIELD, "shingle": 1,
                                            "seed": minhash.SEED, "scheme": "affine32"}
    return body


def _document(doc: dict[str, Any], vector: np.ndarray | None, signature: np.ndarray) -> dict[str, Any]:
    out = {k: doc[k] for k in INDEXED_FIELDS if doc.get(k) is not None}
    if vector is not None:
        # float16 sources carry ~3 significant digits: 5 decimals keep them and shorten the JSON
        out["vector"] = np.round(vector.astype(np.float32), 5).tolist()
        out[VECTOR_BINARY_FIELD] = encode_vector(vector)  # what retrieval reads: 2 bytes a dimension
    if dedup.has_signature(signature[None, :])[0]:  # a text with no tokens has no signature: nobody's duplicate
        out["minhash"] = dedup.encode_signature(signature)
    return out


def _bulk_with_retry(client: OpenSearch, index: str, docs: list[dict[str, Any]], retries: int = 6) -> tuple[int, list[str]]:
    """Send one batch; retry 429s (per item) and timeouts (whole batch). Returns (ok, errors)."""
    pending = docs
    errors: list[str] = []
    delay = 0.5
    for attempt in range(retries + 1):
        lines = []
        for d in pending:
            lines.append(json.dumps({"index": {"_index": index, "_id": d["id"]}}))
            lines.append(json.dumps(d, separators=(",", ":")))
        try:
            resp = client.bulk(body="\n".join(lines) + "\n", request_timeout=120)
        except (ConnectionTimeout, OSConnectionError) as exc:
            if attempt == retries:
                return len(docs) - len(pending), errors + [f"{len(pending)} docs: {type(exc).__name__}: {exc}"]
            log.warning("bulk timed out (%s), retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay *= 2
            continue
        except TransportError as exc:
            if exc.status_code == 429 and attempt < retries:
                time.sleep(delay)
                delay *= 2
                continue
            raise
        retry = []
        for d, item in zip(pending, resp["items"]):
            result = item["index"]
            if result.get("status") == 429:
                retry.append(d)
            elif result.get("error"):
                errors.append(f"id {d['id']}: {result['error'].get('type')}: {result['error'].get('reason')}")
        if not retry:
            return len(docs) - len(errors), errors
        pending = retry
        time.sleep(delay)
        delay *= 2
    return len(docs) - len(pending) - len(errors), errors + [f"{len(pending)} docs still rejected with 429"]


def embed_catalog(catalog: Path, encoder: Any, text_field: str = "title", progress: bool = True,
                  lines: int | None = None) -> np.ndarray:
    """Row i = the embedded ``text_field`` of line i of the catalog (a bad line: a zero row, never
    indexed), batched by length, with a progress bar. ``lines``: the catalog's line count when
    the caller has it."""
    rows, texts = [], []
    for row, item in iter_catalog(catalog):
        if not isinstance(item, BadLine):
            rows.append(row)
            texts.append(str(item.get(text_field) or ""))
    out = np.zeros((count_lines(catalog) if lines is None else lines, encoder.dimension), dtype=np.float32)
    if texts:
        out[rows] = encoder.encode(texts, progress=f"embedding {text_field}s" if progress else None)
    return out


def index_catalog(client: OpenSearch, catalog: Path, index: str, vectors: Path | None = None, *,
                  recreate: bool = False, batch_size: int = 500, progress: bool = True, shards: int | None = None,
                  replicas: int | None = None, encoder: Any = None, text_field: str = "title") -> IndexSummary:
    """Load ``catalog`` (and ``vectors``; without them, the ``text_field`` embedded by ``encoder``
    when one is given) into ``index``; see the module docstring."""
    t0 = time.perf_counter()
    total = count_lines(catalog)
    vecs = load_vectors(vectors, total) if vectors is not None else None  # before any write
    dimension = vecs.shape[1] if vecs is not None else (encoder.dimension if encoder is not None else None)

    exists = client.indices.exists(index=index)  # OpenSearch answers before the long work of embedding
    if exists and not recreate:
        have = client.indices.get_mapping(index=index)[index]["mappings"]["properties"].get("vector", {}).get("dimension")
        if dimension is not None and have != dimension:
            source = "the vectors file has" if vecs is not None else f"the encoder ({encoder.name}) makes"
            raise ValueError(f"index {index!r} has vector dimension {have}, {source} {dimension}; use --recreate")
    if vecs is None and encoder is not None:  # before any write: an interrupted embedding leaves the index as it was
        vecs = embed_catalog(catalog, encoder, text_field, progress, lines=total)
        log.info("embedded the %ss of %s with %s in %.1f s", text_field, catalog, encoder.name, time.perf_counter() - t0)
    if exists and recreate:
        client.indices.delete(index=index)
    if not exists or recreate:
        client.indices.create(index=index, body=index_body(dimension, shards, replicas))
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})

    summary = IndexSummary()
    bar = tqdm(total=total, unit="doc", desc=f"indexing {index}", disable=not progress, file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=2)
    inflight: list[Future] = []

    def collect(fut: Future) -> None:
        ok, errs = fut.result()
        summary.indexed += ok
        summary.failed += len(errs) if errs else 0
        for e in errs[:5]:
            log.error("bulk error: %s", e)

    def flush(batch: list[tuple[int, dict[str, Any]]]) -> None:
        sigs = dedup.signatures([d.get(MINHASH_FIELD) for _, d in batch], MINHASH_NUM_PERM)
        docs = [_document(d, None if vecs is None else vecs[row], sigs[i]) for i, (row, d) in enumerate(batch)]
        while len(inflight) >= 2:
            collect(inflight.pop(0))
        fut = pool.submit(_bulk_with_retry, client, index, docs)
        fut.add_done_callback(lambda _f, n=len(batch): bar.update(n))
        inflight.append(fut)

    try:
        batch: list[tuple[int, dict[str, Any]]] = []
        for row, item in iter_catalog(catalog):
            if isinstance(item, BadLine):
                summary.skipped_lines.append(item)
                log.debug("%s:%d: skipped: %s", catalog, item.line, item.reason)  # the caller reports them
                bar.update(1)
                continue
            batch.append((row, item))
            if len(batch) >= batch_size:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
        for fut in inflight:
            collect(fut)
    finally:
        pool.shutdown(wait=True)
        bar.close()
        client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
        client.indices.refresh(index=index)
    summary.seconds = time.perf_counter() - t0
    return summary
