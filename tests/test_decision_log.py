"""Decision log against the real OpenSearch: records, their types, and every visualization's
own aggregations over a known sequence of requests."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from conftest import ROOT, run_cli
from sidecar.config import Config
from sidecar.opensearch.decision_log import DecisionLogWriter
from sidecar.evaluation.diversity import holds
from sidecar.opensearch.client import load_mapping, make_client
from sidecar.rules import load_rules_dir
from sidecar.server import create_app

pytestmark = pytest.mark.opensearch
PREFIX = "test-decisions"


def saved_objects() -> list[dict]:
    """What `sidecar dashboards` prints for this prefix (SIDECAR_DECISION_LOG_INDEX)."""
    out = run_cli("dashboards", env={"SIDECAR_DECISION_LOG_INDEX": PREFIX})
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def logged(os_url, os_client):
    os_client.indices.delete(index=f"{PREFIX}-*", ignore_unavailable=True)
    writer = DecisionLogWriter(lambda: make_client(os_url), prefix=PREFIX, flush_interval=0.1).start()
    cfg = Config.load(environ={}, backend="memory", catalog=str(ROOT / "demo" / "catalog.jsonl"),
                      vectors=str(ROOT / "demo" / "vectors.npy"), rules=str(ROOT / "query_rules"), rules_poll_seconds=0)
    c = create_app(cfg, decision_log=writer).test_client()
    sent = [
        ("search", {"q": "black jacket", "size": 10, "explain": True}),
        ("search", {"q": "Black Jacket!", "size": 10, "explain": True}),
        ("search", {"q": "women sandals", "size": 10, "explain": True}),
        ("search", {"q": "shoes", "like": "15970", "size": 10, "explain": True}),
        ("search", {"q": "black jacket", "size": 10, "rule": "none", "explain": True}),
        ("search", {"q": "black jacket", "size": "ten"}),
        ("rerank", {"candidates": [{"id": f"s{i}", "score": 2 - i / 1000, "fields": {"brand": "Sony"}} for i in range(20)]
                    + [{"id": f"p{i}", "score": 1 - i / 1000, "fields": {"brand": "Panasonic"}} for i in range(20)],
                    "rule": {"id": "paper", "lambda": 0, "constraints": [{"field": "brand", "value": "Panasonic", "min": 0.1}]},
                    "size": 20, "explain": True}),
    ]
    responses = [(kind, body, c.post(f"/{kind}", json=body)) for kind, body in sent]
    assert writer.flush(30)
    os_client.indices.refresh(index=f"{PREFIX}-*")
    docs = [h["_source"] for h in os_client.search(index=f"{PREFIX}-*", body={"size": 100})["hits"]["hits"]]
    yield responses, docs, c
    writer.close(5)
    os_client.indices.delete(index=f"{PREFIX}-*", ignore_unavailable=True)


def test_every_request_left_one_record_with_the_template_types(logged, os_client):
    responses, docs, _ = logged
    assert len(docs) == len(responses)
    by_id = {d["request_id"]: d for d in docs}
    for kind, body, resp in responses:
        rid = resp.headers["X-Request-Id"]
        assert rid in by_id, (kind, body)
        d = by_id[rid]
        assert d["status"] == resp.status_code
        assert d["outcome"] == ("ok" if resp.status_code == 200 else "error")
    index = next(iter(os_client.indices.get(index=f"{PREFIX}-*")))
    props = os_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    template = load_mapping("decision-log-template.json")["template"]["mappings"]["properties"]
    for name, spec in template.items():
        assert props[name].get("type", "object") == spec.get("type", "object"), name


def test_record_contents_match_the_response(logged):
    responses, docs, _ = logged
    by_id = {d["request_id"]: d for d in docs}
    kind, body, resp = responses[0]
    d = by_id[resp.headers["X-Request-Id"]]
    r = resp.json
    assert d["query"] == "black jacket" and d["rule"] == "default" and d["rule_match"] == "default"
    assert d["mode"] == r["mode"] == "hybrid" and d["from"] == 0  # text alone, the encoder on: hybrid and d["size"] == 10 and d["window"] == 200
    assert d["ids_after"] == [h["id"] for h in r["hits"]]
    assert d["moved"] == sum(h["rank"] != h["explanation"]["original_rank"] for h in r["hits"])
    assert d["total_ms"] == r["timings"]["total_ms"] and d["backend_took_ms"] == r["backend_took_ms"]
    assert {c["label"] for c in d["constraints"]} == {"one brand <= 30%", "one seller <= 30%"}
    brand = next(c for c in d["constraints"] if c["label"] == "one brand <= 30%")
    brands = [h["fields"]["brand"] for h in r["hits"]]
    assert brand["share_after"] == pytest.approx(max(Counter(brands).values()) / len(brands))
    assert d["dedup_collapsed"] >= 0 and d["dedup_groups"] > 0
    version = load_rules_dir(ROOT / "query_rules").version
    assert all(doc["rules_version"] == version for doc in docs)  # which rule set decided
    (error,) = [doc for doc in docs if doc["outcome"] == "error"]
    assert error["status"] == 400 and error["error_type"] == "invalid_request"


# --- the visualizations' own aggregations ------------------------------------------------------

def kuery_to_dsl(q: str) -> dict:
    """The saved searches use single 'field:value' KQL filters (or none)."""
    if not q.strip():
        return {"match_all": {}}
    field, value = q.split(":", 1)
    if value.strip() == "*":  # KQL's 'field:*': the field exists
        return {"exists": {"field": field.strip()}}
    return {"term": {field.strip(): value.strip()}}


def vis_to_search(vis: dict) -> dict:
    """Build the OpenSearch aggregation a visualization's visState asks for."""
    state = json.loads(vis["attributes"]["visState"])
    source = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    metrics, buckets = {}, []
    for a in state["aggs"]:
        p = a["params"]
        if a["type"] == "count":
            continue
        if a["type"] == "avg":
            metrics[a["id"]] = {"avg": {"field": p["field"]}}
        elif a["type"] == "percentiles":
            metrics[a["id"]] = {"percentiles": {"field": p["field"], "percents": p["percents"]}}
        elif a["type"] == "terms":
            buckets.append((a["id"], {"terms": {"field": p["field"], "size": p["size"]}}))
        elif a["type"] == "date_histogram":
            buckets.append((a["id"], {"date_histogram": {"field": p["field"], "fixed_interval": "1h"}}))
        elif a["type"] == "histogram":
            buckets.append((a["id"], {"histogram": {"field": p["field"], "interval": p["interval"],
                                                    "min_doc_count": 1 if p.get("min_doc_count") else 0}}))
        else:
            raise AssertionError(f"unsupported agg {a['type']}")
    inner: dict = dict(metrics)
    for agg_id, spec in reversed(buckets):
        inner = {agg_id: {**spec, "aggs": inner}} if inner else {agg_id: spec}
    return {"size": 0, "query": kuery_to_dsl(source["query"]["query"]), "aggs": inner}


