"""The experiment loop against a real OpenSearch: pages served under an experiment, shoppers'
events posted to /events, both written by the bounded writers, and `sidecar experiments
report` reading them back with the figures the traffic sent implies."""
from __future__ import annotations

import json

import pytest

from conftest import index_demo, run_cli
from sidecar.config import Config
from sidecar.opensearch.decision_log import DecisionLogWriter
from sidecar.experiments import assign
from sidecar.experiments.settle import credits_index
from sidecar.experiments.stats import sign_test_p, wilson
from sidecar.opensearch.client import make_client
from sidecar.server import create_app
from test_experiments import EXPERIMENT, _arms

pytestmark = pytest.mark.opensearch
INDEX, PREFIX, EVENTS = "test-experiments", "test-experiments-log", "test-experiments-events"
from test_experiments import KEY, SECRET  # noqa: E402  (the servers' and the report's SIDECAR_SECRET)


@pytest.fixture(scope="module")
def demo(os_url, os_client):
    index_demo(os_url, INDEX)
    yield
    os_client.indices.delete(index=[INDEX, EVENTS, credits_index(EVENTS)], ignore_unavailable=True)
    os_client.indices.delete(index=f"{PREFIX}-*", ignore_unavailable=True)


def _serve(os_url, rules):
    writer = DecisionLogWriter(lambda: make_client(os_url), prefix=PREFIX, flush_interval=0.1).start()
    cfg = Config.load(environ={}, backend="opensearch", opensearch_url=os_url, index=INDEX, rules=str(rules),
                      rules_poll_seconds=0, events_index=EVENTS, encoder="off", decision_log_index=PREFIX,
                      secret=SECRET)
    app = create_app(cfg, decision_log=writer)
    return app.test_client(), writer, app.extensions["sidecar"].events


def _report(os_url, name, tmp_path):
    out = run_cli("experiments", "report", name, "--url", os_url, "--prefix", PREFIX, "--events-index", EVENTS,
                  "--since", "1d", "--json", "--plot", str(tmp_path / f"{name}.png"), env={"SIDECAR_SECRET": SECRET})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    return json.loads(out.stdout)


def _visualize(os_client, vis, index):
    from test_decision_log import flatten, vis_to_search

    state = json.loads(vis["attributes"]["visState"])
    resp = os_client.search(index=index, body=vis_to_search(vis))
    return flatten(resp["aggregations"], [a["id"] for a in state["aggs"] if a["schema"] in ("segment", "group", "bucket")])


def _click(c, page, hit, client, action="click"):
    r = c.post("/events", json={"events": [{
        "action_name": action, "query_id": page["request_id"], "client_id": client,
        "event_attributes": {"object": {"object_id": hit["id"], "object_id_field": "id"},
                             "position": {"ordinal": hit["rank"]}}}]})
    assert r.status_code == 202, r.json


