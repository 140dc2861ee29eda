"""Issue 37 against a real `sidecar serve` and OpenSearch: a 202 means stored (a worker SIGKILLed
right after 10,000 events got their 202 loses none of them), and one client's flood of 60 x 1,000
events is refused with 429s while another client's events are all accepted and stored."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from sidecar.experiments.settle import credits_index
from test_zz_disk import children, wait_until
from test_zz_processes import SIDECAR, free_port, start, stop

pytestmark = pytest.mark.opensearch
SECRET = "events-test-key-8d1f3b6a9c0e42d7b5a18e6f3c2d9b47"


def serve(os_url: str, workers: int = 2, **env: str):
    """`sidecar serve` on OpenSearch (no products index is needed for events)."""
    port = free_port()
    proc = start([SIDECAR, "serve", "--backend", "opensearch", "--url", os_url, "--port", str(port),
                  "--workers", str(workers)], port,
                 env={"SIDECAR_SECRET": SECRET, "SIDECAR_ENCODER": "off", **env}, ready="/healthz")
    return proc, port


def count(os_client, index: str, query: dict | None = None) -> int:
    os_client.indices.refresh(index=index, ignore_unavailable=True)
    if not os_client.indices.exists(index=index):
        return 0
    return os_client.count(index=index, body={"query": query or {"match_all": {}}})["count"]


def event(client: str, n: int) -> dict:
    return {"action_name": "click", "query_id": f"q-{client}-{n}", "client_id": client,
            "event_attributes": {"object": {"object_id": str(n)}}}


def test_a_killed_worker_loses_no_accepted_event(tmp_path, os_url, os_client):
    """OpenSearch paused while 10,000 events get their 202, then the worker is SIGKILLed: the
    events wait in its spool, and the worker that replaces it ships them once OpenSearch resumes."""
    from test_zz_faults import opensearch_pid

    index = "test-events-kill"
    os_client.indices.delete(index=[index, credits_index(index)], ignore_unavailable=True)
    run_dir = tmp_path / "run"
    proc, port = serve(os_url, 1, SIDECAR_EVENTS_INDEX=index, SIDECAR_EVENTS_PER_CLIENT="100000",
                       SIDECAR_RUN_DIR=str(run_dir))
    url = f"http://127.0.0.1:{port}"
    pid = opensearch_pid()
    try:
        session = requests.Session()
        assert session.post(f"{url}/events", json={"events": [event("k", -1)]}, timeout=30).status_code == 202
        assert wait_until(lambda: count(os_client, index) == 1, 30)  # the index and its template are made
        os.kill(pid, signal.SIGSTOP)
        try:
            for batch in range(10):
                r = session.post(f"{url}/events", json={"events": [event("k", batch * 1000 + i) for i in range(1000)]},
                                 timeout=30)
                assert r.status_code == 202, r.text[:300]
            pending = sum(p.stat().st_size for p in (run_dir / "events").glob("*.spool"))
            for victim in children(proc.pid):
                os.kill(victim, signal.SIGKILL)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert pending > 1_000_000  # 10,000 events of ~150 bytes were on disk when the worker died
        # the new workers claim the dead ones' spools and ship them: all 10,000, none twice
        assert wait_until(lambda: count(os_client, index) >= 10_001, 60), count(os_client, index)
        time.sleep(1.0)
        assert count(os_client, index) == 10_001
        assert wait_until(lambda: not list((run_dir / "events").glob("*.claimed")), 10)
    finally:
        stop(proc)
        os_client.indices.delete(index=[index, credits_index(index)], ignore_unavailable=True)


def test_one_clients_flood_leaves_another_clients_events_stored(tmp_path, os_url, os_client):
    index = "test-events-flood"
    os_client.indices.delete(index=[index, credits_index(index)], ignore_unavailable=True)
    proc, port = serve(os_url, 2, SIDECAR_EVENTS_INDEX=index, SIDECAR_TRUSTED_PROXIES="127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    flood_statuses: list[int] = []
    try:
        def flood() -> None:  # one client behind the front proxy: 60 x 1,000 events
            s = requests.Session()
            for batch in range(60):
                r = s.post(f"{url}/events", json={"events": [event("flooder", batch * 1000 + i) for i in range(1000)]},
                           headers={"X-Forwarded-For": "203.0.113.7"}, timeout=30)
                flood_statuses.append(r.status_code)

        t = threading.Thread(target=flood)
        t.start()
        s = requests.Session()
        shopper = []
        for batch in range(20):
            r = s.post(f"{url}/events", json={"events": [event("shopper", batch * 10 + i) for i in range(10)]},
                       headers={"X-Forwarded-For": "198.51.100.4"}, timeout=30)
            shopper.append(r.status_code)
            time.sleep(0.05)
        t.join(120)
        assert shopper == [202] * 20
        assert flood_statuses.count(429) >= 50 and set(flood_statuses) <= {202, 429}, flood_statuses
        accepted = 1000 * flood_statuses.count(202)
        shopper_query = {"term": {"client_id": "shopper"}}
        assert wait_until(lambda: count(os_client, index, shopper_query) == 200, 30)
        assert wait_until(lambda: count(os_client, index, {"term": {"client_id": "flooder"}}) == accepted, 30)
    finally:
        stop(proc)
        os_client.indices.delete(index=[index, credits_index(index)], ignore_unavailable=True)
