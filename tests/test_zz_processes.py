"""Whole processes, as a user runs them: the README demo, gunicorn, and OpenSearch going away.

Named to run last: the outage test stops the real OpenSearch and starts it again.
"""
from __future__ import annotations

import codecs
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, index_demo, run_cli

SIDECAR = str(Path(sys.executable).parent / "sidecar")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """A server process whose output is read as it comes (``proc.output``): a pipe nobody
    drains would stall the server once 64 KB of log lines filled it."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    proc.output = []  # type: ignore[attr-defined]

    def drain() -> None:
        # whatever the pipe holds, in one read per turn of this thread: the test process is busy
        # with client threads while a server under load logs up to ~90 KB/s, and a full pipe
        # would hold the server's next write (its worker's every request with it)
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        while chunk := os.read(fd, 1 << 20):
            proc.output.append(decode(chunk))  # type: ignore[attr-defined]
        proc.output.append(decode(b"", final=True))  # type: ignore[attr-defined]

    proc.reader = threading.Thread(target=drain, daemon=True)  # type: ignore[attr-defined]
    proc.reader.start()  # type: ignore[attr-defined]
    return proc


def start(cmd: list[str], port: int, env: dict | None = None, timeout: float = 120, cwd: Path = ROOT,
          ready: str = "/readyz") -> subprocess.Popen:
    """Start a server and wait, as a load balancer would, until /readyz says ready (the backend
    answers, rules are loaded and the reranking kernels are warm; ``ready``: another path)."""
    proc = spawn(cmd, env, cwd)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            proc.reader.join(5)  # type: ignore[attr-defined]
            raise AssertionError(f"{cmd} exited with {proc.returncode}:\n{''.join(proc.output)}")  # type: ignore[attr-defined]
        try:
            if requests.get(f"http://127.0.0.1:{port}{ready}", timeout=1).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.3)
    stop(proc)
    raise AssertionError(f"{cmd} did not come up on port {port} within {timeout}s")


def stop(proc: subprocess.Popen) -> str:
    """Stop the server (SIGTERM, then SIGKILL after 30 s) and return all it printed."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    proc.reader.join(10)  # type: ignore[attr-defined]
    return "".join(proc.output)  # type: ignore[attr-defined]


