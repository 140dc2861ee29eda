"""Load, outage and hostile-input scenarios against a whole server (issue 15), on loopback.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_faults.py [--index fashion] [--hold 60] [--pause 10] [--skip-outage]

Starts `sidecar serve --backend opensearch --workers 2` (gevent workers, decision log on) on a
free loopback port over the products index (the full fashion catalog when indexed, else the
demo catalog indexed as `bench-faults`), then runs, one after another, bounded in time:

  load       /search (bm25 and hybrid, dev-like queries) at concurrency 4, 8, 16
  slow       200 incomplete requests held open for --hold seconds; /healthz and /search probed
  pause      OpenSearch stopped with SIGSTOP for --pause seconds under 32 concurrent searches
  outage     OpenSearch stopped and started again (scripts/opensearch.sh) under concurrency 8
  reload     rule files edited 6 times (once broken) under concurrency 8
  hostile    the bodies of issue 15: regexp/script/size through the proxy, a 60,000-value inline
             rule, quadratic dedup, malformed chunked body, 130 nested bools

and checks the decision log's accounting (records indexed vs written, dropped, unknown). Prints
the README's table and writes bench/results/faults.json. It stops what it started; OpenSearch is
left running (started again after the outage).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sidecar.config import default  # noqa: E402
from sidecar.opensearch.client import make_client  # noqa: E402

SCRIPT = ROOT / "scripts" / "opensearch.sh"
QUERIES = ["black jacket", "women sandals", "red kurta", "men watch", "blue jeans", "sports shoes", "cotton shirt",
           "handbag", "sunglasses", "white sneakers"]
LOG_PREFIX = "bench-faults-log"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)) * 1000, 1) if xs else 0.0


class Run:
    """Requests of one scenario: (start, status, seconds, label)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, object, float, str]] = []
        self.lock = threading.Lock()

    def add(self, t0: float, status: object, label: str = "search") -> None:
        with self.lock:
            self.rows.append((t0, status, time.monotonic() - t0, label))

    def summary(self, label: str = "search", since: float = 0.0, until: float = float("inf")) -> dict:
        rows = [r for r in self.rows if r[3] == label and since <= r[0] < until]
        lat = [r[2] for r in rows]
        return {"requests": len(rows), "status": dict(Counter(str(r[1]) for r in rows)), "p50_ms": pct(lat, 50),
                "p99_ms": pct(lat, 99), "max_ms": round(max(lat) * 1000, 1) if lat else 0.0}


def search_body(rng: random.Random) -> dict:
    return {"q": rng.choice(QUERIES), "size": 20}


def load(url: str, run: Run, concurrency: int, until: float | threading.Event,
         label: str = "search") -> list[threading.Thread]:
    """``concurrency`` clients searching until the monotonic time ``until``, or until the event is set."""
    going = (lambda: not until.is_set()) if isinstance(until, threading.Event) else (lambda: time.monotonic() < until)

    def worker(seed: int) -> None:
        rng, s = random.Random(seed), requests.Session()
        while going():
            t0 = time.monotonic()
            try:
                status = s.post(f"{url}/search", json=search_body(rng), timeout=30).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            run.add(t0, status, label)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    return threads


def probe(url: str, run: Run, until: float, every: float = 0.2) -> threading.Thread:
    def loop() -> None:
        while time.monotonic() < until:
            t0 = time.monotonic()
            try:
                status = requests.get(f"{url}/healthz", timeout=10).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            run.add(t0, status, "healthz")
            time.sleep(every)
    t = threading.Thread(target=loop)
    t.start()
    return t


def join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join()


def ensure_index(client, url: str, index: str, fallback: str = "bench-faults") -> str:
    """The index a bench runs over: ``index`` when it exists (the full fashion catalog, indexed by
    hand), else the demo catalog, indexed as ``fallback``."""
    if client.indices.exists(index=index):
        return index
    subprocess.run([str(Path(sys.executable).parent / "sidecar"), "index", "--catalog",
                    str(ROOT / "demo" / "catalog.jsonl"), "--vectors", str(ROOT / "demo" / "vectors.npy"),
                    "--index", fallback, "--recreate", "--url", url, "--quiet"], check=True)
    return fallback