def flatten(aggs: dict, order: list[str], path=()) -> list[tuple]:
    """(bucket keys..., doc_count, {metric id: value}) for every innermost bucket."""
    if not order:
        return []
    rows = []
    for b in aggs[order[0]]["buckets"]:
        if len(order) == 1:
            rows.append((*path, b["key"], b["doc_count"], {k: v for k, v in b.items() if k not in ("key", "doc_count", "key_as_string")}))
        else:
            rows += flatten(b, order[1:], (*path, b["key"]))
    return rows


@pytest.fixture(scope="module")
def vis_results(logged, os_client):
    out = {}
    for obj in saved_objects():
        if obj["type"] != "visualization" or obj["references"][0]["id"] != "sidecar-decisions-pattern":
            continue  # the events' visualization is checked where events are posted (test_experiments_loop)
        body = vis_to_search(obj)
        resp = os_client.search(index=f"{PREFIX}-*", body=body)
        state = json.loads(obj["attributes"]["visState"])
        order = [a["id"] for a in state["aggs"] if a["schema"] in ("segment", "group", "bucket")]
        out[obj["id"]] = flatten(resp["aggregations"], order)
    return out


def test_saved_objects_reference_each_other():
    objs = saved_objects()
    ids = {o["id"]: o for o in objs}
    pattern, events = [o for o in objs if o["type"] == "index-pattern"]
    assert pattern["attributes"]["timeFieldName"] == "@timestamp"  # the ECS/OpenSearch convention
    assert pattern["attributes"]["title"] == f"{PREFIX}-*"  # follows SIDECAR_DECISION_LOG_INDEX
    assert events["attributes"] == {"title": "ubi_events", "timeFieldName": "timestamp"}  # UBI's names
    for o in objs:
        for ref in o.get("references", []):
            assert ref["id"] in ids and ids[ref["id"]]["type"] == ref["type"]
    dash = next(o for o in objs if o["type"] == "dashboard")
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert len(panels) == sum(o["type"] == "visualization" for o in objs) == 8
    templates = {pattern["id"]: load_mapping("decision-log-template.json")["template"]["mappings"]["properties"],
                 events["id"]: load_mapping("ubi-events-template.json")["template"]["mappings"]["properties"]}
    for o in objs:
        if o["type"] == "visualization":
            template = templates[o["references"][0]["id"]]
            for a in json.loads(o["attributes"]["visState"])["aggs"]:
                if "field" in a["params"]:
                    assert a["params"]["field"] in template, (o["id"], a["params"]["field"])


