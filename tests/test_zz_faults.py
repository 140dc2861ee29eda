"""Issue 15 against a whole server, as an attacker or an outage would meet it: `sidecar serve`
(2 gevent workers) over the real OpenSearch, on loopback, bounded in count and time.

- 200 incomplete requests held for 60 s: /healthz and /search keep answering within 1 s;
- OpenSearch paused (SIGSTOP) under 32 concurrent searches: 503/504 while paused, no answer held
  past the backend timeout + 2 s, /healthz within 1 s, searches back once it resumes (the
  + 0.5 s and 100 ms targets are bench figures);
- malformed HTTP and chunked bodies: JSON errors; requests generated from the OpenAPI document
  sent to the live server: zero 5xx and no worker lost.

bench/bench_faults.py runs the same scenarios at full length and prints the README's table.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from conftest import ROOT, index_demo
from sidecar.server.openapi import document
from sidecar.server.routes import routes_only
from test_zz_processes import SIDECAR, free_port, settled_decision_log_counts, start, stop

INDEX = "test-faults"
TIMEOUT = 1.0  # SIDECAR_BACKEND_TIMEOUT of the server under test
HANG = 2.0  # an answer later than the timeout + this is held, not shed (the bench measures the + 0.5 s target)
HOLD_SECONDS = 60
SLOW_CLIENTS = 200
TOKEN = "faults-test-token-0002"
LOG_PREFIX = "test-faults-log"


def worker_pids(url: str) -> set[int]:
    """The workers that published their status (each does within a second of booting)."""
    deadline = time.monotonic() + 20
    while True:
        workers = requests.get(f"{url}/admin/rules", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()["workers"]
        if len(workers) >= 2 or time.monotonic() > deadline:
            return {w["pid"] for w in workers}
        time.sleep(0.5)


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    pids: set[int]  # the workers that booted
    rules: Path  # the rule directory it polls (a copy, edited by the tests)


@pytest.fixture(scope="module")
def server(os_url, os_client, tmp_path_factory):
    index_demo(os_url, INDEX)
    os_client.indices.delete(index=f"{LOG_PREFIX}-*", ignore_unavailable=True)
    rules = tmp_path_factory.mktemp("faults") / "rules"
    shutil.copytree(ROOT / "query_rules", rules)
    port = free_port()
    proc = start([SIDECAR, "serve", "--backend", "opensearch", "--url", os_url, "--index", INDEX, "--port", str(port),
                  "--workers", "2", "--rules", str(rules)], port,
                 env={"SIDECAR_BACKEND_TIMEOUT": str(TIMEOUT), "SIDECAR_ADMIN_TOKEN": TOKEN,
                      "SIDECAR_RULES_POLL_SECONDS": "0.5", "SIDECAR_DECISION_LOG": "on",
                      "SIDECAR_DECISION_LOG_INDEX": LOG_PREFIX})
    url = f"http://127.0.0.1:{port}"
    pids = worker_pids(url)
    assert len(pids) == 2
    yield Server(url, port, proc, pids, rules)
    out = stop(proc)
    os_client.indices.delete(index=INDEX, ignore_unavailable=True)
    os_client.indices.delete(index=f"{LOG_PREFIX}-*", ignore_unavailable=True)
    print(out[-3000:])


def timed(method: str, url: str, **kw) -> tuple[int, float]:
    t0 = time.perf_counter()
    try:
        status = requests.request(method, url, timeout=5, **kw).status_code
    except requests.RequestException as exc:
        status = f"{type(exc).__name__}"  # type: ignore[assignment]
    return status, time.perf_counter() - t0


def test_slow_clients_hold_no_worker(server):
    """Issue 15: 8 connections that never finish their request made /healthz and /search time out
    for 70 s. Here 200 are kept open for 60 s (reopened when the server drops them, as an
    attacker would) while /healthz and /search are asked twice a second."""
    url, port = server.url, server.port
    stop_at = time.monotonic() + HOLD_SECONDS
    opened = [0]
    socks: list[socket.socket] = []

    def hold() -> None:
        while time.monotonic() < stop_at:
            while len(socks) < SLOW_CLIENTS and time.monotonic() < stop_at:
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\n")  # and never the rest
                socks.append(s)
                opened[0] += 1
            for s in list(socks):  # the server closes an unfinished head after its keepalive
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        socks.remove(s)
                        s.close()
                except BlockingIOError:
                    pass
                except OSError:
                    socks.remove(s)
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    probes = []
    try:
        while time.monotonic() < stop_at:
            probes.append(("healthz", *timed("GET", f"{url}/healthz")))
            probes.append(("search", *timed("POST", f"{url}/search", json={"q": "black jacket", "size": 5})))
            time.sleep(0.5)
    finally:
        holder.join()
        for s in socks:
            s.close()
    assert opened[0] >= SLOW_CLIENTS
    assert len(probes) > HOLD_SECONDS  # two probes a second, each answered
    bad = [p for p in probes if p[1] != 200 or p[2] >= 1.0]
    assert not bad, bad[:10]


def opensearch_pid() -> int:
    out = subprocess.run([str(ROOT / "scripts" / "opensearch.sh"), "pid"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        pytest.skip("the test OpenSearch was not started by scripts/opensearch.sh: it cannot be paused")
    return int(out.stdout.strip())


def test_a_paused_cluster_gets_prompt_answers(server):
    """OpenSearch stopped with SIGSTOP for 6 s under 32 concurrent searches: every answer is a
    503/504 while paused, none hangs, /healthz does not wait behind the searches, and searches
    succeed again once it resumes, without restarting the sidecar.

    The issue's targets (every answer within the timeout + 0.5 s, /healthz within 100 ms) are
    speed figures, measured by bench/bench_faults.py and quoted in docs/api.md. Timed here on a
    busy shared machine they measure its neighbours as well: a CI run's clients saw 504s at
    1.5-1.8 s with a 1 s timeout, and a run beside six busy loops saw up to 1.26 s while the
    server logged each 504 at 1.00-1.03 s. What fails this test is what the issue found: answers
    held for the whole pause (up to 10 s) and /healthz queued behind searches (8 s), so the
    bounds are the timeout + 2 s and 1 s."""
    url = server.url
    pid = opensearch_pid()
    health: list[tuple[float, object, float]] = []
    paused = [0.0, 0.0]
    probing = threading.Event()

    def prober() -> None:
        while not probing.is_set():
            t0 = time.monotonic()
            health.append((t0, *timed("GET", f"{url}/healthz")))
            time.sleep(0.2)

    def pause() -> None:
        time.sleep(2)
        os.kill(pid, signal.SIGSTOP)
        paused[0] = time.monotonic()  # stamped after the signal, before the end's: a busy test
        try:  # process may run either line late, and the window must lie within the pause
            time.sleep(6)
        finally:
            paused[1] = time.monotonic()
            os.kill(pid, signal.SIGCONT)

    probe = threading.Thread(target=prober)
    probe.start()
    try:
        results = under_load(url, 32, pause, after=7)
    finally:
        probing.set()
        probe.join()
    in_pause = [r for r in results if paused[0] + 0.1 < r[0] < paused[1] - TIMEOUT - 0.1]
    assert in_pause and all(r[1] in (503, 504) for r in in_pause), in_pause[:5]
    slow = [r for r in results if r[2] > TIMEOUT + HANG]
    assert not slow, slow[:10]
    assert all(r[1] in (200, 503, 504) for r in results), {r[1] for r in results}
    hz_pause = [h for h in health if paused[0] < h[0] < paused[1]]
    assert hz_pause and all(h[1] == 200 and h[2] < 1.0 for h in hz_pause), hz_pause
    # back once it resumes: at least half the share of 200s before the pause. On a busy machine 32
    # closed-loop clients keep the server saturated, and some searches time out even unpaused
    # (the deadline sheds them), so the measure is the share of 200s before, in the same run
    before = [r for r in results if r[0] < paused[0] - TIMEOUT]
    after = [r for r in results if r[0] > paused[1] + 3]
    share = [sum(r[1] == 200 for r in rs) / max(1, len(rs)) for rs in (before, after)]
    assert after and share[1] > 0 and share[1] >= share[0] / 2, (share, after[:5])
    assert requests.post(f"{url}/search", json={"q": "black jacket", "size": 5}, timeout=5).status_code == 200


def test_malformed_http_gets_a_json_error(server):
    port = server.port
    for raw in (b"GARBAGE\r\n\r\n",
                b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json"
                b"\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(raw)
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 20:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), data[:300]
        assert b"application/json" in head and body.lstrip().startswith(b'{"error"'), data[:300]


def under_load(url: str, clients: int, action: Callable[[], None], after: float) -> list[tuple[float, object, float]]:
    """``clients`` threads searching until ``after`` seconds past ``action`` (run meanwhile):
    (started, status, seconds) of every search."""
    results: list[tuple[float, object, float]] = []
    done = threading.Event()

    def client() -> None:
        session = requests.Session()
        while not done.is_set():
            t0 = time.monotonic()
            try:
                status = session.post(f"{url}/search", json={"q": "black jacket", "size": 5}, timeout=30).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            results.append((t0, status, time.monotonic() - t0))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        action()
        time.sleep(after)
    finally:
        done.set()
        for t in threads:
            t.join()
    return results


def test_rule_edits_under_load_lose_no_request(server):
    """Edits (one of them a syntax error) while 8 clients search: every search answered 200, the
    broken file rejected on both workers while the last good rules serve on, both workers on
    one version at the end."""
    target = server.rules / "10-fashion.yaml"
    original = target.read_text()
    versions = set()

    def edit() -> None:
        for i, text in enumerate((f"{original}\n# edit 1\n", f"{original}\n  - id: [broken\n", f"{original}\n# edit 3\n")):
            target.write_text(text)
            time.sleep(1.5)
            versions.add(requests.get(f"{server.url}/version", timeout=5).json()["rules_version"])

    try:
        results = under_load(server.url, 8, edit, after=1.5)
    finally:
        target.write_text(original)
    assert results and all(r[1] == 200 for r in results), {r[1] for r in results}
    assert len(versions) == 2  # edit 1 and edit 3; the broken one never served
    status = requests.get(f"{server.url}/admin/rules", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    assert all(w["failures"] >= 1 for w in status["workers"]), status


def explain(odd: list[tuple[float, object, float]], marks: dict[str, float], log: str) -> str:
    """What went wrong, for the assertion's message: the odd answers, when they were asked
    (seconds after the kill), and the server's lines other than the access lines."""
    killed = marks.get("killed", 0.0)
    asked = [f"{r[0] - killed:+.1f}s: {r[1]} after {r[2]:.1f}s" for r in odd[:10]]
    lines = [line for line in log.splitlines() if not (" INFO sidecar.http: " in line and " -> " in line)][-40:]
    return (f"{len(odd)} odd answers {asked}; green {marks.get('green', killed) - killed:+.1f}s after the kill; "
            "the server's log without access lines:\n" + "\n".join(lines))


