"""The HTTP API, against the embedded memory backend and against the real OpenSearch."""
from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest

from conftest import ROOT, index_demo, run_cli
from sidecar.config import Config
from sidecar.server import create_app

DEMO_CATALOG = ROOT / "demo" / "catalog.jsonl"
DEMO_VECTORS = ROOT / "demo" / "vectors.npy"
DEMO_INDEX = "test-sidecar-demo"
TOKEN = "s3cret-test-token-0001"


def make_cfg(**kw) -> Config:
    base = dict(catalog=str(DEMO_CATALOG), vectors=str(DEMO_VECTORS), rules=str(ROOT / "query_rules"),
                admin_token=TOKEN, rules_poll_seconds=0)
    base.update(kw)
    return Config.load(environ={}, **base)


@pytest.fixture(scope="module")
def demo_index(os_client, os_url):
    index_demo(os_url, DEMO_INDEX)
    yield DEMO_INDEX
    os_client.indices.delete(index=DEMO_INDEX, ignore_unavailable=True)


@pytest.fixture(scope="module", params=["memory", pytest.param("opensearch", marks=pytest.mark.needs_opensearch)])
def client(request):
    if request.param == "memory":
        app = create_app(make_cfg(backend="memory"))
    else:
        url = request.getfixturevalue("os_url")
        request.getfixturevalue("demo_index")
        app = create_app(make_cfg(backend="opensearch", opensearch_url=url, index=DEMO_INDEX))
    return app.test_client()


def post(client, path, body, **kw):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kw)


demo_rows = [json.loads(line) for line in DEMO_CATALOG.read_text().splitlines()]
demo_vecs = np.load(DEMO_VECTORS).astype(np.float32)


# --- /search ----------------------------------------------------------------------------------

def test_search_bm25_matches_a_rule_and_diversifies(client):
    r = post(client, "/search", {"q": "black jacket", "mode": "bm25", "size": 10, "explain": True})
    assert r.status_code == 200, r.json
    body = r.json
    assert body["rule"] == "default" and body["rule_match"] == "default" and body["mode"] == "bm25"
    assert len(body["hits"]) == 10
    assert all("jacket" in h["fields"]["title"].lower() or "black" in h["fields"]["title"].lower() for h in body["hits"])
    assert {"retrieval_ms", "rerank_ms", "total_ms"} <= set(body["timings"])
    assert "backend_took_ms" in body
    assert all("original_rank" in h["explanation"] and "reason" in h["explanation"] for h in body["hits"])


def test_default_rule_lowers_brand_concentration(client):
    """'puma tshirt' retrieves Puma first (10 of 10 unreranked); the default rule spreads brands
    when it may fight the query, and keeps the brand the query names when it may not."""
    def top_brand_count(resp):
        brands = [h["fields"]["brand"] for h in resp["hits"]]
        return max(brands.count(b) for b in brands)

    base = post(client, "/search", {"q": "puma tshirt", "size": 10, "rule": "none"}).json
    ranked = post(client, "/search", {"q": "puma tshirt", "size": 10, "overrides": {"respect_query": False}}).json
    assert base["rule"] is None and ranked["rule"] == "default"
    assert top_brand_count(base) == 10
    assert top_brand_count(ranked) <= 3  # one brand <= 30%
    asked = post(client, "/search", {"q": "puma tshirt", "size": 10}).json
    assert asked["named"] == {"brand": ["puma"]} and top_brand_count(asked) >= 8


def test_same_request_same_page_and_pages_do_not_overlap(client):
    req = {"q": "shoes", "size": 10, "like": demo_rows[10]["id"], "mode": "hybrid"}
    p1 = post(client, "/search", req).json
    assert post(client, "/search", req).json["hits"] == p1["hits"]
    p2 = post(client, "/search", {**req, "from": 10}).json
    ids1, ids2 = [h["id"] for h in p1["hits"]], [h["id"] for h in p2["hits"]]
    assert len(ids2) == 10 and not set(ids1) & set(ids2)
    both = post(client, "/search", {**req, "size": 20}).json
    assert [h["id"] for h in both["hits"]] == ids1 + ids2
    assert p1["rule"] == "broad-mmr" and p1["rule_match"] == "exact"