def test_requests_per_rule(vis_results, logged):
    responses, _, _ = logged
    got = Counter()
    for _, rule, count, _ in vis_results["sidecar-requests-per-rule"]:
        got[rule] += count
    expected = Counter()
    for kind, body, resp in responses:
        if resp.status_code == 200:
            expected[resp.json["rule"] or "none"] += 1
    assert got == expected == Counter({"default": 3, "broad-mmr": 1, "none": 1, "paper": 1})


def test_constraint_satisfaction_per_rule(vis_results, logged):
    responses, _, _ = logged
    rules = load_rules_dir(ROOT / "query_rules").by_id
    per_rule: dict[str, list[float]] = {}
    for kind, body, resp in responses:
        if kind != "search" or resp.status_code != 200 or resp.json["rule"] is None:
            continue
        rule = rules[resp.json["rule"]]
        page = [{"id": h["id"], "fields": h["fields"]} for h in resp.json["hits"]]
        per_rule.setdefault(rule.id, []).append(sum(holds(c, page) for c in rule.constraints) / len(rule.constraints))
    paper_page = [{"id": h["id"], "fields": {"brand": "Panasonic" if h["id"].startswith("p") else "Sony"}}
                  for h in responses[-1][2].json["hits"]]
    from sidecar.rerank.rule import parse_constraint
    per_rule["paper"] = [float(holds(parse_constraint({"field": "brand", "value": "Panasonic", "min": 0.1}, "c"), paper_page))]
    got = {rule: m["1"]["value"] for rule, _, m in vis_results["sidecar-constraint-satisfaction"] if m["1"]["value"] is not None}
    assert got.keys() == per_rule.keys()
    for rule, vals in per_rule.items():
        assert got[rule] == pytest.approx(np.mean(vals), abs=1e-4), rule


def test_items_moved_per_page(vis_results, logged):
    responses, _, _ = logged
    moved = Counter()
    for kind, body, resp in responses:
        if resp.status_code != 200:
            continue
        hits = resp.json["hits"]
        n = sum(h["rank"] != (h["explanation"]["original_rank"] if kind == "search" else h["original_rank"]) for h in hits)
        moved[n] += 1
    got = {int(key): count for key, count, _ in vis_results["sidecar-items-moved"] if count}
    assert got == dict(moved)
    assert moved[0] >= 1  # the rule: none page moved nothing


def test_rerank_latency_percentiles(vis_results, logged):
    responses, docs, _ = logged
    rows = {endpoint: m for endpoint, _, m in vis_results["sidecar-rerank-latency"]}
    assert set(rows) == {"search", "rerank"}
    search_ms = [r.json["timings"]["rerank_ms"] for k, _, r in responses if k == "search" and r.status_code == 200]
    p = rows["search"]["1"]["values"]
    slack = 1e-6 * max(search_ms)  # the index stores rerank_ms as a float (32 bits): 43.643 reads 43.643001556
    assert min(search_ms) - slack <= p["50.0"] <= max(search_ms) + slack
    assert p["99.0"] <= max(search_ms) + slack and p["50.0"] <= p["95.0"] <= p["99.0"]