def test_opensearch_killed_under_load_then_back(server):
    """kill -9 of the node under 4 clients, then `scripts/opensearch.sh start` (which must cope
    with the stale PID file): every answer prompt (503/504 while it is away), searches succeed
    again once it is green, without touching the sidecar."""
    script = ROOT / "scripts" / "opensearch.sh"
    marks: dict[str, float] = {}

    def outage() -> None:
        os.kill(opensearch_pid(), signal.SIGKILL)
        marks["killed"] = time.monotonic()
        time.sleep(3)
        res = subprocess.run([str(script), "start"], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        marks["green"] = time.monotonic()

    log_from = len(server.proc.output)
    results = under_load(server.url, 4, outage, after=4)
    log = "".join(server.proc.output[log_from:])
    odd = [r for r in results if r[1] not in (200, 503, 504) or r[2] > TIMEOUT + HANG]
    assert not odd, explain(odd, marks, log)
    # one warning line per kind of failure every 10 s per worker, not one per failed search
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert len(warnings) < 20 * (marks["green"] - marks["killed"] + 10) / 10, explain([], marks, log)
    away = [r for r in results if marks["killed"] + 0.5 < r[0] < marks["killed"] + 3]
    assert away and all(r[1] in (503, 504) for r in away)
    back = [r for r in results if r[0] > marks["green"] + 1]
    assert back and all(r[1] == 200 for r in back), back[:5]
    assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200


schema = schemathesis.openapi.from_dict(document(routes_only()))


@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_generated_requests_to_the_live_server_get_no_5xx(server, case):
    url = server.url
    if case.path in ("/{index}/_search", "/{index}/_count"):
        case.path_parameters = {"index": INDEX}
    response = case.call(base_url=url, timeout=10)
    assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])
    assert "Traceback" not in response.text


def test_no_worker_was_lost_and_the_decision_log_lost_nothing_uncounted(server, os_client):
    """After everything above, the two workers that booted are the two that serve (a crashed or
    timed-out worker would have been replaced by one with a new pid), and every decision record
    is written, dropped (counted) or unknown: the index holds at least what was written and at
    most that plus the unknown (issue 15: it held 2,001 more than written)."""
    assert server.proc.poll() is None
    assert worker_pids(server.url) == server.pids
    now = settled_decision_log_counts([server.url])
    os_client.indices.refresh(index=f"{LOG_PREFIX}-*")
    indexed = os_client.count(index=f"{LOG_PREFIX}-*")["count"]
    assert now["written"] + now["dropped"] + now["unknown"] >= now["searches"] > 0
    assert now["written"] <= indexed <= now["written"] + now["unknown"], (indexed, now)
