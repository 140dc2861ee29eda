"""From OpenSearch to a batch: vectors as base64 float16, hits as columns, RRF on arrays, and an
index written before ``vector_f16`` (float lists, the slow path) still served."""
from __future__ import annotations

import base64
import json
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, run_cli
from sidecar.config import Config
from sidecar.rerank import packed
from sidecar.rerank.dedup import decode_signatures, encode_signature
from sidecar.retrieval.base import RetrievalRequest
from sidecar.retrieval.fusion import RRF_K, rrf
from sidecar.retrieval.hits import (SIGNATURE_FIELD, VECTOR_BINARY_FIELD, VECTOR_FIELD, decode_vectors,
                                    encode_vector, from_hits)
from sidecar.server import create_app

DEMO_CATALOG = ROOT / "demo" / "catalog.jsonl"
DEMO_VECTORS = ROOT / "demo" / "vectors.npy"
demo_rows = [json.loads(line) for line in DEMO_CATALOG.read_text().splitlines()]
demo_vecs = np.load(DEMO_VECTORS)


# --- the codec and the columns --------------------------------------------------------------

@pytest.mark.parametrize("dim", [384, 7, 1])  # 384: no base64 padding (one decode); 7, 1: padded
def test_vector_f16_round_trip_is_the_float16_value(dim):
    rng = np.random.default_rng(dim)
    vecs = rng.standard_normal((5, dim)).astype(np.float32)
    got = decode_vectors([encode_vector(v) for v in vecs])
    assert got.dtype == np.float32 and got.shape == (5, dim)
    assert np.array_equal(got, vecs.astype(np.float16).astype(np.float32))


def test_decode_vectors_says_none_when_a_vector_is_missing_or_the_lengths_differ():
    v = encode_vector(np.ones(6, dtype=np.float32))
    assert decode_vectors([v, None]) is None
    assert decode_vectors([]) is None
    assert decode_vectors([v, encode_vector(np.ones(9, dtype=np.float32))]) is None


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda quanta: st.lists(
    st.text(alphabet=_B64 + "=-_ \n", min_size=4 * quanta, max_size=4 * quanta), min_size=1, max_size=5)))
def test_the_packed_rows_kernel_equals_its_plain_twin(texts):
    """Any rows of ASCII, canonical base64 or not (stray or missing padding, bytes outside the
    alphabet, rows padded differently): the compiled decoder and its standard-library twin agree
    on whether the matrix is canonical and, when it is, on every byte."""
    rows = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8).reshape(len(texts), -1)
    size = rows.shape[1] // 4 * 3 - int(rows[0, -1] == 61) - int(rows[0, -2] == 61)
    got, want = np.zeros((len(texts), size), np.uint8), np.zeros((len(texts), size), np.uint8)
    ok = packed._decode(rows, packed._TABLE, got)
    assert ok == packed._decode_reference(rows, packed._TABLE, want)
    assert np.array_equal(got, want) or not ok


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.lists(st.binary(min_size=n, max_size=n), min_size=1, max_size=6)))
def test_packed_rows_decode_what_base64_encodes(rows):
    """Equal-length rows of any bytes (so every padding) come back byte for byte."""
    got = packed.decode_rows([base64.b64encode(r).decode("ascii") for r in rows], "<u1")
    assert got is not None and got.tobytes() == b"".join(rows)


def test_packed_rows_refuse_what_is_not_canonical_and_the_lenient_path_still_reads_it():
    v = encode_vector(np.arange(4, dtype=np.float32))  # 8 bytes: "=" padded
    assert packed.decode_rows([v, v[:-4]], "<f2") is None  # rows of different lengths
    assert packed.decode_rows([v.replace("A", "-")], "<f2") is None  # outside the alphabet
    assert packed.decode_rows(["\u00e9" * 4], "<u1") is None and packed.decode_rows([None], "<u1") is None
    wrapped = v[:4] + "\n" + v[4:]  # binascii skips the newline; the kernel refuses, the fallback reads it
    assert np.array_equal(decode_vectors([wrapped, v]), np.arange(8, dtype=np.float32).reshape(2, 4) % 4)
    sigs = np.arange(12, dtype=np.uint32).reshape(3, 4)
    assert np.array_equal(decode_signatures([encode_signature(s) for s in sigs], 4), sigs)


def _hit(i: int, **src):
    return {"_id": f"d{i}", "_score": 1.0 / (i + 1), "_source": {"title": f"t{i}", **src}}


