"""Benchmark of POST /search against the same retrieval sent straight to OpenSearch.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_service.py [--requests 1000] [--index fashion] [--workers 2]

Needs the fashion catalog indexed (done here with `sidecar index` when the index is missing).
Starts `sidecar serve --backend opensearch --workers N` on a free loopback port, then for each
dev query (text + MiniLM vector, cycled) sends, one at a time over keep-alive connections:
  direct   the msearch (BM25 + kNN, window 200, same _source) the sidecar's backend sends
  sidecar  POST /search {"q", "vector", "mode": "hybrid", "rule": "default", "size": 20}
and reports p50/p99 of each and the overhead, then throughput of the sidecar at concurrency 4.
Writes bench/results/service.json.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.retrieval.base import RetrievalRequest  # noqa: E402
from sidecar.retrieval.opensearch_backend import OpenSearchBackend  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def post(self, path: str, body: bytes, ctype: str = "application/json") -> tuple[int, bytes]:
        self.conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def pct(samples: list[float]) -> dict[str, float]:
    a = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "mean_ms": round(float(a.mean()), 2), "n": len(a)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--url", default="http://127.0.0.1:9200")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "service.json")
    args = ap.parse_args()

    from sidecar.opensearch import make_client

    client = make_client(args.url, timeout=60)
    if not client.indices.exists(index=args.index):
        print(f"indexing the fashion catalog into {args.index} ...", file=sys.stderr)
        subprocess.run([str(Path(sys.executable).parent / "sidecar"), "index", "--catalog", str(args.fashion / "catalog.jsonl"),
                        "--vectors", str(args.fashion / "vectors-minilm.f16.npy"), "--index", args.index,
                        "--url", args.url], check=True)
    queries = [json.loads(line)["query"] for line in open(args.fashion / "queries-dev.jsonl", encoding="utf-8")]
    qvecs = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)

    backend = OpenSearchBackend(client, args.index, 10.0)
    direct_bodies, sidecar_bodies = [], []
    for q, v in zip(queries, qvecs):
        req = RetrievalRequest("hybrid", q, v, {}, 200)
        lines = [{"index": args.index}, backend._body(req, "bm25"), {"index": args.index}, backend._body(req, "knn")]
        direct_bodies.append(("\n".join(json.dumps(x) for x in lines) + "\n").encode())
        sidecar_bodies.append(json.dumps({"q": q, "vector": v.tolist(), "mode": "hybrid", "rule": "default",
                                          "size": 20}).encode())

    port = free_port()
    env = {**os.environ, "SIDECAR_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "sidecar"), "serve", "--backend", "opensearch",
                               "--url", args.url, "--index", args.index, "--port", str(port),
                               "--workers", str(args.workers)], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                c = Client("127.0.0.1", port)
                c.conn.request("GET", "/readyz")
                if c.conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("sidecar did not become ready")
            time.sleep(0.5)
        os_host, os_port = args.url.split("//")[1].split(":")
        direct, side = Client(os_host, int(os_port)), Client("127.0.0.1", port)
        for i in range(50):  # warm-up both paths
            direct.post("/_msearch", direct_bodies[i % len(queries)], "application/x-ndjson")
            side.post("/search", sidecar_bodies[i % len(queries)])
        lat_direct, lat_side, errors = [], [], 0
        server_rerank, server_took = [], []
        for i in range(args.requests):  # interleaved, so both see the same machine state
            k = i % len(queries)
            t0 = time.perf_counter()
            st, _ = direct.post("/_msearch", direct_bodies[k], "application/x-ndjson")
            lat_direct.append(time.perf_counter() - t0)
            errors += st != 200
            t0 = time.perf_counter()
            st, body = side.post("/search", sidecar_bodies[k])
            lat_side.append(time.perf_counter() - t0)
            errors += st != 200
            if st == 200:
                resp = json.loads(body)
                server_rerank.append(resp["timings"]["rerank_ms"] / 1000)
                server_took.append(resp["backend_took_ms"] / 1000)

        done = [0]
        tp_errors = [0]
        per_thread = args.requests // args.concurrency

        def worker(offset: int) -> None:
            cl = Client("127.0.0.1", port)
            for j in range(per_thread):
                st, _ = cl.post("/search", sidecar_bodies[(offset + j) % len(queries)])
                tp_errors[0] += st != 200
                done[0] += 1

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i * 37,)) for i in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    d, s = pct(lat_direct), pct(lat_side)
    results = {
        "command": "python bench/bench_service.py " + " ".join(sys.argv[1:]),
        "index": args.index, "workers": args.workers, "requests_each": args.requests,
        "direct_opensearch_msearch": d,
        "sidecar_search": s,
        "overhead_p50_percent": round(100 * (s["p50_ms"] - d["p50_ms"]) / d["p50_ms"], 1),
        "overhead_p99_percent": round(100 * (s["p99_ms"] - d["p99_ms"]) / d["p99_ms"], 1),
        "sidecar_rerank_in_server": pct(server_rerank),
        "sidecar_backend_took": pct(server_took),
        "errors": errors,
        "throughput": {"concurrency": args.concurrency, "requests": done[0], "seconds": round(elapsed, 2),
                       "requests_per_second": round(done[0] / elapsed, 1), "errors": tp_errors[0]},
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
