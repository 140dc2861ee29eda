"""Where a /search request's time goes inside the sidecar (issue: service overhead).

    scripts/opensearch.sh start
    .venv/bin/python bench/profile_search.py [--requests 150] [--index fashion] [--top 25]

Runs the Flask app in-process (Flask's test client, no HTTP server) against the real OpenSearch
with the fashion index, sends hybrid /search requests for the dev queries (default rule, window
200, size 20) under cProfile, and prints the functions by own time plus the median timings the
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch (default: .env's port)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--requests", type=int, default=150)
    ap.add_argument("--top", type=int, default=25)
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
