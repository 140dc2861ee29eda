"""The query encoder (issue 26): MiniLM run by onnxruntime gives the shared catalog's vectors; a
repeated query is a cache hit; a missing or broken model is one start-up error naming the setting."""
from __future__ import annotations

import time

import numpy as np
import pytest

from sidecar.encoder import SETTING, EncoderError, load


@pytest.fixture(scope="module")
def encoder():
    return load("minilm")


def test_vectors_match_the_catalogs_own(encoder, fashion_rows, fashion_vectors):
    sample = list(range(0, len(fashion_rows), len(fashion_rows) // 300))[:300]
    got = encoder.encode([fashion_rows[i]["title"] for i in sample])
    want = fashion_vectors[sample] / np.linalg.norm(fashion_vectors[sample], axis=1, keepdims=True)
    cos = (got * want).sum(axis=1)
    assert cos.min() >= 0.99, cos.min()
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_batches_by_length_keep_the_order(encoder):
    texts = ["a much longer title about black leather jackets for men", "shoe", "red kurta", ""]
    together = encoder.encode(texts, batch_size=2)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_a_repeated_query_is_a_cache_hit(encoder):
    first = encoder.query("black jacket")
    t0 = time.perf_counter()
    for _ in range(1000):
        again = encoder.query("black jacket")
    assert again is first and (time.perf_counter() - t0) / 1000 < 0.0005
    assert not first.flags.writeable


def test_off_and_broken_models(tmp_path):
    assert load("off") is None
    for setting, says in ((str(tmp_path / "nope"), "not 'minilm', 'off' or a directory"),
                          (str(tmp_path), "model.onnx (or onnx/model.onnx) not found")):
        with pytest.raises(EncoderError) as err:
            load(setting)
        assert str(err.value).startswith(f"{SETTING}=") and says in str(err.value)
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(EncoderError) as err:
        load(str(tmp_path))
    assert str(err.value).startswith(f"{SETTING}={tmp_path}: the model cannot be loaded")


# --- the encoder in the service: text-only kNN and hybrid (the neural query through the proxy:
# tests/test_zz_processes.py, with opensearch-py) ------------------------------------------------

def memory_app(**kw):
    from conftest import ROOT
    from sidecar.config import Config
    from sidecar.server import create_app

    return create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                  catalog=str(ROOT / "demo" / "catalog.jsonl"), vectors=str(ROOT / "demo" / "vectors.npy"),
                                  **kw))


def test_sneakers_in_shoppers_words_find_shoes():
    """The titles say 'shoes', barely 'sneakers': BM25 on the word alone finds a few (the shipped
    rewrites also search 'casual shoes' for it), the default (text alone, the encoder on, the
    catalog has vectors) is hybrid and fills the page with footwear."""
    c = memory_app().test_client()
    bm25 = c.post("/search", json={"q": "sneakers", "mode": "bm25", "size": 10, "understand": False}).json
    rewritten = c.post("/search", json={"q": "sneakers", "mode": "bm25", "size": 10}).json
    default = c.post("/search", json={"q": "sneakers", "size": 10}).json
    assert bm25["total"]["value"] <= 5 < rewritten["total"]["value"] and default["mode"] == "hybrid"
    assert default["fusion"]["method"] == "convex" and set(default["fusion"]["weights"]) == {"bm25", "knn"}
    cats = [h["fields"].get("master_category") for h in default["hits"]]
    assert len(cats) == 10 and cats.count("Footwear") >= 8, cats
    knn = c.post("/search", json={"q": "sneakers", "mode": "knn", "size": 10}).json
    assert knn["mode"] == "knn" and "fusion" not in knn
    vec = c.post("/search", json={"vector": [0.1] * 384, "size": 5}).json  # a vector still overrides
    assert vec["mode"] == "knn"


def test_with_the_encoder_off_text_alone_is_todays_bm25():
    off = memory_app(encoder="off").test_client()
    r = off.post("/search", json={"q": "sneakers", "mode": "knn"})
    assert r.status_code == 400 and r.json["error"]["field"] == "vector"
    on = memory_app().test_client()
    body = {"q": "black jacket", "size": 10, "understand": False}
    plain = off.post("/search", json=body).json
    assert plain["mode"] == "bm25" and "fusion" not in plain
    assert [h["id"] for h in plain["hits"]] == \
        [h["id"] for h in on.post("/search", json={**body, "mode": "bm25"}).json["hits"]]
    # understanding reads a product type through the encoder too ('jacket' is no type word of the
    # demo's titles: too few products): with it off, only the colour is read
    read_on = on.post("/search", json={"q": "black jacket", "size": 10, "mode": "bm25"}).json["understood"]["filters"]
    read_off = off.post("/search", json={"q": "black jacket", "size": 10}).json["understood"]["filters"]
    assert read_on == {"colour": "black", "category": "topwear"} and read_off == {"colour": "black"}


def test_a_missing_model_is_one_start_up_error(tmp_path):
    from conftest import run_cli

    res = run_cli("serve", "--backend", "memory", "--port", "1", env={"SIDECAR_ENCODER": str(tmp_path / "no-model")})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: SIDECAR_ENCODER="), res.stderr