def settled_decision_log_counts(urls: list[str], timeout: float = 30) -> dict[str, float]:
    """Decision records written, dropped and unknown, and /search requests, summed over the
    servers' /metrics once two scrapes 1.5 s apart agree (the writers flush every second)."""
    def counts() -> dict[str, float]:
        out = {"written": 0.0, "dropped": 0.0, "unknown": 0.0, "searches": 0.0}
        for url in urls:
            for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
                for key in ("written", "dropped", "unknown"):
                    if line.startswith(f"sidecar_decision_log_{key}_total"):
                        out[key] += float(line.rsplit(" ", 1)[1])
                if line.startswith("sidecar_requests_total{") and 'endpoint="/search"' in line:
                    out["searches"] += float(line.rsplit(" ", 1)[1])
        return out

    before, deadline = counts(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = counts()
        if now == before:
            return now
        before = now
    return before


def test_readme_demo_command_serves_the_demo_catalog():
    port = free_port()
    proc = start(["scripts/demo.sh", "--port", str(port)], port)
    try:
        r = requests.post(f"http://127.0.0.1:{port}/search", json={"q": "black jacket", "explain": True}, timeout=10)
        assert r.status_code == 200
        body = r.json()
        assert body["rule"] == "default" and len(body["hits"]) == 20
        assert all("reason" in h["explanation"] for h in body["hits"])
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["backend"] == "memory"
        # semantic out of the box: the titles say "Casual Shoes", the shopper types "sneakers"
        r = requests.post(f"http://127.0.0.1:{port}/search", json={"q": "sneakers", "size": 10}, timeout=10).json()
        assert r["mode"] == "hybrid" and [h["fields"]["master_category"] for h in r["hits"]].count("Footwear") >= 8
    finally:
        log = stop(proc)
    assert "POST /search -> 200" in log
    assert "reranking kernels ready in" in log
    assert log.count("query encoder minilm: text-only searches are hybrid") == 1


def test_serving_with_the_encoder_off_is_todays_bm25_said_in_one_line():
    port = free_port()
    proc = start([SIDECAR, "serve", "--backend", "memory", "--catalog", "demo/catalog.jsonl", "--vectors",
                  "demo/vectors.npy", "--rules", "query_rules", "--port", str(port), "--workers", "2"], port,
                 env={"SIDECAR_ENCODER": "off"})
    try:
        r = requests.post(f"http://127.0.0.1:{port}/search", json={"q": "sneakers", "size": 10}, timeout=10).json()
        assert r["mode"] == "bm25" and "fusion" not in r
    finally:
        log = stop(proc)
    assert log.count("query encoder off (SIDECAR_ENCODER=off): text-only searches are BM25") == 1, log


def search_count(metrics_text: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
               if line.startswith('sidecar_requests_total{endpoint="/search"'))


def test_gunicorn_two_workers_against_opensearch(os_url, os_client, tmp_path):
    """Two workers behave as one server: the decision log of both is flushed at SIGTERM, a
    scrape of /metrics counts both, /admin/rules speaks for both and a reload reaches both;
    with SIDECAR_LOG_FORMAT=json every log line is one JSON object."""
    import json
    import shutil

    index = "test-gunicorn"
    index_demo(os_url, index)
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "query_rules", rules)
    port = free_port()
    log_prefix = "test-gunicorn-log"
    admin = {"Authorization": "Bearer w0rkers-test-token-05"}
    os_client.indices.delete(index=f"{log_prefix}-*", ignore_unavailable=True)
    proc = start([SIDECAR, "serve", "--backend", "opensearch", "--url", os_url, "--index", index, "--rules", str(rules),
                  "--port", str(port), "--workers", "2"], port,
                 env={"SIDECAR_DECISION_LOG": "on", "SIDECAR_DECISION_LOG_INDEX": log_prefix,
                      "SIDECAR_ADMIN_TOKEN": "w0rkers-test-token-05", "SIDECAR_LOG_FORMAT": "json", "SIDECAR_RULES_POLL_SECONDS": "0"})
    base = f"http://127.0.0.1:{port}"
    try:
        for i in range(20):
            r = requests.post(f"{base}/search", json={"q": "shoes", "like": "15970", "size": 10, "from": 10 * (i % 2)},
                              timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["rule"] == "broad-mmr"
        assert requests.get(f"{base}/readyz", timeout=5).json()["ready"] is True
        # each scrape on a new connection, so both workers answer some: every one counts all 20
        counts = [search_count(requests.get(f"{base}/metrics", timeout=5).text) for _ in range(8)]
        assert counts == [20.0] * 8, counts
        status = requests.get(f"{base}/admin/rules", headers=admin, timeout=5).json()
        assert len(status["workers"]) == 2 and status["consistent"] is True
        (rules / "99-broken.yaml").write_text("rules:\n  - id: broken\n    match: {queries: [x]}\n    lamda: 1\n")
        r = requests.post(f"{base}/admin/rules/reload", headers=admin, timeout=10)
        assert r.status_code == 422 and r.json()["reloaded"] is False
        assert [w["failures"] for w in r.json()["workers"]] == [1, 1], r.json()["workers"]  # both tried, both kept the old
        assert all("99-broken.yaml:4" in w["last_error"][0] for w in r.json()["workers"])
        assert len({w["version"] for w in r.json()["workers"]}) == 1
        assert requests.post(f"{base}/search", json={"q": "shoes"}, timeout=10).status_code == 200
        (rules / "99-broken.yaml").write_text("rules:\n  - id: fixed\n    match: {queries: [sneakers now]}\n")
        r = requests.post(f"{base}/admin/rules/reload", headers=admin, timeout=10)
        assert r.status_code == 200 and r.json()["consistent"] is True
        assert {w["version"] for w in r.json()["workers"]} == {r.json()["version"]} != {status["version"]}
        assert all(w["last_error"] == [] for w in r.json()["workers"])
    finally:
        log = stop(proc)  # SIGTERM: each worker flushes its decision log before exiting
        os_client.indices.delete(index=index, ignore_unavailable=True)
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # JSON, every line
    assert sum("Booting worker" in line["message"] for line in lines) >= 2
    assert sum("POST /search -> 200" in line["message"] for line in lines) == 21
    request_lines = [line for line in lines if line.get("route") == "/search"]
    assert len(request_lines) == 21 and all(
        line["method"] == "POST" and line["status"] == 200 and line["duration_ms"] > 0 and line["rule"]
        and line["request_id"] and line["backend_ms"] is not None for line in request_lines), request_lines[:2]
    os_client.indices.refresh(index=f"{log_prefix}-*")
    records = os_client.search(index=f"{log_prefix}-*", body={"size": 100, "query": {"term": {"endpoint": "search"}}})
    assert records["hits"]["total"]["value"] == 21, "records queued at SIGTERM were not flushed"
    os_client.indices.delete(index=f"{log_prefix}-*", ignore_unavailable=True)


def test_an_unmodified_opensearch_py_client_works_through_the_proxy(os_url, os_client):
    """opensearch-py pointed at `sidecar serve` answers as when pointed at OpenSearch itself."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import RequestError

    index = "test-proxy-client"
    index_demo(os_url, index)
    port = free_port()
    proc = start([SIDECAR, "serve", "--backend", "opensearch", "--url", os_url, "--index", index,
                  "--port", str(port), "--workers", "1"], port)
    try:
        via = OpenSearch(hosts=[f"http://127.0.0.1:{port}"], timeout=10)
        direct = OpenSearch(hosts=[os_url], timeout=10)

        def ids(resp: dict) -> list[str]:
            return [h["_id"] for h in resp["hits"]["hits"]]

        body = {"size": 7, "query": {"match": {"title": "black jacket"}}}
        assert ids(via.search(index=index, body=body)) == ids(direct.search(index=index, body=body))
        got, want = via.search(index=index, q="title:watch", size=4), direct.search(index=index, q="title:watch", size=4)
        assert ids(got) == ids(want) and len(ids(got)) == 4
        assert got["hits"]["total"] == want["hits"]["total"]
        got = via.search(index=index, q="title:shirt", size=3, _source_includes=["title", "brand"])
        assert ids(got) == ids(direct.search(index=index, q="title:shirt", size=3))
        assert all(set(h["_source"]) <= {"title", "brand"} for h in got["hits"]["hits"])
        assert via.ping() is True
        info = via.info()
        assert info["version"]["number"] == direct.info()["version"]["number"]
        assert not {"name", "cluster_name", "cluster_uuid"} & set(info) and "build_hash" not in info["version"]
        assert via.count(index=index, q="title:jacket") == direct.count(index=index, q="title:jacket")
        scored = {"query": {"match": {"title": "black jacket"}}}
        got, want = (c.count(index=index, body=scored, params={"min_score": 3}) for c in (via, direct))
        assert got["count"] == want["count"] and 0 < got["count"] < direct.count(index=index, body=scored)["count"]
        assert via.count(index=index)["count"] == direct.count(index=index)["count"] == 1482
        reranked = via.search(index=index, body={"size": 10, "query": {"match": {"title": "shoes"}},
                                                 "ext": {"rerank": {"rule": "default"}}})
        assert len(reranked["hits"]["hits"]) == 10 and reranked["_rerank"]["rule"] == "default"
        # a page and its facets in one msearch, each reranked; a refused search errs in its place
        lines = [{"index": index}, {"size": 5, "query": {"match": {"title": "shoes"}}, "ext": {"rerank": {"rule": "default"}}},
                 {}, {"size": 5, "query": {"match": {"title": "jacket"}}, "ext": {"rerank": {"query": "black jacket"}}},
                 {}, {"query": {"terms": {"price": {"index": index, "id": "1", "path": "price"}}}}]
        multi = via.msearch(body=lines, index=index)["responses"]
        assert [r["status"] for r in multi] == [200, 200, 400]
        assert all(len(r["hits"]["hits"]) == 5 and r["_rerank"]["rule"] == "default" for r in multi[:2])
        assert multi[2]["error"]["type"] == "policy_refused"
        plain = via.msearch(body=[{"index": index}, body])["responses"][0]
        assert ids(plain) == ids(direct.search(index=index, body=body))
        empty_header = "{}\n" + json.dumps(body) + "\n\n" + json.dumps(body) + "\n"  # an empty line: an empty header
        got, want = (c.msearch(body=empty_header, index=index)["responses"][0] for c in (via, direct))
        assert ids(got) == ids(want) and got["status"] == 200 and len(ids(got)) == 7
        # a client written for neural-search: its neural query runs as knn on the sidecar's encoding
        from sidecar.encoder import load

        neural = via.search(index=index, body={"size": 10, "query": {"neural": {"vector": {
            "query_text": "sneakers", "k": 10, "model_id": "ignored"}}}})
        vector = load("minilm").query("sneakers").tolist()
        knn = direct.search(index=index, body={"size": 10, "query": {"knn": {"vector": {"vector": vector, "k": 10}}}})
        assert ids(neural) == ids(knn) and len(ids(knn)) == 10
        women = via.search(index=index, body={"size": 5, "query": {"neural": {"vector": {
            "query_text": "sneakers", "k": 20, "filter": {"term": {"gender": "Women"}}}}}})
        assert women["hits"]["hits"] and all(h["_source"]["gender"] == "Women" for h in women["hits"]["hits"])
        assert via.indices.exists(index=index) is True
        assert via.indices.exists(index="test-proxy-not-allowed") is False  # not served: not revealed
        assert via.indices.get_mapping(index=index) == direct.indices.get_mapping(index=index)
        try:
            via.search(index=index, q="title:watch", params={"scroll": "1m"})
            raise AssertionError("a scroll was proxied")
        except RequestError as exc:  # the client reads the proxy's 400 as it reads OpenSearch's
            assert exc.status_code == 400 and exc.error == "illegal_argument_exception" and "scroll" in str(exc.info)
    finally:
        stop(proc)
        os_client.indices.delete(index=index, ignore_unavailable=True)


def test_opensearch_stopped_mid_test_gives_503_then_recovers(os_url, os_client):
    """Stop the real node with the project's script: prompt 503s, not hangs; back after restart."""
    from sidecar.config import Config
    from sidecar.server import create_app

    index = "test-outage"
    res = run_cli("index", "--catalog", str(ROOT / "demo" / "catalog.jsonl"), "--index", index, "--recreate",
                  "--url", os_url, "--quiet")
    assert res.returncode == 0, res.stderr
    cfg = Config.load(environ={}, backend="opensearch", opensearch_url=os_url, index=index, rules=str(ROOT / "query_rules"),
                      rules_poll_seconds=0)
    c = create_app(cfg).test_client()
    q = {"q": "black jacket", "size": 5}
    assert c.post("/search", json=q).status_code == 200
    script = ROOT / "scripts" / "opensearch.sh"
    subprocess.run([str(script), "stop"], check=True, timeout=120)
    try:
        t0 = time.perf_counter()
        r = c.post("/search", json=q)
        assert r.status_code == 503, r.json
        assert r.json["error"]["type"] == "backend_unavailable"
        assert time.perf_counter() - t0 < cfg.backend_timeout + 1
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").status_code == 200  # the process itself is fine
    finally:
        subprocess.run([str(script), "start"], check=True, timeout=300)
    deadline = time.time() + 60
    while time.time() < deadline:
        r = c.post("/search", json=q)
        if r.status_code == 200:
            break
        time.sleep(1)
    assert r.status_code == 200 and len(r.json["hits"]) == 5
    os_client.indices.delete(index=index, ignore_unavailable=True)


def test_decision_log_survives_opensearch_outage_and_resumes(os_url, os_client):
    """Requests never depend on the log: with OpenSearch stopped they succeed, records are
    dropped and counted; after the restart, writing resumes without any intervention."""
    from sidecar.config import Config
    from sidecar.server import create_app

    prefix = "test-outage-log"
    os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    cfg = Config.load(environ={}, backend="memory", catalog=str(ROOT / "demo" / "catalog.jsonl"),
                      rules=str(ROOT / "query_rules"), rules_poll_seconds=0, opensearch_url=os_url,
                      decision_log="on", decision_log_index=prefix)
    app = create_app(cfg)
    c = app.test_client()
    writer = app.extensions["sidecar"].decision_log

    def count() -> int:
        os_client.indices.refresh(index=f"{prefix}-*")
        return os_client.count(index=f"{prefix}-*")["count"]

    for _ in range(3):
        assert c.post("/search", json={"q": "black jacket"}).status_code == 200
    assert writer.flush(30) and count() == 3
    script = ROOT / "scripts" / "opensearch.sh"
    subprocess.run([str(script), "stop"], check=True, timeout=120)
    try:
        for _ in range(5):
            assert c.post("/search", json={"q": "black jacket"}).status_code == 200
        assert writer.flush(30)
        assert writer.dropped["backend"] >= 5
        metrics = c.get("/metrics").get_data(as_text=True)
        assert 'sidecar_decision_log_dropped_total{reason="backend"}' in metrics
    finally:
        subprocess.run([str(script), "start"], check=True, timeout=300)
    deadline = time.time() + 60
    while time.time() < deadline:
        c.post("/search", json={"q": "women sandals"})
        writer.flush(15)
        if count() > 3:
            break
        time.sleep(1)
    assert count() > 3, "writing did not resume after OpenSearch came back"
    writer.close(5)
    os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)