def test_from_hits_takes_the_transport_fields_out_of_the_sources_unless_asked_to_keep_them():
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    hits = [_hit(i, **{VECTOR_BINARY_FIELD: encode_vector(vecs[i]), SIGNATURE_FIELD: "AAAA"}) for i in range(3)]
    kept = from_hits([json.loads(json.dumps(h)) for h in hits], with_vectors=True, keep_source=True)
    assert VECTOR_BINARY_FIELD in kept.sources[0] and SIGNATURE_FIELD in kept.sources[0]
    cols = from_hits(hits, with_vectors=True)
    assert cols.ids == ["d0", "d1", "d2"] and cols.scores.tolist() == [1.0, 0.5, 1 / 3]
    assert np.array_equal(cols.vectors, vecs) and cols.signatures == ["AAAA"] * 3
    assert cols.sources == [{"title": "t0"}, {"title": "t1"}, {"title": "t2"}]
    assert cols.sources[1] is hits[1]["_source"]  # the hit's own dict: no copy per hit


def test_from_hits_reads_float_lists_from_an_older_index_and_no_vectors_unless_asked():
    hits = [_hit(i, **{VECTOR_FIELD: [float(i), 1.0]}) for i in range(2)]
    assert np.array_equal(from_hits(hits, with_vectors=True).vectors, [[0, 1], [1, 1]])
    hits = [_hit(i, **{VECTOR_FIELD: [float(i), 1.0]}) for i in range(2)]
    assert from_hits(hits, with_vectors=False).vectors is None


def test_take_and_concat_keep_every_column_aligned():
    vecs = np.arange(8, dtype=np.float32).reshape(4, 2)
    cols = from_hits([_hit(i, **{VECTOR_BINARY_FIELD: encode_vector(vecs[i])}) for i in range(4)], with_vectors=True)
    part = cols.take([3, 1])
    assert part.ids == ["d3", "d1"] and part.sources[0]["title"] == "t3"
    assert np.array_equal(part.vectors, vecs[[3, 1]]) and part.scores.tolist() == [0.25, 0.5]
    both = type(cols).concat([part, cols.take([0])])
    assert both.ids == ["d3", "d1", "d0"] and np.array_equal(both.vectors, vecs[[3, 1, 0]])


def _rrf_reference(lists: list[list[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """The definition, written plainly: summed 1/(k + rank), ties in order of first appearance."""
    scores: dict[str, float] = {}
    for ranked in lists:
        for rank, doc_id in enumerate(ranked, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    first = {doc_id: i for i, doc_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], first[kv[0]]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), unique=True, max_size=25), min_size=1, max_size=3))
def test_rrf_on_arrays_equals_the_definition(raw):
    lists = [[f"id{x}" for x in ranked] for ranked in raw]
    positions, scores = rrf(lists)
    flat = [doc_id for ranked in lists for doc_id in ranked]
    got = [(flat[p], s) for p, s in zip(positions.tolist(), scores.tolist())]
    assert got == _rrf_reference(lists)
    # each position is the id's first occurrence in the concatenation
    assert all(flat.index(flat[p]) == p for p in positions.tolist())


# --- against the real OpenSearch ------------------------------------------------------------

NEW, LEGACY = "test-transport-f16", "test-transport-legacy"


@pytest.fixture(scope="module")
def indices(os_client, os_url):
    """The demo catalog twice: indexed by `sidecar index` (with vector_f16), and as an index
    written before vector_f16 existed (the mapping and documents without it)."""
    from sidecar.opensearch.indexer import _document, index_body
    from sidecar.rerank import dedup

    res = run_cli("index", "--catalog", str(DEMO_CATALOG), "--vectors", str(DEMO_VECTORS), "--index", NEW,
                  "--recreate", "--url", os_url, "--quiet")
    assert res.returncode == 0, res.stderr
    os_client.indices.delete(index=LEGACY, ignore_unavailable=True)
    body = index_body(demo_vecs.shape[1])
    del body["mappings"]["properties"][VECTOR_BINARY_FIELD]
    os_client.indices.create(index=LEGACY, body=body)
    sigs = dedup.signatures([r["title"] for r in demo_rows], 64)
    lines = []
    for i, row in enumerate(demo_rows):
        doc = _document(row, demo_vecs[i], sigs[i])
        del doc[VECTOR_BINARY_FIELD]
        lines += [json.dumps({"index": {"_index": LEGACY, "_id": row["id"]}}), json.dumps(doc)]
    resp = os_client.bulk(body="\n".join(lines) + "\n", refresh=True, request_timeout=120)
    assert not resp["errors"]
    yield
    for name in (NEW, LEGACY):
        os_client.indices.delete(index=name, ignore_unavailable=True)