def test_deep_pages_never_run_dry(client):
    """Collapsing shrinks the 200-item window; page 20 is filled from the next window (on the demo,
    651 products match 'men' in OpenSearch, 729 by bm25s), and walking the pages repeats nothing."""
    deep = post(client, "/search", {"q": "men", "mode": "bm25", "from": 190, "size": 10}).json
    assert len(deep["hits"]) == 10 and deep["has_next"] is True
    assert deep["total"]["value"] >= 600 and deep["total"]["relation"] == "eq"
    assert deep["window"] > 200  # a second retrieval window was needed
    walked: list[str] = []
    for frm in range(0, 260, 20):
        page = post(client, "/search", {"q": "men", "mode": "bm25", "from": frm, "size": 20}).json
        assert len(page["hits"]) == 20, frm
        assert [h["rank"] for h in page["hits"]] == list(range(frm + 1, frm + 21))
        walked += [h["id"] for h in page["hits"]]
    assert len(set(walked)) == len(walked)
    assert [h["id"] for h in deep["hits"]] == walked[190:200]  # the same page whatever the walk


def test_last_page_says_no_next_page(client):
    """Paging 'puma tshirt' in pages of 50 ends with has_next false; nothing repeats on the way."""
    seen: list[str] = []
    frm = 0
    while True:
        page = post(client, "/search", {"q": "puma tshirt", "mode": "bm25", "from": frm, "size": 50}).json
        seen += [h["id"] for h in page["hits"]]
        if not page["has_next"]:
            break
        assert len(page["hits"]) == 50
        frm += 50
    assert len(seen) == len(set(seen)) and 0 < len(page["hits"]) <= 50
    assert page["total"]["value"] >= len(seen)  # collapsed near-duplicates are not shown
    assert post(client, "/search", {"q": "puma tshirt", "mode": "bm25", "from": len(seen), "size": 10}).json["hits"] == []


def test_hybrid_mmr_ranks_by_the_fused_score(client):
    """The README's example: 'shoes' like a shirt (15970), hybrid, under the MMR rule. MMR's
    relevance is the fused score, not the cosine to the shirt, so both pages show shoes."""
    for frm in (0, 10):
        r = post(client, "/search", {"q": "shoes", "like": "15970", "mode": "hybrid", "from": frm, "size": 10}).json
        assert r["rule"] == "broad-mmr"
        shoes = [h for h in r["hits"] if "shoe" in h["fields"]["title"].lower()]
        assert len(shoes) >= 4, [h["fields"]["title"] for h in r["hits"]]


def test_knn_with_vector_and_like(client):
    i = 2  # a watch
    r = post(client, "/search", {"vector": demo_vecs[i].tolist(), "size": 5, "rule": "none"}).json
    assert r["mode"] == "knn" and r["hits"][0]["id"] == demo_rows[i]["id"]
    r2 = post(client, "/search", {"like": demo_rows[i]["id"], "size": 4, "rule": "none"}).json
    assert [h["id"] for h in r2["hits"]] == [h["id"] for h in r["hits"]][1:]  # the same, less the product itself


def test_filters_term_terms_range(client):
    r = post(client, "/search", {"q": "shirt", "size": 20, "filters": {"gender": "Men", "brand": ["Puma", "Nike"],
                                                                       "price": {"gte": 100, "lte": 900}}}).json
    assert r["hits"]
    for h in r["hits"]:
        f = h["fields"]
        assert f["gender"] == "Men" and f["brand"] in ("Puma", "Nike") and 100 <= f["price"] <= 900
    r = post(client, "/search", {"q": "shirt", "filters": {"listed_at": {"gte": "2026-09-01"}}}).json
    assert r["hits"] and all(h["fields"]["listed_at"] >= "2026-09-01" for h in r["hits"])


def test_overrides_and_explicit_rule(client):
    """Overrides go through the same validation; null removes a key (here the dedup agent)."""
    only_min = {"lambda": 0, "dedup": None,
                "constraints": [{"field": "condition", "values": ["used", "refurbished"], "min": 0.1}]}
    r = post(client, "/search", {"q": "watch", "size": 10, "rule": "watches-preowned", "overrides": only_min,
                                 "explain": True}).json
    assert r["rule"] == "watches-preowned"
    # lambda 0, min 0.1: by rank 10 at least one pre-owned watch, placed by the agent at rank 10
    # at the latest (deviance 0.1 with 9 placed), or earlier by score.
    preowned = [h for h in r["hits"] if h["fields"]["condition"] in ("used", "refurbished")]
    assert preowned
    if r["hits"][9] in preowned and len(preowned) == 1:
        # ranks 1-9 are then the first nine by score; the watch at rank 10 is the agent's, unless it
        # is the 10th by score itself: then the agent's proposal is the default item and, by
        # version 3's correction 1, the agent does not bid, so it is placed as the default
        assert [h["explanation"]["original_rank"] for h in r["hits"][:9]] == list(range(1, 10))
        last = r["hits"][9]["explanation"]
        assert last["reason"]["type"] == ("default" if last["original_rank"] == 10 else "constraint")


