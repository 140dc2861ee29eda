"""Where a /search request's time and CPU go inside the sidecar (issues: service overhead, CPU).

    scripts/opensearch.sh start
    .venv/bin/python bench/profile_search.py [--requests 150] [--index fashion] [--top 25]

Runs the Flask app in-process (Flask's test client, no HTTP server) against the real OpenSearch
with the fashion index, sends hybrid /search requests for the dev queries (default rule, window
200, size 20), one at a time:

1. CPU by phase: this thread's CPU time (``time.thread_time``: user and system, so the kernel's
   share of sending and receiving counts) of the whole request and of its phases, each phase
   timed by wrapping the function that does it; and of ``GET /healthz`` through the same test
   client, the floor of any request. Phases nest (decoding is inside retrieval). Written to
   ``--out`` (bench/results/cpu_phases.json).
2. The rerank in the request path against the same calls repeated in a loop (issue 29 asked
   why a loop's rerank costs a third of the server's): each call's batch as the request left it
   (its columns read from the hits already), and with those columns dropped so they are read
   again. Written to the same file.
3. cProfile of the same requests: the functions by own time, and the median timings the
   responses report. Time in ``recv_into`` is the wait for OpenSearch; the rest is the sidecar's.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar import config  # noqa: E402
from sidecar.config import Config  # noqa: E402
from sidecar.server.app import create_app  # noqa: E402


PHASES = (  # (label, module, owner in it or None, function): each wrapped while timing
    ("retrieval (the OpenSearch round trip, decoding, columns, fusion)", "sidecar.retrieval.opensearch_backend",
     "OpenSearchBackend", "retrieve"),
    ("  the round trip on the socket (send, wait, read)", "sidecar.opensearch.connection", "KeepAliveConnection",
     "perform_request"),
    ("  decoding the answer (orjson)", "sidecar.opensearch.client", "FastJSONSerializer", "loads"),
    ("  hits to columns", "sidecar.retrieval.opensearch_backend", None, "from_hits"),
    ("  fusion", "sidecar.retrieval.opensearch_backend", None, "fuse"),
    ("reranking (rerank_batch)", "sidecar.search.paging", None, "rerank_batch"),
    ("  near-duplicate grouping", "sidecar.rerank.reranking", None, "dedup_groups"),
)


def cpu_by_phase(client, bodies: list[str], n: int) -> dict[str, float]:
    """Thread CPU per request (ms): the whole /search, each phase of PHASES, and GET /healthz."""
    import importlib
    import time

    spent = {label: 0.0 for label, *_ in PHASES}
    undo = []
    for label, module, owner, name in PHASES:
        target = getattr(importlib.import_module(module), owner) if owner else importlib.import_module(module)
        fn = getattr(target, name)

        def timed(*a, _fn=fn, _label=label, **kw):
            t0 = time.thread_time()
            try:
                return _fn(*a, **kw)
            finally:
                spent[_label] += time.thread_time() - t0

        setattr(target, name, timed)
        undo.append((target, name, fn))
    try:
        t0 = time.thread_time()
        for i in range(n):
            client.post("/search", data=bodies[i % len(bodies)], content_type="application/json")
        whole = time.thread_time() - t0
    finally:
        for target, name, fn in undo:
            setattr(target, name, fn)
    t0 = time.thread_time()
    for _ in range(n):
        client.get("/healthz")
    floor = time.thread_time() - t0
    out = {"whole /search request": whole, **spent, "GET /healthz (the floor of any request)": floor}
    return {k: round(v * 1000 / n, 3) for k, v in out.items()}


def rerank_in_a_loop(client, bodies: list[str]) -> dict[str, float]:
    """rerank_batch's thread CPU (median ms): in the request path, then the same calls again in a
    loop, in turn, with each batch's columns kept and with them dropped first."""
    import time

    from sidecar.search import paging

    real, calls, in_request = paging.rerank_batch, [], []

    def kept(*a, **kw):
        t0 = time.thread_time()
        out = real(*a, **kw)
        in_request.append(time.thread_time() - t0)
        calls.append((a, kw))
        return out

    paging.rerank_batch = kept
    try:
        for body in bodies:
            client.post("/search", data=body, content_type="application/json")
    finally:
        paging.rerank_batch = real

    def again(a, kw, drop: bool) -> float:
        if drop:
            a[0]._columns.clear()  # what a fresh request has not read yet
            a[0]._encoded = None
        t0 = time.thread_time()
        real(*a, **kw)
        return time.thread_time() - t0

    looped = {drop: [again(a, kw, drop) for _ in range(3) for a, kw in calls] for drop in (False, True)}
    return {"in the request path": round(float(np.median(in_request)) * 1000, 3),
            "the same calls in a loop, columns kept": round(float(np.median(looped[False])) * 1000, 3),
            "the same calls in a loop, columns read again": round(float(np.median(looped[True])) * 1000, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch (default: .env's port)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--requests", type=int, default=150)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cpu_phases.json")
    args = ap.parse_args()
    queries = [json.loads(line)["query"] for line in open(args.fashion / "queries-dev.jsonl", encoding="utf-8")]
    vectors = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)
    bodies = [json.dumps({"q": q, "vector": v.tolist(), "mode": "hybrid", "rule": "default", "size": 20})
              for q, v in zip(queries, vectors)]
    from sidecar.rerank.warmup import warm

    warm()  # compile or load the kernels first: the profile is of requests, not of numba
    client = create_app(Config.load(backend="opensearch", url=args.url, index=args.index)).test_client()
    for body in bodies[:20]:  # warm-up
        client.post("/search", data=body, content_type="application/json")
    phases = cpu_by_phase(client, bodies, args.requests)
    loop = rerank_in_a_loop(client, bodies)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(["python bench/profile_search.py", *sys.argv[1:]]),
                                    "requests": args.requests, "cpu_ms_per_request": phases,
                                    "rerank_batch_cpu_ms_p50": loop}, indent=2) + "\n")
    print("CPU per request, ms (this thread; phases nest):")
    for name, ms in phases.items():
        print(f"  {ms:7.3f}  {name}")
    print("rerank_batch, CPU ms p50:")
    for name, ms in loop.items():
        print(f"  {ms:7.3f}  {name}")
    timings: list[dict[str, float]] = []

    def run() -> None:
        for i in range(args.requests):
            r = client.post("/search", data=bodies[i % len(bodies)], content_type="application/json")
            if r.status_code != 200:
                raise SystemExit(f"/search answered {r.status_code}: {r.get_data(as_text=True)}")
            timings.append({**r.json["timings"], "backend_took_ms": r.json["backend_took_ms"]})

    profiler = cProfile.Profile()
    profiler.runcall(run)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
    medians = {k: round(float(np.median([t[k] for t in timings])), 2) for k in timings[0]}
    print(f"{args.requests} requests; medians (ms, under the profiler): {medians}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
