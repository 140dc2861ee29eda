"""`sidecar index` against the real OpenSearch: a 2,000-item slice of the fashion catalog."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli

pytestmark = pytest.mark.opensearch
INDEX = "test-products-slice"


@pytest.fixture(scope="module")
def indexed(os_client, os_url, fashion_slice):
    catalog, vectors = fashion_slice
    res = run_cli("index", "--catalog", str(catalog), "--vectors", str(vectors), "--index", INDEX,
                  "--recreate", "--url", os_url, "--quiet")
    assert res.returncode == 0, res.stderr
    yield res
    os_client.indices.delete(index=INDEX, ignore_unavailable=True)


def test_summary_and_count(indexed, os_client):
    assert "indexed 2000, failed 0, skipped 0 bad lines" in indexed.stdout
    assert "docs/s" in indexed.stdout
    assert os_client.count(index=INDEX)["count"] == 2000
    mapping = os_client.indices.get_mapping(index=INDEX)[INDEX]["mappings"]
    assert mapping["properties"]["vector"]["dimension"] == 384
    assert mapping["properties"]["vector"]["method"]["engine"] == "lucene"
    assert mapping["_meta"]["minhash"]["num_perm"] == 64


def test_bm25_query_returns_matching_titles(indexed, os_client):
    resp = os_client.search(index=INDEX, body={"size": 10, "query": {"match": {"title": "black watch"}}})
    titles = [h["_source"]["title"].lower() for h in resp["hits"]["hits"]]
    assert len(titles) == 10
    assert all("watch" in t or "black" in t for t in titles)
    assert "black" in titles[0] and "watch" in titles[0]


def test_knn_with_a_stored_vector_finds_the_product_and_its_kind(indexed, os_client, fashion_rows):
    doc = os_client.get(index=INDEX, id=fashion_rows[2]["id"])["_source"]  # "Titan Women Silver Watch"
    resp = os_client.search(index=INDEX, body={"size": 5, "_source": ["title", "category"],
                                               "query": {"knn": {"vector": {"vector": doc["vector"], "k": 5}}}})
    hits = resp["hits"]["hits"]
    assert hits[0]["_id"] == fashion_rows[2]["id"]
    assert hits[0]["_score"] == pytest.approx(1.0, abs=1e-3)
    assert all(h["_source"]["category"] == "Watches" for h in hits)


def test_minhash_signature_stored_matches_query_time_computation(indexed, os_client, fashion_rows):
    from sidecar.rerank import dedup

    doc = os_client.get(index=INDEX, id=fashion_rows[0]["id"])["_source"]
    stored = dedup.decode_signature(doc["minhash"], 64)
    assert stored.tolist() == dedup.signatures([fashion_rows[0]["title"]], 64)[0].tolist()


def test_recreate_is_idempotent(indexed, os_client, os_url, fashion_slice):
    catalog, vectors = fashion_slice
    before = os_client.get(index=INDEX, id="15970")["_source"]
    res = run_cli("index", "--catalog", str(catalog), "--vectors", str(vectors), "--index", INDEX,
                  "--recreate", "--url", os_url, "--quiet")
    assert res.returncode == 0, res.stderr
    assert os_client.count(index=INDEX)["count"] == 2000
    assert os_client.get(index=INDEX, id="15970")["_source"] == before


def test_broken_line_is_reported_with_its_number_and_skipped(os_client, os_url, fashion_slice, tmp_path):
    catalog, vectors = fashion_slice
    lines = catalog.read_text().splitlines()[:50]
    lines[6] = '{"id": "x1", "title": "broken'           # line 7: invalid JSON
    lines[19] = json.dumps({"brand": "NoTitle"})         # line 20: no id/title
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    vec = tmp_path / "v.npy"
    np.save(vec, np.load(vectors)[:50])
    res = run_cli("index", "--catalog", str(bad), "--vectors", str(vec), "--index", "test-bad-lines",
                  "--recreate", "--url", os_url, "--quiet")
    try:
        assert res.returncode == 0, res.stderr
        assert res.stderr.count(f"{bad}:7: skipped: invalid JSON") == 1  # reported once, not also logged
        assert f"{bad}:20: skipped: missing required field 'id'" in res.stderr
        assert "indexed 48, failed 0, skipped 2 bad lines" in res.stdout
        # the lines after a bad one keep their own vectors (row i = line i)
        good = json.loads(lines[7])
        stored = os_client.get(index="test-bad-lines", id=good["id"])["_source"]["vector"]
        assert np.allclose(stored, np.load(vectors)[7].astype(np.float32), atol=1e-4)
    finally:
        os_client.indices.delete(index="test-bad-lines", ignore_unavailable=True)


def test_mismatched_vectors_fail_before_anything_is_written(os_client, os_url, fashion_slice, tmp_path):
    catalog, vectors = fashion_slice
    short = tmp_path / "short.npy"
    np.save(short, np.load(vectors)[:1999])
    res = run_cli("index", "--catalog", str(catalog), "--vectors", str(short), "--index", "test-mismatch",
                  "--url", os_url, "--quiet")
    assert res.returncode == 2
    assert "1999 vectors for 2000 catalog lines" in res.stderr
    assert not os_client.indices.exists(index="test-mismatch")


def test_unreachable_opensearch_is_a_clear_error(fashion_slice):
    catalog, vectors = fashion_slice
    res = run_cli("index", "--catalog", str(catalog), "--index", "x", "--url", "http://127.0.0.1:9", "--quiet")
    assert res.returncode == 1
    assert "not reachable at http://127.0.0.1:9" in res.stderr


def test_index_layout_defaults_suit_one_node_and_a_cluster():
    """Default: 1 shard, replicas auto-expanded 0-1 (green on one node, a copy of every shard on
    a cluster); --shards/--replicas set them."""
    from sidecar.opensearch.indexer import index_body

    default = index_body(384)["settings"]["index"]
    assert default["number_of_shards"] == 1 and default["auto_expand_replicas"] == "0-1"
    assert "number_of_replicas" not in default
    cluster = index_body(384, shards=3, replicas=1)["settings"]["index"]
    assert (cluster["number_of_shards"], cluster["number_of_replicas"]) == (3, 1)
    assert "auto_expand_replicas" not in cluster


def test_without_vectors_the_titles_are_embedded_and_text_search_is_semantic(os_client, os_url):
    """`sidecar index` with no --vectors embeds each title with the query encoder (progress bar
    on stderr); the index then answers a shopper's word the titles barely use."""
    from conftest import ROOT
    from sidecar.opensearch.client import make_client
    from sidecar.search.pipeline import run_search
    from sidecar.retrieval.opensearch_backend import OpenSearchBackend
    from sidecar.rules import load_rules_dir

    index = "test-products-embedded"
    res = run_cli("index", "--catalog", str(ROOT / "demo" / "catalog.jsonl"), "--index", index, "--recreate",
                  "--url", os_url)
    try:
        assert res.returncode == 0, res.stderr
        assert "embedding titles" in res.stderr and "indexed 1482, failed 0" in res.stdout
        assert os_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]["vector"]["dimension"] == 384
        stored = np.load(ROOT / "demo" / "vectors.npy")  # the demo's own MiniLM title vectors
        first = json.loads((ROOT / "demo" / "catalog.jsonl").read_text().splitlines()[0])
        from sidecar.retrieval.hits import decode_vectors

        got = decode_vectors([os_client.get(index=index, id=first["id"])["_source"]["vector_f16"]])[0]
        assert float(got @ stored[0] / np.linalg.norm(stored[0])) >= 0.99
        from sidecar.encoder import load

        backend = OpenSearchBackend(make_client(os_url, timeout=10), index, 10.0)
        r = run_search({"q": "sneakers", "size": 10}, backend, load_rules_dir(ROOT / "query_rules"), 1000,
                       encode=load("minilm").query).response
        assert r["mode"] == "hybrid"
        assert [h["fields"]["master_category"] for h in r["hits"]].count("Footwear") >= 8
        puma = run_search({"q": "puma shoes", "size": 10}, backend, load_rules_dir(ROOT / "query_rules"), 1000,
                          encode=load("minilm").query).response
        assert puma["named"] == {"brand": ["puma"]}  # the brand values, read from the index
        assert [h["fields"]["brand"] for h in puma["hits"]].count("Puma") >= 8
    finally:
        os_client.indices.delete(index=index, ignore_unavailable=True)
