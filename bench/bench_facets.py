"""What facets add to a /search: the same searches with and without them, interleaved, in one run.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_facets.py [--index fashion] [--rounds 300]

Starts `sidecar serve --backend opensearch --workers 1` over the index (the full fashion catalog
when indexed, else the demo catalog as bench-facets), then sends the fashion dev queries (BM25,
default rule, size 20) one at a time, each twice in a row in alternating order: once plain, once
with the facets a results page shows (brand top 10, colour top 10, three price ranges, months
listed). Reports p50 and p99 of each and the p50 ratio (target: facets add at most 15%), for the
first pass over the queries (OpenSearch has not cached a facets search of that query) and for the
queries asked again (its shard request cache may answer the facets search of size 0).
Writes bench/results/facets.json.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_faults import ensure_index, wait_ready  # noqa: E402

from sidecar.config import default  # noqa: E402
from sidecar.opensearch.client import make_client  # noqa: E402

FACETS = {"brand": {"size": 10}, "colour": {"size": 10},
          "price": {"ranges": [[0, 500], [500, 1500], [1500, None]]}, "listed_at": {"interval": "month"}}
FASHION_QUERIES = ROOT.parent / "shared" / "data" / "fashion" / "queries-dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"), help="OpenSearch URL (default: from .env)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--rounds", type=int, default=300, help="pairs of searches; past the number of queries, "
                                                            "queries are asked again (default: %(default)s)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "facets.json"))
    args = ap.parse_args()
    sidecar = str(Path(sys.executable).parent / "sidecar")
    client = make_client(args.url, timeout=30)
    args.index = ensure_index(client, args.url, args.index, "bench-facets")
    queries = ([json.loads(line)["query"] for line in FASHION_QUERIES.read_text().splitlines() if line.strip()]
               if FASHION_QUERIES.exists() else ["black jacket", "puma tshirt", "women sandals", "red kurta", "men watch"])
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(tempfile.mkdtemp(prefix="bench-facets-")) / "serve.log"
    proc = subprocess.Popen([sidecar, "serve", "--backend", "opensearch", "--url", args.url, "--index", args.index,
                             "--port", str(port), "--workers", "1"], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "SIDECAR_LOG_LEVEL": "WARNING"}, start_new_session=True)
    url = f"http://127.0.0.1:{port}/search"
    plain: tuple[list[float], list[float]] = ([], [])  # (first time a query is asked, asked again)
    faceted: tuple[list[float], list[float]] = ([], [])
    try:
        if not wait_ready(port, 120):
            raise SystemExit(f"the sidecar did not become ready; see {log}")
        session = requests.Session()
        for w in ("shirt", "shoes", "watch", "jeans", "kurta") * 4:  # warm: the mapping read, the connections
            session.post(url, json={"q": f"{w} warm", "size": 20, "facets": FACETS}, timeout=10).raise_for_status()
        for i in range(args.rounds):
            # the first pass over the queries is cold (OpenSearch's request cache has not seen a facets
            # search of that query); a query asked again may be answered from that cache
            q = queries[i % len(queries)]
            seen = i >= len(queries)
            pair = [({"q": q, "size": 20}, plain[seen]), ({"q": q, "size": 20, "facets": FACETS}, faceted[seen])]
            for body, into in (pair if i % 2 == 0 else pair[::-1]):
                t0 = time.perf_counter()
                r = session.post(url, json=body, timeout=10)
                into.append(time.perf_counter() - t0)
                r.raise_for_status()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)

    def ms(xs: list[float], q: float) -> float:
        return round(float(np.percentile(xs, q)) * 1000, 2)

    out = {"command": " ".join(["python bench/bench_facets.py", *sys.argv[1:]]), "index": args.index,
           "documents": client.count(index=args.index)["count"], "rounds": args.rounds, "facets": FACETS,
           "queries": len(queries)}
    for seen, label in ((0, "first_time"), (1, "asked_again")):
        if plain[seen]:
            out[label] = {"pairs": len(plain[seen]),
                          "plain_ms": {"p50": ms(plain[seen], 50), "p99": ms(plain[seen], 99)},
                          "facets_ms": {"p50": ms(faceted[seen], 50), "p99": ms(faceted[seen], 99)},
                          "p50_ratio": round(ms(faceted[seen], 50) / ms(plain[seen], 50), 3)}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