@pytest.mark.parametrize("body, status, field", [
    ({"q": "x", "size": "ten"}, 400, "size"),
    ({"q": "x", "size": -1}, 400, "size"),
    ({"q": "x", "from": -1}, 400, "from"),
    ({"q": "x", "colour": "red"}, 400, "colour"),
    ({"q": "x", "mode": "fuzzy"}, 400, "mode"),
    ({"mode": "knn"}, 400, "vector"),  # with a q, the encoder gives the vector (tests/test_encoder.py)
    ({"q": "x", "vector": ["a"]}, 400, "vector[0]"),
    ({"q": "x", "like": "no-such-id"}, 400, "like"),
    ({"q": "x", "filters": {"brnd": "Nike"}}, 400, "filters.brnd"),
    ({"q": "x", "filters": {"price": {"between": 1}}}, 400, "filters.price.between"),
    ({"q": "x", "rule": "nope"}, 400, "rule"),
    ({"q": "x", "overrides": {"lambda": -1}}, 400, "overrides.lambda"),
    ({"q": "x", "from": 990, "size": 20}, 400, "from"),
    ({"q": "x", "size": 2000}, 400, "size"),  # from is 0: the size is what is too large
    ({"q": 5}, 400, "q"),
    ({"q": "shirt", "size": 10.0}, 400, "size"),  # JSON Schema's integer takes 10.0; the API does not
    ({"q": "shirt", "from": 10.0}, 400, "from"),
    ({"q": "shirt", "size": 1e1}, 400, "size"),
])
def test_invalid_requests_name_the_field(client, body, status, field):
    r = post(client, "/search", body)
    assert r.status_code == status
    assert r.json["error"]["field"] == field, r.json


def test_rerank_integers_written_as_floats_are_400s_naming_the_field(client):
    cands = [{"id": f"p{i}", "score": 1.0 - i / 10} for i in range(5)]
    for body, field in (({"candidates": cands, "rule": "default", "size": 3.0}, "size"),
                        ({"candidates": cands, "rule": {"id": "x", "size": 2.0}}, "rule.size")):
        r = post(client, "/rerank", body)
        assert r.status_code == 400 and r.json["error"]["field"] == field, r.json


@pytest.mark.parametrize("rule", ["none", None])
def test_has_next_only_when_the_next_page_can_be_asked_for(client, rule):
    """At the end of the maximum window (1,000) a next page of the same size would be a 400: no
    has_next then, with or without reranking; one page earlier it is there and it works."""
    body = {"q": "shirt", **({"rule": rule} if rule else {})}
    last = post(client, "/search", {**body, "from": 987, "size": 7}).json
    assert last["has_next"] is False
    before = post(client, "/search", {**body, "from": 980, "size": 7}).json
    if before["has_next"]:
        assert post(client, "/search", {**body, "from": 987, "size": 7}).status_code == 200
    assert post(client, "/search", {**body, "from": 994, "size": 7}).status_code == 400


def test_search_without_size_takes_the_rules_size_as_rerank_does(client):
    r = post(client, "/search", {"q": "black jacket", "overrides": {"size": 7}})
    assert r.status_code == 200 and r.json["size"] == 7 and len(r.json["hits"]) == 7
    assert len(post(client, "/search", {"q": "black jacket", "rule": "none"}).json["hits"]) == 20  # no rule: 20