def start_server(args, port: int, rules: Path, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "SIDECAR_DECISION_LOG": "on", "SIDECAR_DECISION_LOG_INDEX": LOG_PREFIX,
           "SIDECAR_BACKEND_TIMEOUT": str(args.timeout), "SIDECAR_RULES_POLL_SECONDS": "0.5",
           "SIDECAR_ADMIN_TOKEN": "bench-faults-token-06"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sidecar"), "serve", "--backend", "opensearch",
                             "--url", args.url, "--index", args.index, "--port", str(port), "--workers", "2",
                             "--rules", str(rules)], cwd=ROOT, env=env, stdout=log_path.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    if wait_ready(port, 120):
        return proc
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit(f"the sidecar did not become ready; see {log_path}")


def wait_ready(port: int, seconds: float) -> bool:
    """Whether the sidecar on ``port`` answered /readyz with 200 within ``seconds``."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


def scenario_slow(url: str, port: int, hold: float) -> dict:
    run, socks, opened = Run(), [], [0]
    until = time.monotonic() + hold

    def holder() -> None:
        while time.monotonic() < until:
            while len(socks) < 200:
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
                opened[0] += 1
            for s in list(socks):
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

    h = threading.Thread(target=holder)
    h.start()
    rng = random.Random(1)
    while time.monotonic() < until:
        for label, call in (("healthz", lambda: requests.get(f"{url}/healthz", timeout=5)),
                            ("search", lambda: requests.post(f"{url}/search", json=search_body(rng), timeout=5))):
            t0 = time.monotonic()
            try:
                status = call().status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            run.add(t0, status, label)
        time.sleep(0.5)
    h.join()
    for s in socks:
        s.close()
    return {"connections_opened": opened[0], "search": run.summary(), "healthz": run.summary("healthz")}


def scenario_pause(url: str, seconds: float) -> dict:
    pid = int(subprocess.run([str(SCRIPT), "pid"], capture_output=True, text=True, check=True).stdout)
    run = Run()
    t_start = time.monotonic()
    until = t_start + 3 + seconds + 5
    threads = load(url, run, 32, until) + [probe(url, run, until)]
    time.sleep(3)
    paused = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    join(threads)
    return {"during": run.summary(since=paused, until=resumed), "after": run.summary(since=resumed),
            "healthz_during": run.summary("healthz", since=paused, until=resumed),
            "all": run.summary()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"), help="OpenSearch URL (default: from .env)")
    ap.add_argument("--index", default="fashion", help="products index (default: fashion; the demo catalog "
                                                        "is indexed as bench-faults when it is missing)")
    ap.add_argument("--timeout", type=float, default=2.0, help="SIDECAR_BACKEND_TIMEOUT of the server (s)")
    ap.add_argument("--hold", type=float, default=60, help="seconds the 200 incomplete requests are held")
    ap.add_argument("--pause", type=float, default=10, help="seconds OpenSearch is paused with SIGSTOP")
    ap.add_argument("--seconds", type=float, default=10, help="seconds of each load level")
    ap.add_argument("--skip-outage", action="store_true", help="do not stop and restart OpenSearch")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "faults.json"))
    args = ap.parse_args()
    client = make_client(args.url, timeout=30)
    args.index = ensure_index(client, args.url, args.index)
    client.indices.delete(index=f"{LOG_PREFIX}-*", ignore_unavailable=True)
    n_docs = client.count(index=args.index)["count"]
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    rules = work / "rules"
    shutil.copytree(ROOT / "query_rules", rules)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(args, port, rules, work / "serve.log")
    out: dict = {"index": args.index, "documents": n_docs, "backend_timeout_s": args.timeout,
                 "command": " ".join(["python bench/bench_faults.py", *sys.argv[1:]])}
    try:
        print(f"sidecar on {url} over {args.index} ({n_docs} products); log {work / 'serve.log'}", flush=True)
        out["load"] = {}
        for c in (4, 8, 16):
            run = Run()
            join(load(url, run, c, time.monotonic() + args.seconds))
            out["load"][c] = run.summary()
            print(f"load c={c}: {out['load'][c]}", flush=True)
        out["slow"] = scenario_slow(url, port, args.hold)
        print(f"slow clients: {out['slow']}", flush=True)
        out["pause"] = scenario_pause(url, args.pause)
        print(f"pause: {out['pause']}", flush=True)
        if not args.skip_outage:
            out["outage"] = scenario_outage(url)
            print(f"outage: {out['outage']}", flush=True)
        out["reload"] = scenario_reload(url, rules)
        print(f"reload: {out['reload']}", flush=True)
        out["hostile"] = scenario_hostile(url, port, args.index)
        print(f"hostile: {out['hostile']}", flush=True)
        out["decision_log"] = decision_log_accounting(url, client)
        print(f"decision log: {out['decision_log']}", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(table(out))
    client.indices.delete(index=f"{LOG_PREFIX}-*", ignore_unavailable=True)
    shutil.rmtree(work, ignore_errors=True)


def scenario_outage(url: str) -> dict:
    """OpenSearch stopped and started again (scripts/opensearch.sh) under 8 clients."""
    run, marks, stop = Run(), {}, threading.Event()
    threads = load(url, run, 8, stop)
    time.sleep(3)
    marks["stop"] = time.monotonic()
    subprocess.run([str(SCRIPT), "stop"], check=True, timeout=120, capture_output=True)
    marks["down"] = time.monotonic()
    time.sleep(5)
    marks["restart"] = time.monotonic()
    subprocess.run([str(SCRIPT), "start"], check=True, timeout=300, capture_output=True)
    marks["green"] = time.monotonic()
    first_ok = None
    while time.monotonic() < marks["green"] + 60 and first_ok is None:
        oks = [r[0] + r[2] for r in list(run.rows) if r[0] >= marks["restart"] and r[1] == 200]
        first_ok = min(oks) if oks else None
        time.sleep(0.2)
    time.sleep(5)
    stop.set()
    join(threads)
    return {"before": run.summary(until=marks["stop"]),
            "down": run.summary(since=marks["down"], until=marks["restart"]),
            "restarting": run.summary(since=marks["restart"], until=marks["green"]),
            "after": run.summary(since=marks["green"]),
            "first_200_after_green_s": round(first_ok - marks["green"], 2) if first_ok else None,
            "restart_to_green_s": round(marks["green"] - marks["restart"], 1)}


def scenario_reload(url: str, rules: Path) -> dict:
    run = Run()
    until = time.monotonic() + 14
    threads = load(url, run, 8, until)
    target = rules / "10-fashion.yaml"
    original = target.read_text()
    versions = set()
    for i in range(6):
        time.sleep(2)
        if i == 3:
            target.write_text(original + "\n  - id: [broken\n")  # a syntax error: rejected, the last good rules serve on
        else:
            target.write_text(f"{original}\n# edit {i}\n")
        versions.add(requests.get(f"{url}/version", timeout=5).json()["rules_version"])
    target.write_text(original)
    join(threads)
    status = requests.get(f"{url}/admin/rules", headers={"Authorization": "Bearer bench-faults-token-06"}, timeout=5).json()
    return {**run.summary(), "versions_seen": len(versions), "workers_consistent": status["consistent"]}


def scenario_hostile(url: str, port: int, index: str) -> list[dict]:
    rng = random.Random(5)
    words = "red blue cotton shirt men women casual slim fit navy black white tee polo round neck".split()
    similar = [{"id": str(i), "score": 1 - i / 2000, "fields": {"title": " ".join(rng.sample(words, 8))}}
               for i in range(1000)]
    nested: dict = {"match_all": {}}
    for _ in range(130):
        nested = {"bool": {"must": [nested]}}
    cases = [
        ("regexp through the proxy", f"/{index}/_search", {"query": {"regexp": {"title": "a{1,100000}"}}}),
        ("script_score through the proxy", f"/{index}/_search",
         {"query": {"script_score": {"query": {"match_all": {}}, "script": {"source": "Math.log(2)"}}}}),
        ("size 10000 through the proxy", f"/{index}/_search", {"size": 10000}),
        ("the decision log through the proxy", f"/{LOG_PREFIX}-*/_search", {}),
        ("130 nested bools", f"/{index}/_search", {"query": nested}),
        ("inline rule, 60,000 values", "/rerank",
         {"candidates": similar[:20], "rule": {"id": "x", "constraints": [
             {"field": "title", "min": 0.1, "values": [str(v) for v in range(60000)]}]}}),
        ("1,000 similar titles, threshold 0.05, num_perm 256", "/rerank",
         {"candidates": similar, "rule": {"id": "x", "dedup": {"field": "title", "threshold": 0.05, "num_perm": 256}}}),
        ("a vector of the wrong size", "/search", {"vector": [0.1] * 7, "mode": "knn"}),
        ("an all-zero vector", "/search", {"vector": [0.0] * 384, "mode": "knn"}),
        ("a date OpenSearch cannot parse", "/search", {"q": "shirt", "filters": {"listed_at": {"gte": "32/13/2026"}}}),
    ]
    out = []
    for name, path, body in cases:
        t0 = time.monotonic()
        r = requests.post(f"{url}{path}", json=body, timeout=30)
        err = r.json().get("error", {}) if r.headers.get("content-type", "").startswith("application/json") else {}
        out.append({"case": name, "status": r.status_code, "ms": round((time.monotonic() - t0) * 1000, 1),
                    "type": err.get("type"), "names": err.get("field") or (err.get("reason") or "")[:40]})
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        t0 = time.monotonic()
        s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json"
                  b"\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n")
        head = s.recv(4096).split(b"\r\n", 1)[0].decode()
        out.append({"case": "malformed chunked body", "status": int(head.split()[1]),
                    "ms": round((time.monotonic() - t0) * 1000, 1), "type": "malformed_body", "names": "body"})
    return out


def decision_log_accounting(url: str, client) -> dict:
    time.sleep(3)  # the writers flush every second
    metrics = requests.get(f"{url}/metrics", timeout=5).text

    def total(name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith(name) and not line.startswith("#"))
    client.indices.refresh(index=f"{LOG_PREFIX}-*", ignore_unavailable=True)
    indexed = client.count(index=f"{LOG_PREFIX}-*", ignore_unavailable=True)["count"]
    logged = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("sidecar_requests_total{") and ('endpoint="/search"' in line
                                                                    or 'endpoint="/rerank"' in line
                                                                    or 'endpoint="/<index>/_search"' in line))
    return {"requests_logged_endpoints": int(logged), "written": int(total("sidecar_decision_log_written_total")),
            "dropped": int(total("sidecar_decision_log_dropped_total")),
            "unknown": int(total("sidecar_decision_log_unknown_total")), "indexed": indexed}


def table(out: dict) -> str:
    def st(s: dict) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(s["status"].items()))
    rows = ["| scenario | requests | answers | p50 ms | p99 ms | max ms |", "| --- | --- | --- | --- | --- | --- |"]
    for c, s in out["load"].items():
        rows.append(f"| /search at concurrency {c} | {s['requests']} | {st(s)} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} |")
    for label in ("search", "healthz"):
        s = out["slow"][label]
        rows.append(f"| 200 incomplete requests held: /{label} | {s['requests']} | {st(s)} | {s['p50_ms']} | "
                    f"{s['p99_ms']} | {s['max_ms']} |")
    for key, label in (("during", "OpenSearch paused, c=32: /search"), ("healthz_during", "OpenSearch paused: /healthz"),
                       ("after", "after it resumes: /search")):
        s = out["pause"][key]
        rows.append(f"| {label} | {s['requests']} | {st(s)} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} |")
    if "outage" in out:
        for key, label in (("before", "before the outage, c=8"), ("down", "OpenSearch stopped"),
                           ("restarting", "OpenSearch restarting"), ("after", "after it is green")):
            s = out["outage"][key]
            rows.append(f"| {label} | {s['requests']} | {st(s)} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} |")
    s = out["reload"]
    rows.append(f"| 6 rule edits (one broken), c=8 | {s['requests']} | {st(s)} | {s['p50_ms']} | {s['p99_ms']} | "
                f"{s['max_ms']} |")
    lines = ["\n".join(rows), "", "| hostile input | status | type | names | ms |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {h['case']} | {h['status']} | {h['type']} | {h['names']} | {h['ms']} |" for h in out["hostile"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