def test_top_default_rule_queries(vis_results):
    got = {q: n for q, n, _ in vis_results["sidecar-default-rule-queries"]}
    assert got == {"black jacket": 2, "women sandals": 1}  # normalised: 'Black Jacket!' is the same query


def test_error_outcomes(vis_results):
    assert [(status, endpoint, n) for status, endpoint, n, _ in vis_results["sidecar-error-outcomes"]] == [(400, "search", 1)]


def test_sampling_and_off_switch(os_url):
    off = Config.load(environ={}, backend="memory", catalog=str(ROOT / "demo" / "catalog.jsonl"), rules=str(ROOT / "query_rules"),
                      rules_poll_seconds=0, decision_log="off")
    assert create_app(off).extensions["sidecar"].decision_log is None
    writer = DecisionLogWriter(lambda: make_client(os_url), prefix=PREFIX + "-sampled", sample=0.0).start()
    for _ in range(50):
        writer.submit({"timestamp": "2026-01-01T00:00:00+00:00"})
    assert writer._queue.qsize() == 0
    writer.close(1)
    with pytest.raises(ValueError, match="SIDECAR_DECISION_LOG"):
        Config.load(environ={"SIDECAR_DECISION_LOG": "maybe"})


def test_overflow_is_dropped_and_counted_without_blocking(os_url):
    writer = DecisionLogWriter(lambda: make_client("http://127.0.0.1:9"), prefix=PREFIX + "-never", queue_size=5,
                               flush_interval=5).start()
    import time
    t0 = time.perf_counter()
    for _ in range(100):
        writer.submit({"timestamp": "2026-01-01T00:00:00+00:00"})
    assert time.perf_counter() - t0 < 0.5  # submit never waits
    assert writer.dropped["overflow"] >= 90
    writer.close(0.5)


def test_an_empty_page_is_not_a_constraint_failure():
    """A search that matched nothing has no page to judge: held is null, satisfaction is null."""
    from sidecar.opensearch.decision_log import build_record
    from sidecar.search.outcome import Decision

    rule = load_rules_dir(ROOT / "query_rules").by_id["default"]
    rec = build_record(Decision("search", rule, "default", "bm25", "no such thing", frm=0, size=20), "r1")
    assert rec["page_size"] == 0 and rec["constraint_satisfaction"] is None and rec["constraints_total"] == 0
    assert rec["constraints"] and all(c["held"] is None and c["held_before"] is None for c in rec["constraints"])


def test_the_template_is_named_by_the_prefix(logged, os_client):
    names = {t["name"] for t in os_client.indices.get_index_template()["index_templates"]}
    assert PREFIX in names and f"sidecar-decisions-{PREFIX}" not in names


def test_a_day_index_made_before_the_rewrite_fields_takes_records_with_them(os_url, os_client):
    """A day's index created from the template before ``understood_text`` and ``rewrites`` existed
    (strict mapping) gets them when the writer starts, so that day's records with them are kept."""
    prefix = "test-older-decisions"  # a pattern no other test's template covers
    os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    old = load_mapping("decision-log-template.json")["template"]["mappings"]
    for field in ("understood_text", "rewrites"):
        old["properties"].pop(field)
    os_client.indices.create(index=f"{prefix}-2026.12.06", body={"mappings": old})
    writer = DecisionLogWriter(lambda: make_client(os_url), prefix=prefix, flush_interval=0.1).start()
    try:
        writer.submit({"@timestamp": "2026-12-06T10:00:00.000+00:00", "request_id": "r1", "endpoint": "search",
                       "understood_text": "office shirt", "rewrites": ["query_rules/20-rewrites.yaml:33: office -> boost"]})
        assert writer.flush(30)
        os_client.indices.refresh(index=f"{prefix}-*")
        docs = [h["_source"] for h in os_client.search(index=f"{prefix}-*", body={"size": 10})["hits"]["hits"]]
        assert [d["understood_text"] for d in docs] == ["office shirt"] and not any(writer.dropped.values()), writer.dropped
    finally:
        writer.close(5)
        os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        os_client.indices.delete_index_template(name=prefix, ignore=[404])