def test_malformed_json_and_body_too_large(client):
    r = client.post("/search", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json["error"]["type"] == "malformed_json"
    r = client.post("/search", data=json.dumps({"q": "x" * 2_000_000}), content_type="application/json")
    assert r.status_code == 413 and r.json["error"]["type"] == "body_too_large"


# --- /rerank and the CLI ------------------------------------------------------------------------

def test_rerank_endpoint_and_cli_give_the_same_answer(client):
    req = {"candidates": [{"id": f"s{i}", "score": 2 - i / 1000, "fields": {"brand": "Sony"}} for i in range(20)]
           + [{"id": f"p{i}", "score": 1 - i / 1000, "fields": {"brand": "Panasonic"}} for i in range(20)],
           "rule": {"id": "paper", "lambda": 0, "constraints": [{"field": "brand", "value": "Panasonic", "min": 0.1}]},
           "size": 20, "explain": True}
    r = post(client, "/rerank", req)
    assert r.status_code == 200
    assert [h["rank"] for h in r.json["hits"] if h["id"].startswith("p")] == [10, 20]
    cli = run_cli("rerank", stdin=json.dumps(req))
    assert cli.returncode == 0 and json.loads(cli.stdout) == r.json
    by_id = post(client, "/rerank", {**req, "rule": "default"})
    assert by_id.status_code == 200 and by_id.json["rule"] == "default"


def test_rerank_errors(client):
    r = post(client, "/rerank", {"candidates": [{"id": "a", "score": "high"}], "rule": "default"})
    assert r.status_code == 400 and r.json["error"]["field"] == "candidates[0].score"
    assert "is not of type \"number\"" in r.json["error"]["message"]
    cli = run_cli("rerank", stdin=json.dumps({"candidates": [{"score": 1}], "rule": "default"}), )
    assert cli.returncode == 2 and "candidates[0].id: required, missing" in cli.stderr, cli.stderr
    missing = run_cli("rerank", "/no/such/request.json")
    assert missing.returncode == 2 and "cannot read /no/such/request.json" in missing.stderr
    assert "Traceback" not in missing.stderr


# --- health, metrics, admin ---------------------------------------------------------------------

def wait_ready(client, seconds: float = 120.0):
    """/readyz answers 503 ("kernels": "warming") until the reranking kernels are loaded."""
    deadline = time.monotonic() + seconds
    while True:
        ready = client.get("/readyz")
        if ready.status_code == 200 or time.monotonic() > deadline:
            return ready
        assert ready.status_code == 503 and ready.json["kernels"] == "warming", ready.json
        time.sleep(0.2)


def test_health_ready_metrics(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = wait_ready(client)
    assert ready.status_code == 200 and ready.json["ready"] is True and ready.json["kernels"] == "warm"
    post(client, "/search", {"q": "black jacket"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sidecar_requests_total{endpoint="/search",rule="default",status="200"}' in text
    assert "sidecar_rerank_seconds_bucket" in text and "sidecar_request_seconds_bucket" in text


def test_admin_needs_the_token(client):
    assert client.get("/admin/rules").status_code == 401
    assert client.get("/admin/rules", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get("/admin/rules", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json["rules"] == 5 and r.json["last_error"] == []
    assert client.post("/admin/rules/reload").status_code == 401
    r = client.post("/admin/rules/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json["reloaded"] is True


def test_admin_reload_rejects_a_broken_edit_and_keeps_serving(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yaml").write_text((ROOT / "query_rules" / "00-default.yaml").read_text())
    app = create_app(make_cfg(backend="memory", rules=str(rules)))
    c = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    (rules / "a.yaml").write_text("rules:\n  - id: default\n    match: {default: true}\n    lamda: 1\n")
    r = c.post("/admin/rules/reload", headers=auth)
    assert r.status_code == 422 and "unknown key 'lamda'" in r.json["last_error"][0]
    assert r.json["last_error"][0].startswith(f"{rules}/a.yaml:4:")
    assert post(c, "/search", {"q": "black jacket"}).json["rule"] == "default"  # last good set serves on
    metrics = c.get("/metrics").get_data(as_text=True)
    assert 'sidecar_rule_reloads_total{outcome="rejected"} 1.0' in metrics
    (rules / "a.yaml").write_bytes(b"rules:\n  - id: caf\xe9\n")  # not UTF-8: a rejection too, never a 500
    r = c.post("/admin/rules/reload", headers=auth)
    assert r.status_code == 422 and "not UTF-8" in r.json["last_error"][0] and r.json["failures"] == 2


# --- the proxy ---------------------------------------------------------------------------------

def test_proxy_reranks_in_opensearch_shape(os_url, demo_index):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    body = {"size": 10, "query": {"match": {"title": "black jacket"}}, "ext": {"rerank": {"rule": "default"}}}
    r = post(c, f"/{demo_index}/_search", body)
    assert r.status_code == 200, r.json
    hits = r.json["hits"]["hits"]
    assert len(hits) == 10 and {"_id", "_source", "_score", "_rerank"} <= set(hits[0])
    assert [h["_rerank"]["rank"] for h in hits] == list(range(1, 11))
    assert len(hits[0]["_source"]["vector"]) == 384  # the whole _source, as OpenSearch returns it (issue 38)
    assert r.json["_rerank"]["rule"] == "default" and r.json["_rerank"]["window"] == 200
    plain = post(c, f"/{demo_index}/_search", {"size": 3, "query": {"match": {"title": "black jacket"}}})
    assert plain.status_code == 200 and "_rerank" not in plain.json["hits"]["hits"][0]
    get = c.open(f"/{demo_index}/_search", method="GET", data=json.dumps(body), content_type="application/json")
    assert get.status_code == 200 and len(get.json["hits"]["hits"]) == 10
    other = post(c, "/no-such-index/_search", {"query": {"match_all": {}}})
    assert other.status_code == 400 and other.json["error"]["type"] == "policy_refused"  # not on the allow-list


def test_proxy_leaves_a_brand_the_query_names_alone_as_search_does(os_url, demo_index):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    body = {"size": 10, "query": {"match": {"title": "puma tshirt"}}, "ext": {"rerank": {"query": "puma tshirt"}}}
    r = post(c, f"/{demo_index}/_search", body).json
    brands = [h["_source"]["brand"] for h in r["hits"]["hits"]]
    assert r["_rerank"]["rule"] == "default" and r["_rerank"]["named"] == {"brand": ["puma"]}
    assert brands.count("Puma") > 3  # above the 30% cap: the cap let the named brand be
    assert all(h["_rerank"]["reason"]["named"] == {"brand": "Puma"} for h in r["hits"]["hits"] if h["_source"]["brand"] == "Puma")
    off = post(c, f"/{demo_index}/_search", {**body, "ext": {"rerank": {"query": "puma tshirt",
                                                                          "overrides": {"respect_query": False}}}}).json
    assert [h["_source"]["brand"] for h in off["hits"]["hits"]].count("Puma") <= 3 and "named" not in off["_rerank"]


def test_proxy_fetches_what_the_rule_needs_and_returns_what_the_client_asked(os_url, demo_index):
    """`_source: ["title"]` under the default rule: the brand cap still holds (the sidecar fetched
    brand and seller), and each hit carries only the title."""
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    query = {"match": {"title": "puma tshirt"}}
    plain = post(c, f"/{demo_index}/_search", {"size": 10, "query": query, "_source": ["title", "brand"]}).json
    assert [h["_source"]["brand"] for h in plain["hits"]["hits"]].count("Puma") == 10
    for source in (["title"], "title", {"includes": ["ti*"]}, {"excludes": ["brand", "seller", "minhash", "vector", "price"]}):
        r = post(c, f"/{demo_index}/_search", {"size": 10, "query": query, "_source": source,
                                               "ext": {"rerank": {"rule": "default"}}})
        assert r.status_code == 200, r.json
        hits = r.json["hits"]["hits"]
        assert len(hits) == 10
        brand = {h["_id"]: h["_source"]["brand"] for h in plain["hits"]["hits"]}
        ids = [h["_id"] for h in hits]
        by_id = {d["id"]: d for d in demo_rows}
        assert max([by_id[i]["brand"] for i in ids].count(b) for b in set(brand.values())) <= 3
        if isinstance(source, dict) and "excludes" in source:
            assert "title" in hits[0]["_source"] and not {"brand", "seller", "minhash"} & set(hits[0]["_source"])
        else:
            assert all(set(h["_source"]) == {"title"} for h in hits), hits[0]["_source"]
    none = post(c, f"/{demo_index}/_search", {"size": 5, "query": query, "_source": False,
                                              "ext": {"rerank": {"rule": "default"}}}).json
    assert len(none["hits"]["hits"]) == 5 and all("_source" not in h for h in none["hits"]["hits"])


def test_proxy_deep_pages_never_run_dry(os_url, demo_index):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    body = {"query": {"match": {"title": "men"}}, "ext": {"rerank": {"rule": "default"}}}
    walked: list[str] = []
    for frm in range(0, 240, 40):
        r = post(c, f"/{demo_index}/_search", {**body, "from": frm, "size": 40}).json
        assert len(r["hits"]["hits"]) == 40, frm
        assert r["_rerank"]["has_next"] is True
        walked += [h["_id"] for h in r["hits"]["hits"]]
    assert len(set(walked)) == len(walked)
    assert r["hits"]["total"]["value"] >= 600


def test_proxy_honours_read_only_url_parameters_as_opensearch_does(os_url, os_client, demo_index):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    r = c.get(f"/{demo_index}/_search?q=title:jacket&size=3")
    direct = os_client.search(index=demo_index, q="title:jacket", size=3)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert [h["_id"] for h in r.json["hits"]["hits"]] == [h["_id"] for h in direct["hits"]["hits"]]
    assert len(direct["hits"]["hits"]) == 3 and all("jacket" in h["_source"]["title"].lower() for h in direct["hits"]["hits"])
    r = c.get(f"/{demo_index}/_search?q=title:jacket&size=2&_source_includes=title,brand")
    assert len(r.json["hits"]["hits"]) == 2 and all(set(h["_source"]) <= {"title", "brand"} for h in r.json["hits"]["hits"])
    # reranked: the URL's size and q reach the forwarded search too
    r = c.post(f"/{demo_index}/_search?size=5&q=title:shoes", json={"ext": {"rerank": {"rule": "default"}}})
    assert r.status_code == 200, r.get_data(as_text=True)
    hits = r.json["hits"]["hits"]
    assert len(hits) == 5 and all("_rerank" in h and "shoe" in h["_source"]["title"].lower() for h in hits)
    r = c.get(f"/{demo_index}/_count?q=title:jacket")
    assert r.status_code == 200 and r.json["count"] == os_client.count(index=demo_index, q="title:jacket")["count"] > 0
    info = c.get("/")
    assert info.status_code == 200 and info.json["version"]["number"] == os_client.info()["version"]["number"]
    assert c.head("/").status_code == 200


@pytest.mark.parametrize("path, body, named", [
    ("/{i}/_search?scroll=1m", None, "scroll"),
    ("/{i}/_search?error_trace=true", None, "error_trace"),
    ("/{i}/_search?bogus=1", None, "bogus"),
    ("/{i}/_search?size=ten", None, "size"),
    ("/{i}/_search", {"ext": True}, "ext"),
    ("/{i}/_search?filter_path=hits.total", {"ext": {"rerank": {"rule": "default"}}}, "filter_path"),
    ("/{i}/_count", {"size": 3}, "body"),
    ("/{i}/_search", {"sort": [{"price": "asc"}], "ext": {"rerank": {"rule": "default"}}}, "sort"),
    ("/{i}/_search?sort=price:asc", {"ext": {"rerank": {"rule": "default"}}}, "sort"),
    ("/{i}/_search", {"search_after": [1], "sort": ["price"], "ext": {"rerank": {"rule": "default"}}}, "sort"),
])
def test_proxy_refuses_what_it_does_not_forward_in_opensearch_error_shape(os_url, demo_index, path, body, named):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    r = c.post(path.format(i=demo_index), json=body if body is not None else {"query": {"match_all": {}}})
    assert r.status_code == 400, r.get_data(as_text=True)
    err = r.json["error"]
    assert r.json["status"] == 400 and err["type"] == "illegal_argument_exception" == err["root_cause"][0]["type"]
    assert err["reason"].startswith(named + ":") and err["field"] == named


@pytest.mark.parametrize("method, path", [
    ("DELETE", f"/{DEMO_INDEX}"), ("POST", "/_bulk"), ("POST", f"/{DEMO_INDEX}/_bulk"),
    ("PUT", f"/{DEMO_INDEX}/_doc/1"), ("POST", f"/{DEMO_INDEX}/_doc"), ("POST", f"/{DEMO_INDEX}/_delete_by_query"),
    ("GET", "/_cluster/health"), ("PUT", "/_cluster/settings"), ("PUT", f"/{DEMO_INDEX}/_settings"),
    ("DELETE", f"/{DEMO_INDEX}/_search"), ("PUT", f"/{DEMO_INDEX}/_search"), ("POST", "/_search/scroll"),
    ("GET", "/_cat/indices"), ("POST", f"/{DEMO_INDEX}/_update/1"), ("GET", "/_all/_settings"),
])
def test_proxy_refuses_everything_but_search(os_url, os_client, demo_index, method, path):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    before = os_client.count(index=demo_index)["count"]
    r = c.open(path, method=method, data=json.dumps({"query": {"match_all": {}}}), content_type="application/json")
    assert r.status_code in (403, 405), (method, path, r.status_code)
    assert r.json["error"]["type"] in ("forbidden", "method_not_allowed")
    assert os_client.indices.exists(index=demo_index)
    assert os_client.count(index=demo_index)["count"] == before


# --- backend failures ----------------------------------------------------------------------------

def test_backend_down_is_a_prompt_503():
    c = create_app(make_cfg(backend="opensearch", opensearch_url="http://127.0.0.1:9", index="x")).test_client()
    t0 = time.perf_counter()
    r = post(c, "/search", {"q": "black jacket"})
    assert r.status_code == 503 and r.json["error"]["type"] == "backend_unavailable"
    assert "127.0.0.1" not in r.json["error"]["message"] and "Connection" not in r.json["error"]["message"]
    assert time.perf_counter() - t0 < 2
    assert c.get("/readyz").status_code == 503
    v = c.get("/version")  # answers while the cluster is away, and says so
    assert v.status_code == 200 and v.json["opensearch"] is None


def test_an_overloaded_backend_is_a_429_with_retry_after():
    """OpenSearch's 429 (a full search queue) reaches /search clients as a 429 they may retry."""
    from sidecar.retrieval import BackendBusy
    from sidecar.retrieval.memory import MemoryBackend

    class Busy(MemoryBackend):
        def retrieve(self, req):
            raise BackendBusy("OpenSearch is overloaded: es_rejected_execution_exception")

    c = create_app(make_cfg(backend="memory"), backend=Busy(DEMO_CATALOG, DEMO_VECTORS)).test_client()
    r = post(c, "/search", {"q": "black jacket"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and r.json["error"]["type"] == "backend_busy"


def test_a_query_text_over_the_bound_is_a_400_naming_q(client):
    r = post(client, "/search", {"q": "shirt " * 300})
    assert r.status_code == 400 and r.json["error"]["field"] == "q" and "SIDECAR_MAX_QUERY_CHARS" in r.json["error"]["message"]


def test_backend_slow_is_a_504_within_the_timeout():
    """A listener that accepts and never answers stands in for a hung OpenSearch."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        port = srv.getsockname()[1]
        c = create_app(make_cfg(backend="opensearch", opensearch_url=f"http://127.0.0.1:{port}", index="x",
                                backend_timeout=0.5)).test_client()
        t0 = time.perf_counter()
        r = post(c, "/search", {"q": "black jacket"})
        elapsed = time.perf_counter() - t0
        assert r.status_code == 504 and r.json["error"]["type"] == "backend_timeout"
        assert elapsed < 2.0
        assert 'sidecar_backend_errors_total{kind="timeout"} 1.0' in c.get("/metrics").get_data(as_text=True)
    finally:
        stop.set()
        t.join()
        for s in conns:
            s.close()
        srv.close()


def test_unknown_route_and_method_are_json():
    c = create_app(make_cfg(backend="memory")).test_client()
    r = c.get("/search")
    assert r.status_code in (403, 405) and "error" in r.json


def test_options_advertises_only_what_is_served():
    c = create_app(make_cfg(backend="memory")).test_client()
    assert set(c.options("/search").headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    assert set(c.options("/products/_search").headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    assert c.options("/products/_doc/1").status_code == 403  # not served at all
    for method in ("PUT", "DELETE", "PATCH"):
        r = c.open("/products/_search", method=method)
        assert r.status_code == 403 and "is not served" in r.json["error"]["message"]


def test_version_names_package_opensearch_and_rule_set(client):
    from sidecar import __version__

    v = client.get("/version").json
    assert v["version"] == __version__ and v["rules_version"] == client.get(
        "/admin/rules", headers={"Authorization": f"Bearer {TOKEN}"}).json["version"]
    assert (v["opensearch"] or "").startswith("3.") if v["backend"] == "opensearch" else v["opensearch"] is None


def test_cors_is_off_by_default_and_follows_the_setting():
    off = create_app(make_cfg(backend="memory")).test_client()
    r = post(off, "/search", {"q": "shirt"}, headers={"Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    on = create_app(make_cfg(backend="memory", cors_origins="https://shop.example")).test_client()
    r = post(on, "/search", {"q": "shirt"}, headers={"Origin": "https://shop.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://shop.example" and "Origin" in r.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in post(on, "/search", {"q": "shirt"},
                                                     headers={"Origin": "https://evil.example"}).headers
    pre = on.options("/search", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200 and "POST" in pre.headers["Access-Control-Allow-Methods"]


def test_inline_rule_ids_share_one_metrics_label():
    """Clients cannot grow /metrics: a rule sent inline is labelled 'inline', whatever its id."""
    c = create_app(make_cfg(backend="memory")).test_client()
    for i in range(5):
        r = post(c, "/rerank", {"candidates": [{"id": "a", "score": 1.0}], "rule": {"id": f"client-rule-{i}"}})
        assert r.status_code == 200
    text = c.get("/metrics").get_data(as_text=True)
    assert "client-rule-" not in text and 'rule="inline"' in text


def test_an_oversized_body_is_a_413_with_the_decision_log_on():
    """The error record must not re-read a body over the limit (that was a 500)."""
    from sidecar.opensearch.decision_log import DecisionLogWriter

    writer = DecisionLogWriter(lambda: None, flush_interval=0.05).start()  # records go nowhere: only the answer matters
    c = create_app(make_cfg(backend="memory", max_body_bytes=1000), decision_log=writer).test_client()
    r = c.post("/search", data=json.dumps({"q": "x" * 5000}), content_type="application/json")
    assert r.status_code == 413 and r.json["error"]["type"] == "body_too_large"
    r = post(c, "/search", {"q": "x", "like": "1" * 600})
    assert r.status_code == 400 and r.json["error"]["field"] == "like"
    writer.close(1)


# --- a results page in one call: facets, case-blind filters (issue 27) -------------------------

FACETS = {"brand": {"size": 5}, "colour": {"size": 3}, "price": {"ranges": [[0, 500], [500, 1500], [1500, None]]},
          "listed_at": {"interval": "month"}}


def test_facets_come_with_the_page_over_the_matches(client):
    r = post(client, "/search", {"q": "puma tshirt", "size": 5, "filters": {"brand": "Puma"}, "facets": FACETS})
    assert r.status_code == 200, r.json
    f = r.json["facets"]
    # multi-select: the brand facet counts under every filter but its own, so other brands show
    # with what a click on them would add, and the selected brand's count is the total
    puma = [b for b in f["brand"] if b["value"] == "Puma"]
    assert puma == [{"value": "Puma", "count": r.json["total"]["value"], "selected": True}]
    assert len(f["brand"]) > 1 and not any(b["selected"] for b in f["brand"] if b["value"] != "Puma")
    assert sum(b["count"] for b in f["price"]) <= r.json["total"]["value"] and len(f["price"]) == 3
    assert [b["from"] for b in f["price"]] == [0, 500, 1500] and f["price"][2]["to"] is None
    assert sum(b["count"] for b in f["listed_at"]) <= r.json["total"]["value"]
    assert all(b["value"].endswith("-01") for b in f["listed_at"])  # a month's bucket: its first day
    assert len(r.json["hits"]) == 5  # counts are over the matches, not the page
    ranged = post(client, "/search", {"q": "puma tshirt", "filters": {"price": {"gte": 500, "lt": 1500}},
                                      "facets": {"price": FACETS["price"]}}).json["facets"]["price"]
    assert [b["selected"] for b in ranged] == [False, True, False]


def test_facets_equal_opensearchs_own_aggregations(os_url, os_client, demo_index):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index)).test_client()
    memory = create_app(make_cfg(backend="memory")).test_client()
    for q, filters in (("black jacket", {}), ("puma tshirt", {"colour": ["Black", "white"]}), ("shoes", {"gender": "MEN"})):
        body = {"q": q, "mode": "bm25", "size": 10, "filters": filters, "facets": FACETS, "understand": False}
        got = post(c, "/search", body).json
        query = {"bool": {"must": [{"match": {"title": {"query": q}}}],
                          "filter": [{"terms": {f"{k}.folded": [v.lower() for v in (vs if isinstance(vs, list) else [vs])]}}
                                     for k, vs in filters.items()]}}
        direct = os_client.search(index=demo_index, body={"size": 0, "query": query, "aggs": {
            "brand": {"terms": {"field": "brand", "size": 5}},
            "price": {"range": {"field": "price", "ranges": [{"to": 500}, {"from": 500, "to": 1500}, {"from": 1500}]}}}})
        assert [(b["value"], b["count"]) for b in got["facets"]["brand"]] == \
            [(b["key"], b["doc_count"]) for b in direct["aggregations"]["brand"]["buckets"]]
        assert [b["count"] for b in got["facets"]["price"]] == \
            [b["doc_count"] for b in direct["aggregations"]["price"]["buckets"]]
        assert got["total"]["value"] == direct["hits"]["total"]["value"]
        assert post(memory, "/search", body).json["facets"] == got["facets"]  # the memory backend counts alike


def test_facets_are_bounded_and_named_in_errors(client):
    for facets_, field in (({"brand": {"size": 1000}}, "facets.brand.size"), ({"brnd": {}}, "facets.brnd"),
                           ({"brand": {"interval": "month"}}, "facets.brand.interval"),
                           ({"price": {"interval": "month"}}, "facets.price.interval"),
                           ({"price": {"ranges": [[0, "soon"]]}}, "facets.price.ranges[0]")):
        r = post(client, "/search", {"q": "shirt", "facets": facets_})
        assert r.status_code == 400 and r.json["error"]["field"] == field, r.json


def test_keyword_filters_are_case_and_width_blind(client):
    want = post(client, "/search", {"q": "puma tshirt", "mode": "bm25", "filters": {"brand": "Puma"}}).json
    for brand in ("puma", "PUMA", "ｐｕｍａ", ["pUmA", "nike"]):
        got = post(client, "/search", {"q": "puma tshirt", "mode": "bm25", "filters": {"brand": brand}}).json
        assert got["total"] == want["total"] and [h["id"] for h in got["hits"]] == [h["id"] for h in want["hits"]], brand
    wide = post(client, "/search", {"q": "ｐｕｍａ ｔｓｈｉｒｔ"}).json  # the retrieval text is NFKC-normalised
    assert wide["total"] == post(client, "/search", {"q": "puma tshirt"}).json["total"] and wide["hits"]


def test_too_many_query_terms_are_a_400_before_opensearch(os_url, demo_index):
    c = create_app(make_cfg(backend="opensearch", opensearch_url=os_url, index=demo_index,
                            max_query_chars=100000)).test_client()
    r = post(c, "/search", {"q": "shirt " * 1100})
    assert r.status_code == 400 and r.json["error"]["field"] == "q" and "max_clause_count" in r.json["error"]["message"]