def test_an_ab_experiment_from_pages_to_report(os_url, os_client, demo, tmp_path):
    rules, _ = _arms(tmp_path, EXPERIMENT.format(method="ab").replace("next-rules", "loop-ab"))
    c, writer, events = _serve(os_url, rules)
    expected = {"a": [0, 0], "b": [0, 0]}  # pages, pages with a click
    for i in range(30):
        client = f"shopper-{i}"
        page = c.post("/search", json={"q": "shoes", "size": 6, "client_id": client}).json
        arm = assign.arm("loop-ab", client, 1.0, KEY)
        assert page["experiment"]["arm"] == arm
        expected[arm][0] += 1
        if arm == "b" or i % 3 == 0:  # shoppers on b click more
            _click(c, page, page["hits"][0], client)
            _click(c, page, page["hits"][1], client)  # a second click on the page: it still counts once
            expected[arm][1] += 1
    r = c.post("/events", json={"events": [{"action_name": "click", "query_id": "never-served"}]})
    assert r.status_code == 202
    assert writer.flush(30) and events.flush(30)
    assert events.written == events.accepted == 2 * (expected["a"][1] + expected["b"][1]) + 1 and events.dropped == 0
    os_client.indices.refresh(index=[f"{PREFIX}-*", EVENTS])
    out = _report(os_url, "loop-ab", tmp_path)
    assert out["method"] == "ab" and out["pages"] == 30 and out["refused"]["forged"] == 1  # the id never served
    for arm, (n, k) in expected.items():
        got = out["arms"][arm]
        assert got["pages"] == n and got["click"]["pages_with"] == k
        assert (got["click"]["low"], got["click"]["high"]) == tuple(round(x, 6) for x in wilson(k, n))
        assert got["constraint_satisfaction"] is not None
    # the Dashboards saved objects count the same pages and clicks
    objects = {o["id"]: o for o in map(json.loads, run_cli("dashboards", "--prefix", PREFIX, "--events-index",
                                                           EVENTS).stdout.splitlines())}
    arms = _visualize(os_client, objects["sidecar-experiment-arms"], f"{PREFIX}-*")
    assert {(row[0], row[1]): row[2] for row in arms} == {("loop-ab", arm): n for arm, (n, _) in expected.items()}
    actions = _visualize(os_client, objects["sidecar-events-per-action"], EVENTS)
    assert sum(row[2] for row in actions if row[1] == "click") == 2 * (expected["a"][1] + expected["b"][1]) + 1
    # the page: the same figures, and the running estimate drawn
    page = c.get("/inspect/experiments?name=loop-ab&since=1d")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="arms"' in html and '<svg id="running"' in html, html[:2000]
    for arm in ("a", "b"):
        rate = out["arms"][arm]["click"]
        assert f"{100 * rate['rate']:.2f}% [{100 * rate['low']:.2f}, {100 * rate['high']:.2f}]" in html
    listed = c.get("/inspect/experiments").get_data(as_text=True)
    assert ">loop-ab</a>" in listed and "90-experiments.yaml:3" in listed
    missing = c.get("/inspect/experiments?name=nope")
    assert missing.status_code == 400 and "no experiment &#39;nope&#39;" in missing.get_data(as_text=True)
    text = run_cli("experiments", "report", "loop-ab", "--url", os_url, "--prefix", PREFIX, "--events-index", EVENTS,
                   "--since", "1d", env={"SIDECAR_SECRET": SECRET})
    assert text.returncode == 0 and text.stdout.startswith("experiment loop-ab (ab): 30 pages"), text.stderr
    writer.close(5)
    events.close(5)


def test_an_interleaving_experiment_from_pages_to_report(os_url, os_client, demo, tmp_path):
    rules, _ = _arms(tmp_path, EXPERIMENT.format(method="interleave").replace("next-rules", "loop-tdi"))
    c, writer, events = _serve(os_url, rules)
    wins, ties = {"a": 0, "b": 0}, 0
    for i in range(24):
        page = c.post("/search", json={"q": "shoes", "size": 10, "client_id": f"shopper-{i}"}).json
        assert page["experiment"]["arm"] == "interleaved"
        teams = [h["team"] for h in page["hits"]]
        # these shoppers like what b placed; on a page where b placed nothing, they click a's, or
        # failing that an item of the arms' common top (credited to neither: a tie)
        side = "b" if "b" in teams else "a" if "a" in teams else "both"
        _click(c, page, page["hits"][teams.index(side)], f"shopper-{i}")
        if side == "both":
            ties += 1
        else:
            wins[side] += 1
    assert wins["b"] >= 12, (wins, ties)
    assert writer.flush(30) and events.flush(30)
    os_client.indices.refresh(index=[f"{PREFIX}-*", EVENTS])
    out = _report(os_url, "loop-tdi", tmp_path)
    r = out["interleaving"]
    assert out["method"] == "interleave" and out["pages"] == 24
    assert r["wins"] == wins and r["ties"] == ties and r["clicks_not_on_page"] == 0
    assert r["preference_b"] == round(wins["b"] / (wins["a"] + wins["b"]), 6)
    assert r["p_value"] == round(sign_test_p(wins["b"], wins["a"]), 6)
    html = c.get("/inspect/experiments?name=loop-tdi&since=1d").get_data(as_text=True)
    assert 'id="interleaving"' in html and f"{wins['a']} / {wins['b']} / {ties}" in html and "<polygon" in html
    writer.close(5)
    events.close(5)
