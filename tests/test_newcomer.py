"""What a new user tripped on (issue 38's list), each as that user meets it: the answer names
what to fix. No OpenSearch needed."""
from __future__ import annotations

import pytest

from conftest import DEMO_INDEX, ROOT, demo_app, run_cli
from sidecar.config import Config
from sidecar.server import create_app


@pytest.fixture(scope="module")
def client():
    app = create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                 catalog=str(ROOT / "demo" / "catalog.jsonl"), encoder="off"))
    return app.test_client()


def test_an_empty_search_says_what_a_search_needs(client):
    r = client.post("/search", json={})
    assert r.status_code == 400 and r.json["error"]["field"] == "q"
    assert "'q', a 'vector' or 'like'" in r.json["error"]["message"] and "bm25" not in r.json["error"]["message"]


@pytest.mark.parametrize("overrides, field", [({"lambda": "x"}, "overrides.lambda"), ({"window": -1}, "overrides.window"),
                                              ({"dedup": {"threshold": 5}}, "overrides.dedup.threshold"),
                                              ({"constraints": [{"field": "brand", "max": 2}]},
                                               "overrides.constraints[0]")])
def test_an_overrides_error_names_the_key(client, overrides, field):
    r = client.post("/search", json={"q": "shoes", "overrides": overrides})
    assert r.status_code == 400 and r.json["error"]["field"] == field, r.json


def test_a_duplicate_candidate_id_names_its_place(client):
    r = client.post("/rerank", json={"rule": "default", "candidates": [{"id": "1", "score": 1}, {"id": "1", "score": 0.5}]})
    assert r.status_code == 400 and r.json["error"]["field"] == "candidates[1].id"


@pytest.mark.parametrize("method, path", [("GET", "/favicon.ico"), ("GET", "/_search"), ("POST", "/_search"),
                                          ("GET", "/products"), ("DELETE", "/products")])
def test_index_looking_paths_are_403_not_405(client, method, path):
    r = client.open(path, method=method)
    assert r.status_code == 403 and r.json["error"]["type"] == "forbidden"


def test_a_served_path_asked_with_the_wrong_method_is_still_405(client):
    r = client.get("/search")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]


@pytest.mark.parametrize("body, field", [({"facets": {"price": {"ranges": [[500, 100]]}}}, "facets.price.ranges[0]"),
                                         ({"filters": {"price": {"gte": 500, "lte": 100}}}, "filters.price"),
                                         ({"filters": {"price": {"gt": 100, "lt": 100}}}, "filters.price")])
def test_an_inverted_range_is_a_400(client, body, field):
    r = client.post("/search", json={"q": "shirt", **body})
    assert r.status_code == 400 and r.json["error"]["field"] == field


def test_a_range_of_one_value_is_still_a_range(client):
    assert client.post("/search", json={"q": "shirt", "filters": {"price": {"gte": 100, "lte": 100}}}).status_code == 200


def test_openapi_says_events_answer_202(client):
    doc = client.get("/openapi.json").json
    responses = doc["paths"]["/events"]["post"]["responses"]
    assert "202" in responses and "200" not in responses and "429" in responses


def test_config_says_where_a_default_built_from_env_came_from(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env_file = tmp_path / "custom.env"
    env_file.write_text("OPENSEARCH_PORT=9333\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SIDECAR_OPENSEARCH_URL", "OPENSEARCH_PORT")}
    res = subprocess.run([str(Path(sys.executable).parent / "sidecar"), "config"], capture_output=True, text=True,
                         env={**env, "SIDECAR_ENV_FILE": str(env_file)}, cwd=tmp_path, timeout=60)
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("SIDECAR_OPENSEARCH_URL"))
    assert "http://127.0.0.1:9333" in line and "default, OPENSEARCH_PORT from .env" in line, line


def test_no_rules_folder_says_so_without_a_line_zero(tmp_path):
    res = run_cli("rules", "check", str(tmp_path / "nowhere"))
    assert res.returncode != 0 and ":0:" not in res.stderr + res.stdout
    assert "not a directory of rule files (--rules or SIDECAR_RULES names it)" in res.stderr + res.stdout


def _like_pages(c) -> list[list[str]]:
    return [[h["id"] for h in c.post("/search", json=body).json["hits"]]
            for body in ({"like": "15970", "size": 10}, {"q": "shoes", "like": "15970", "mode": "hybrid", "size": 10},
                         {"like": "15970", "rule": "none", "size": 10}, {"like": "15970", "size": 10, "from": 10})]


def test_like_never_returns_its_seed_on_the_memory_backend():
    app = create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                 catalog=str(ROOT / "demo" / "catalog.jsonl"), vectors=str(ROOT / "demo" / "vectors.npy"),
                                 encoder="off"))
    pages = _like_pages(app.test_client())
    assert all(len(p) == 10 and "15970" not in p for p in pages), pages