def test_a_wheel_installed_in_a_fresh_venv_indexes_and_logs_decisions(os_url, os_client, tmp_path):
    """What the Dockerfile's `pip install .` does, here without Docker: the wheel and the
    dependencies it declares (from the package index, as a user's pip fetches them) in a fresh
    venv, run from a directory with no source tree: it serves the demo catalog, finds its mappings
    and templates, indexes, serves from OpenSearch and logs decisions."""
    import json
    import shutil
    import venv

    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w",
                            str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert "absent from the `packages` configuration" not in built.stdout + built.stderr  # no page of warnings
    (wheel,) = wheels.glob("srp_sidecar-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    site = next((env_dir / "lib").glob("python*/site-packages"))
    installed = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "elsewhere"  # no sidecar/ and no mappings/ in sight
    work.mkdir()
    shutil.copy(ROOT / "demo" / "catalog.jsonl", work)
    shutil.copy(ROOT / "demo" / "vectors.npy", work)
    shutil.copytree(ROOT / "query_rules", work / "rules")
    exe = str(env_dir / "bin" / "sidecar")
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import sidecar; print(sidecar.__file__)"],
                           cwd=work, capture_output=True, text=True)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    port = free_port()  # the demo, as scripts/demo.sh serves it, from the installed wheel alone
    proc = start([exe, "serve", "--backend", "memory", "--catalog", "catalog.jsonl", "--vectors", "vectors.npy",
                  "--rules", "rules", "--port", str(port), "--workers", "2"], port, cwd=work, timeout=300)
    try:
        r = requests.post(f"http://127.0.0.1:{port}/search", json={"q": "black jacket"}, timeout=10)
        assert r.status_code == 200 and r.json()["rule"] == "default" and len(r.json()["hits"]) == 20
    finally:
        log = stop(proc)
    assert "Traceback" not in log, log[-3000:]
    index, prefix = "test-wheel", "test-wheel-log"
    os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    res = subprocess.run([exe, "index", "--catalog", "catalog.jsonl", "--index", index, "--recreate", "--url", os_url,
                          "--quiet"], cwd=work, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "indexed 1482" in res.stdout, res.stderr
    warmed = subprocess.run([exe, "warm"], cwd=work, capture_output=True, text=True, timeout=600)  # as the image build
    assert warmed.returncode == 0 and "reranking kernels ready" in warmed.stdout, warmed.stderr
    port = free_port()
    proc = start([exe, "serve", "--backend", "opensearch", "--url", os_url, "--index", index, "--rules", "rules",
                  "--port", str(port), "--workers", "1"], port, cwd=work,
                 env={"SIDECAR_DECISION_LOG": "on", "SIDECAR_DECISION_LOG_INDEX": prefix})
    try:
        r = requests.post(f"http://127.0.0.1:{port}/search", json={"q": "black jacket"}, timeout=10)
        assert r.status_code == 200 and r.json()["rule"] == "default"
        page = requests.get(f"http://127.0.0.1:{port}/inspect", params={"q": "black jacket"}, timeout=10)
        assert page.status_code == 200 and 'id="reranked"' in page.text  # the templates ship in the wheel
    finally:
        stop(proc)
        os_client.indices.delete(index=index, ignore_unavailable=True)
    os_client.indices.refresh(index=f"{prefix}-*")
    docs = os_client.search(index=f"{prefix}-*", body={"size": 5})["hits"]["hits"]
    assert len(docs) == 1 and docs[0]["_source"]["rule"] == "default" and "@timestamp" in docs[0]["_source"]
    objects = subprocess.run([exe, "dashboards", "--prefix", prefix], cwd=work, capture_output=True, text=True)
    assert json.loads(objects.stdout.splitlines()[0])["attributes"]["title"] == f"{prefix}-*"
    os_client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)