opensearch = pytest.mark.opensearch


def _cfg(os_url: str, index: str) -> Config:
    return Config.load(environ={}, backend="opensearch", opensearch_url=os_url, index=index,
                       rules=str(ROOT / "query_rules"), rules_poll_seconds=0)


@opensearch
def test_the_indexer_stores_the_vector_as_float16_base64(indices, os_client):
    src = os_client.get(index=NEW, id=demo_rows[3]["id"])["_source"]
    got = decode_vectors([src[VECTOR_BINARY_FIELD]])[0]
    assert np.array_equal(got, demo_vecs[3].astype(np.float32))


@opensearch
def test_a_knn_window_brings_the_same_hits_and_vectors_from_either_index_and_the_old_one_is_logged_once(
        indices, os_client, caplog):
    from sidecar.retrieval.opensearch_backend import OpenSearchBackend

    q = demo_vecs[10].astype(np.float32)
    new = OpenSearchBackend(os_client, NEW, 10.0)
    old = OpenSearchBackend(os_client, LEGACY, 10.0)
    req = RetrievalRequest("knn", None, q, {}, 50, with_vectors=True)
    with caplog.at_level(logging.WARNING, logger="sidecar.retrieval.opensearch_backend"):
        a, b, b2 = new.retrieve(req), old.retrieve(req), old.retrieve(req)
    # two HNSW graphs built apart (bulk batches differ) may order near-ties differently: the same
    # index answers the same, the two indices share nearly all hits, and each shared hit's vector
    # and score agree
    assert b.hits.ids == b2.hits.ids and len(a.hits) == len(b.hits) == 50
    shared = sorted(set(a.hits.ids) & set(b.hits.ids))
    assert len(shared) >= 45, len(shared)
    ra, rb = ({d: k for k, d in enumerate(h.ids)} for h in (a.hits, b.hits))
    ka, kb = [ra[d] for d in shared], [rb[d] for d in shared]
    assert np.allclose(a.hits.vectors[ka], b.hits.vectors[kb], atol=1e-4)  # float16 vs its 5-decimal JSON form
    assert np.allclose(a.hits.scores[ka], b.hits.scores[kb], atol=1e-3)
    assert old.legacy_vectors and not new.legacy_vectors
    warned = [r.getMessage() for r in caplog.records if VECTOR_BINARY_FIELD in r.getMessage()]
    assert len(warned) == 1 and LEGACY in warned[0]
    for h in (a.hits, b.hits):  # transport fields never reach the product fields
        assert not {VECTOR_FIELD, VECTOR_BINARY_FIELD, SIGNATURE_FIELD} & set(h.sources[0])
    assert np.array_equal(new.vector_of(demo_rows[3]["id"]), demo_vecs[3].astype(np.float32))
    assert np.allclose(old.vector_of(demo_rows[3]["id"]), demo_vecs[3].astype(np.float32), atol=1e-4)


@opensearch
@pytest.mark.parametrize("index", [NEW, LEGACY])
def test_an_mmr_search_and_an_mmr_proxy_search_work_on_either_index(indices, os_url, index):
    client = create_app(_cfg(os_url, index)).test_client()
    q = demo_vecs[42].astype(np.float32).tolist()
    r = client.post("/search", json={"vector": q, "mode": "knn", "rule": "broad-mmr", "size": 10, "explain": True})
    assert r.status_code == 200, r.get_data(as_text=True)
    hits = r.json["hits"]
    assert len(hits) == 10 and any(h["explanation"]["reason"]["type"] == "mmr" for h in hits)
    assert not {VECTOR_BINARY_FIELD, SIGNATURE_FIELD} & set(hits[0]["fields"])
    r = client.post(f"/{index}/_search", json={"size": 10, "_source": ["title"],
                                               "query": {"knn": {"vector": {"vector": q, "k": 100}}},
                                               "ext": {"rerank": {"rule": "broad-mmr"}}})
    assert r.status_code == 200, r.get_data(as_text=True)
    page = r.json["hits"]["hits"]
    assert len(page) == 10 and all(set(h["_source"]) == {"title"} for h in page)
    assert any(h["_rerank"]["reason"]["type"] == "mmr" for h in page)