def test_like_never_returns_its_seed_demo_on_opensearch(demo_on_opensearch):
    pages = _like_pages(demo_on_opensearch)
    assert all(len(p) == 10 and "15970" not in p for p in pages), pages


def test_a_reranked_proxy_search_keeps_the_whole_source(demo_on_opensearch, os_client):
    """ext.rerank fetches its window without the vectors' float lists, then the page's: a client
    asking for the whole `_source` gets it whole, vector included; one excluding it does not."""
    body = {"size": 5, "query": {"match": {"title": "shoes"}}, "ext": {"rerank": {"rule": "default"}}}
    hits = demo_on_opensearch.post(f"/{DEMO_INDEX}/_search", json=body).json["hits"]["hits"]
    assert len(hits) == 5
    for hit in hits:
        own = os_client.get(index=DEMO_INDEX, id=hit["_id"])["_source"]
        assert hit["_source"] == own and len(hit["_source"]["vector"]) == 384
    lean = demo_on_opensearch.post(f"/{DEMO_INDEX}/_search", json={**body, "_source": {"excludes": ["vector"]}}).json
    assert all("vector" not in h["_source"] and "title" in h["_source"] for h in lean["hits"]["hits"])


def test_size_0_answers_the_total_and_the_facets_alone(client):
    facets = {"brand": {"size": 5}, "price": {"ranges": [[0, 500], [500, None]]}}
    alone = client.post("/search", json={"q": "shirt", "size": 0, "facets": facets})
    page = client.post("/search", json={"q": "shirt", "size": 10, "facets": facets}).json
    assert alone.status_code == 200 and alone.json["hits"] == [] and alone.json["has_next"] is False
    assert alone.json["facets"] == page["facets"] and alone.json["total"] == page["total"]
    experiment = client.post("/search", json={"q": "shirt", "size": 0, "client_id": "shopper-1"})
    assert experiment.status_code == 200 and "experiment" not in experiment.json


def test_a_rejected_rule_edit_shows_in_readyz_and_inspect(tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "query_rules", rules)
    app = create_app(Config.load(environ={}, backend="memory", rules=str(rules), rules_poll_seconds=0,
                                 catalog=str(ROOT / "demo" / "catalog.jsonl"), encoder="off"))
    c, store = app.test_client(), app.extensions["sidecar"].store
    version = store.current.version
    assert "rules_rejected" not in c.get("/readyz").json
    (rules / "20-broken.yaml").write_text("rules:\n  - id: broken\n    window: -3\n")
    assert store.reload() is False
    ready = c.get("/readyz").json
    assert any("20-broken.yaml:3" in e for e in ready["rules_rejected"])
    assert any(d.startswith("rules: the last edit of the rule files was rejected") and version in d
               for d in ready["degraded"])
    page = c.get("/inspect").get_data(as_text=True)
    assert 'id="rejected"' in page and "20-broken.yaml:3" in page and version in page
    (rules / "20-broken.yaml").unlink()
    assert store.reload() is True
    assert "rules_rejected" not in c.get("/readyz").json and 'id="rejected"' not in c.get("/inspect").get_data(as_text=True)


def test_the_demos_proxy_says_it_needs_opensearch(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    app = create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                 catalog=str(ROOT / "demo" / "catalog.jsonl"), encoder="off", opensearch_url=dead))
    r = app.test_client().post("/products/_search", json={"query": {"match_all": {}}})
    assert r.status_code == 503 and "memory backend" in r.json["error"]["message"]
    assert "docs/operations.md" in r.json["error"]["message"]


def test_rules_diff_previews_what_search_serves(tmp_path):
    """By default the diff retrieves as /search does for text (hybrid with the encoder on), and
    --mode hybrid embeds the texts itself, as experiments simulate does."""
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "black jacket"}\n{"query": "sneakers"}\n')
    for extra, mode in (([], "hybrid"), (["--mode", "hybrid"], "hybrid"), (["--mode", "bm25"], "bm25")):
        res = run_cli("rules", "diff", str(ROOT / "query_rules"), str(ROOT / "query_rules"), "--queries", str(queries),
                      "--backend", "memory", "--quiet", *extra)
        assert res.returncode == 0 and f"2 queries ({mode})" in res.stdout, res.stdout + res.stderr


def test_inspect_holds_a_brand_cap_that_yields_to_the_named_brand(client):
    """"puma shoes": the brand cap leaves Puma alone, so a page of Pumas holds it (not "unmet")."""
    page = client.post("/inspect", data={"q": "puma shoes", "k": "10"}).get_data(as_text=True)
    assert "one brand" in page
    row = page[page.index("one brand"):].split("</tr>", 1)[0]
    assert "unmet" not in row and "broken" not in row, row