def test_an_unreachable_opensearch_is_one_line_in_the_serve_log():
    """No urllib3 traceback in the log of `sidecar serve`: one warning line per failure, and the
    client gets a 503 that names no host or port."""
    port, dead = free_port(), free_port()
    proc = spawn([SIDECAR, "serve", "--backend", "opensearch", "--url", f"http://127.0.0.1:{dead}",
                  "--index", "x", "--port", str(port), "--workers", "1"])
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        r = requests.post(f"http://127.0.0.1:{port}/search", json={"q": "black jacket"}, timeout=10)
        assert r.status_code == 503 and str(dead) not in r.text
    finally:
        log = stop(proc)
    assert "Traceback" not in log and "backend unavailable" in log, log
    assert all(len(line) < 400 for line in log.splitlines())


def test_gunicorn_builds_no_access_record_for_a_log_nobody_writes():
    """The served request's one line is the sidecar's own (``sidecar.http``, checked above);
    gunicorn's stock logger, given the sidecar's ``logconfig_dict``, would read the response and
    request of every request to build an access record nobody writes."""
    from gunicorn.config import Config as GunicornConfig
    from gunicorn.glogging import Logger

    from sidecar import logs
    from sidecar.server.gunicorn_app import LOGGER_CLASS, SidecarLogger, SidecarServer

    class Untouchable:
        def __getattr__(self, name: str):
            raise AssertionError(f"read {name}")

    cfg = GunicornConfig()
    cfg.set("logconfig_dict", logs.gunicorn_config("INFO", "text"))
    for cls in (Logger, SidecarLogger):
        logger = object.__new__(cls)  # no setup(): the test process's logging stays as it is
        logger.cfg = cfg
        if cls is Logger:
            with pytest.raises(AssertionError, match="read"):
                logger.access(Untouchable(), Untouchable(), {}, None)
        else:
            assert logger.access(Untouchable(), Untouchable(), {}, None) is None
    from sidecar.config import Config

    assert SidecarServer(Config.load(backend="memory")).options["logger_class"] == LOGGER_CLASS
