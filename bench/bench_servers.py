"""The WSGI server under the sidecar: `sidecar serve` (gunicorn + gevent) against granian's WSGI
mode, the same app, in one interleaved run.

    scripts/opensearch.sh start
    pip install granian          # not a dependency of the project; only this bench uses it
    .venv/bin/python bench/bench_servers.py [--rounds 4] [--requests 400] [--index fashion]

Needs the fashion index (bench/bench_peer.py writes it). Starts `sidecar serve --backend
opensearch --workers 2` and `granian --interface wsgi --workers 2 --blocking-threads N` over
the same `create_app` (configured from the environment: the index, the project's rules), each
on a free loopback port. Then, ``--rounds`` times, the order of the servers alternating, sends
each server ``--requests`` hybrid `/search` requests (dev queries: MiniLM vector and text,
default rule, size 20) and 2.5x as many `GET /healthz` from 8 threads, each with its own
keep-alive connection, every answer read and decoded. Reports each server's CPU per request
(utime + stime of its process tree, /proc) and requests per second, median over rounds, and
writes bench/results/servers.json.

What this does not measure: granian under the hardening scenarios (slow clients, a paused
OpenSearch, malformed HTTP), which the sidecar's gunicorn setup is tested for.
"""
from __future__ import annotations

import argparse
import json
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_faults import free_port, wait_ready  # noqa: E402
from bench_peer import Client, start_sidecar, throughput, tree_cpu  # noqa: E402

from sidecar import config  # noqa: E402


def app_from_environment():
    """granian's factory: the sidecar's app as `sidecar serve` builds it, from SIDECAR_* variables."""
    from sidecar.config import Config
    from sidecar.server.app import create_app

    return create_app(Config.load())


def load(port: int, path: str, bodies: list[bytes] | None, n: int, concurrency: int = 8) -> tuple[float, int]:
    """``n`` requests from ``concurrency`` threads, each with its own keep-alive connection:
    (requests per second, failed requests)."""
    clients = [Client("127.0.0.1", port) for _ in range(concurrency)]
    got = throughput(lambda t, j: clients[t].post(path, bodies[j % len(bodies)] if bodies else None)[0] == 200,
                     n, concurrency)
    return got["requests_per_second"], got["errors"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch (default: .env's port)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--requests", type=int, default=400, help="/search requests per server and round")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--blocking-threads", type=int, default=8, help="granian's threads per worker (default 8)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "servers.json")
    args = ap.parse_args()
    if importlib.util.find_spec("granian") is None:
        print("granian is not installed: pip install granian (only this bench needs it)", file=sys.stderr)
        return 2
    queries = [json.loads(line)["query"] for line in open(args.fashion / "queries-dev.jsonl", encoding="utf-8")]
    vectors = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)
    bodies = [orjson.dumps({"q": q, "vector": v.tolist(), "mode": "hybrid", "rule": "default", "size": 20})
              for q, v in zip(queries, vectors)]

    gunicorn, g_port = start_sidecar(args, ROOT / "query_rules")
    r_port = free_port()
    env = {**os.environ, "SIDECAR_BACKEND": "opensearch", "SIDECAR_OPENSEARCH_URL": args.url, "SIDECAR_INDEX": args.index,
           "SIDECAR_RULES": str(ROOT / "query_rules"), "SIDECAR_LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    granian = subprocess.Popen([sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", str(args.workers),
                                "--blocking-threads", str(args.blocking_threads), "--host", "127.0.0.1",
                                "--port", str(r_port), "--no-log", "--factory", "bench_servers:app_from_environment"],
                               cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    servers = {"gunicorn + gevent": (gunicorn, g_port), "granian wsgi": (granian, r_port)}
    cases = {"/search": (bodies, args.requests), "/healthz": (None, int(args.requests * 2.5))}
    cpu: dict[str, dict[str, list[float]]] = {s: {c: [] for c in cases} for s in servers}
    rps: dict[str, dict[str, list[float]]] = {s: {c: [] for c in cases} for s in servers}
    errors = 0
    try:
        if not wait_ready(r_port, 120):
            raise SystemExit(f"granian did not become ready on port {r_port}")
        for proc, port in servers.values():  # warm-up
            load(port, "/search", bodies, 200)
            load(port, "/healthz", None, 200)
        names = list(servers)
        for r in range(args.rounds):
            for path, (b, n) in cases.items():
                for name in (names if r % 2 == 0 else names[::-1]):
                    proc, port = servers[name]
                    c0 = tree_cpu(proc.pid)
                    got, bad = load(port, path, b, n)
                    cpu[name][path].append((tree_cpu(proc.pid) - c0) * 1000 / n)
                    rps[name][path].append(got)
                    errors += bad
            print(f"round {r + 1}/{args.rounds}: " + "; ".join(
                f"{s} {c} {cpu[s][c][-1]:.2f} ms" for s in names for c in cases), file=sys.stderr)
    finally:
        for proc, _ in servers.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in servers.values():
            proc.wait(timeout=30)
    out = {"command": " ".join(["python bench/bench_servers.py", *sys.argv[1:]]), "index": args.index,
           "workers": args.workers, "granian_blocking_threads": args.blocking_threads, "concurrency": 8,
           "errors": errors, "servers": {
               s: {c: {"cpu_ms_per_request": round(float(np.median(cpu[s][c])), 3),
                       "cpu_ms_rounds": [round(x, 3) for x in cpu[s][c]],
                       "requests_per_second": round(float(np.median(rps[s][c])), 1)} for c in cases} for s in servers}}
    g, r = out["servers"]["gunicorn + gevent"], out["servers"]["granian wsgi"]
    out["ratios"] = {f"granian / gunicorn, {c} CPU": round(r[c]["cpu_ms_per_request"] / g[c]["cpu_ms_per_request"], 3)
                     for c in cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