PAGING_BODIES = [{"q": "shirt", "mode": "bm25"}, {"q": "shirt", "like": "15970", "mode": "hybrid"},
                 {"like": "15970", "mode": "knn"}, {"q": "black jacket", "mode": "bm25"}]


def _ten_pages_are_one_list(c, body: dict) -> None:
    pages = [[h["id"] for h in c.post("/search", json={**body, "from": 10 * k, "size": 10}).json["hits"]]
             for k in range(10)]
    flat = [i for p in pages for i in p]
    one = [h["id"] for h in c.post("/search", json={**body, "size": 100}).json["hits"]]
    assert len(flat) == len(set(flat)), ("a page repeats an item", body)
    assert flat == one, ("ten pages of 10 are not one page of 100", body)


@pytest.mark.parametrize("rule", ["none", None])
@pytest.mark.parametrize("body", PAGING_BODIES)
def test_pages_never_repeat_and_make_one_list_on_the_memory_backend(rule, body):
    app = create_app(Config.load(environ={}, backend="memory", rules=str(ROOT / "query_rules"), rules_poll_seconds=0,
                                 catalog=str(ROOT / "demo" / "catalog.jsonl"), vectors=str(ROOT / "demo" / "vectors.npy"),
                                 encoder="off"))
    _ten_pages_are_one_list(app.test_client(), {**body, **({"rule": rule} if rule else {})})


@pytest.mark.parametrize("rule", ["none", None])
@pytest.mark.parametrize("body", PAGING_BODIES)
def test_pages_never_repeat_and_make_one_list_demo_on_opensearch(demo_on_opensearch, rule, body):
    _ten_pages_are_one_list(demo_on_opensearch, {**body, **({"rule": rule} if rule else {})})


FACETS = {"brand": {"size": 50}, "gender": {"size": 5}, "price": {"ranges": [[0, 500], [500, 1500], [1500, None]]}}
TOTAL_BODIES = [{"q": "shirt"}, {"q": "shoes", "filters": {"brand": "Nike"}},
                {"q": "shoes", "filters": {"brand": "Nike", "gender": "Men"}},
                {"q": "shirt", "filters": {"price": {"gte": 500, "lt": 1500}}},
                {"q": "shirt", "like": "15970", "mode": "hybrid", "filters": {"brand": "Puma"}},
                {"q": "xyzzyqwertyfoo", "like": "15970", "mode": "hybrid"},
                {"like": "15970", "mode": "knn", "filters": {"gender": "Men"}}]


@pytest.fixture(scope="module")
def memory():
    return demo_app()


@pytest.mark.parametrize("body", TOTAL_BODIES)
def test_total_and_facets_are_the_same_on_both_backends(memory, demo_on_opensearch, body):
    for with_facets in (True, False):
        req = {**body, "size": 10, **({"facets": FACETS} if with_facets else {})}
        a, b = memory.post("/search", json=req).json, demo_on_opensearch.post("/search", json=req).json
        assert a["total"] == b["total"], (req, a["total"], b["total"])
        if with_facets:
            assert a["facets"] == b["facets"], req


@pytest.mark.parametrize("backend", ["memory", "opensearch"])
def test_facets_are_multi_select_and_the_selected_count_is_the_total(request, backend):
    c = request.getfixturevalue("memory" if backend == "memory" else "demo_on_opensearch")
    r = c.post("/search", json={"q": "shoes", "filters": {"brand": "Nike"}, "facets": FACETS, "size": 10}).json
    brands = {b["value"]: b for b in r["facets"]["brand"]}
    assert brands["Nike"]["selected"] and brands["Nike"]["count"] == r["total"]["value"] > 0
    assert len(brands) > 1 and not any(b["selected"] for v, b in brands.items() if v != "Nike")
    other = next(v for v in brands if v != "Nike")  # selecting it too adds exactly its count
    both = c.post("/search", json={"q": "shoes", "filters": {"brand": ["Nike", other]}, "size": 0}).json
    assert both["total"]["value"] == brands["Nike"]["count"] + brands[other]["count"]
    ranged = c.post("/search", json={"q": "shirt", "filters": {"price": {"gte": 500, "lt": 1500}}, "facets": FACETS,
                                      "size": 0}).json
    unfiltered = c.post("/search", json={"q": "shirt", "facets": FACETS, "size": 0}).json
    assert ranged["facets"]["price"] == [{**b, "selected": b["from"] == 500} for b in unfiltered["facets"]["price"]]
    assert [b["count"] for b in ranged["facets"]["price"] if b["selected"]] == [ranged["total"]["value"]]
