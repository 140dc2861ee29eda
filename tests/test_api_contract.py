"""The API through its OpenAPI document: the documented examples are valid and answered, and
schemathesis, generating requests from the same document, never gets a 5xx."""
from __future__ import annotations

import re
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from conftest import ROOT, index_demo
from sidecar.search import contract
from sidecar.config import Config
from sidecar.server import create_app
from sidecar.server.documented import EXAMPLES
from sidecar.server.openapi import document
from sidecar.server.routes import routes_only

INDEX = "test-sidecar-contract"
pytestmark = pytest.mark.opensearch


@pytest.fixture(scope="module")
def app(os_url, os_client):
    index_demo(os_url, INDEX)
    cfg = Config.load(environ={}, backend="opensearch", opensearch_url=os_url, index=INDEX,
                      rules=str(ROOT / "query_rules"), rules_poll_seconds=0, admin_token="t0ken-contract-test-3",
                      events_index=f"{INDEX}-events")
    app = create_app(cfg)
    # as a deployment does, send traffic once /readyz says so: until the kernels are compiled (a
    # cold numba cache on a busy machine: a minute or more) it answers 503 by design
    client, deadline = app.test_client(), time.monotonic() + 600
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json
        time.sleep(0.5)
    yield app
    app.extensions["sidecar"].events.close(5.0)
    os_client.indices.delete(index=[INDEX, f"{INDEX}-events", f"{INDEX}-events_credits"], ignore_unavailable=True)


def test_the_document_is_served_and_refers_only_to_its_own_schemas(app):
    doc = app.test_client().get("/openapi.json").json
    assert doc["openapi"] == "3.1.0" and doc == document(app) == document(routes_only())
    text = str(doc)
    assert "#/$defs/" not in text
    for ref in {part.split("'")[0] for part in text.split("'$ref': '")[1:]}:
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref
    for path in ("/search", "/rerank", "/events", "/{index}/_search", "/", "/healthz", "/readyz", "/metrics", "/version",
                 "/admin/rules", "/admin/rules/reload"):
        assert path in doc["paths"], path


@pytest.mark.parametrize("name, example", [(n, e) for n, ex in EXAMPLES.items() for e in ex])
def test_every_documented_example_is_valid_and_answered(app, name, example):
    body = EXAMPLES[name][example]["value"]
    client = app.test_client()
    if name == "ProxySearch":
        assert contract.errors("RerankExt", body.get("ext", {}).get("rerank", {})) == []
        r = client.post(f"/{INDEX}/_search", json=body)
        assert r.status_code == 200 and r.json["hits"]["hits"], r.json
        return
    assert contract.errors(name, body) == []
    if name == "EventsRequest":
        r = client.post("/events", json=body)
        assert r.status_code == 202 and r.json == {"accepted": len(body["events"])}, r.json
        return
    r = client.post({"SearchRequest": "/search", "RerankRequest": "/rerank"}[name], json=body)
    assert r.status_code == 200, r.json
    assert contract.errors({"SearchRequest": "SearchResponse", "RerankRequest": "RerankResponse"}[name],
                           r.json) == []


def test_a_400_names_the_field_the_schema_names(app):
    client = app.test_client()
    cases = [("/search", {"q": "x", "filters": {"price": {"between": 1}}}, "filters.price.between"),
             ("/search", {"q": "x", "vector": [1, "a"]}, "vector[1]"),
             ("/rerank", {"candidates": [{"id": "a", "score": 1, "colour": 1}], "rule": "default"}, "candidates[0].colour"),
             ("/rerank", {"candidates": [], "rule": {"id": "r", "window": 0}}, "rule.window"),
             (f"/{INDEX}/_search", {"ext": {"rerank": {"rules": "default"}}}, "ext.rerank.rules"),
             ("/events", {"events": [{"action_name": "click"}]}, "events[0].query_id"),
             ("/events", {"events": [{"action_name": "click", "query_id": "q", "timestamp": "noon"}]},
              "events[0].timestamp"),
             ("/events", {"events": [{"action_name": "click", "query_id": "q",
                                      "event_attributes": {"object": {"object_id": "1"}, "position": {"ordinal": 0}}}]},
              "events[0].event_attributes.position.ordinal")]
    for path, body, field in cases:
        r = client.post(path, json=body)
        assert r.status_code == 400 and r.json["error"]["field"] == field, (path, r.json)


schema = schemathesis.openapi.from_dict(document(routes_only()))


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_5xx(app, case):
    """Requests generated from the document (valid and not): zero 5xx, never a stack trace."""
    if case.path == "/{index}/_search" or case.path == "/{index}/_count":
        case.path_parameters = {"index": INDEX}  # a real index, so the proxy really forwards
    response = case.call_and_validate(app=app, checks=[not_a_server_error])  # raises on any 5xx
    assert "Traceback" not in response.text


def test_every_route_is_documented_and_a_new_one_without_its_operation_is_refused():
    """The paths come from the routes themselves (no OpenSearch needed)."""
    from flask import Blueprint

    from sidecar.server.openapi import Undocumented
    from sidecar.server.routes import routes_only

    doc = document(routes_only())
    app = routes_only()
    served = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", r.rule), m.lower()) for r in app.url_map.iter_rules()
              if r.endpoint != "static" for m in r.methods - {"OPTIONS", "HEAD"}}
    served |= {("/{index}", "head")}
    documented_ops = {(p, m) for p, item in doc["paths"].items() for m in item if m != "parameters"}
    assert served == documented_ops
    assert {"/inspect", "/{index}/_count", "/admin/rules/reload"} <= set(doc["paths"])
    assert "422" in doc["paths"]["/admin/rules/reload"]["post"]["responses"]
    extra = Blueprint("extra", __name__)
    extra.get("/new-endpoint")(lambda: "x")
    app.register_blueprint(extra)
    with pytest.raises(Undocumented, match="GET /new-endpoint"):
        document(app)
