"""What the hybrid search's round trip to OpenSearch costs in CPU, on both sides, by what the
sidecar adds to it and by the client's connection class.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_round_trip.py [--rounds 6] [--block 150] [--index fashion]

Needs the fashion index (bench/bench_peer.py writes it). Sends the msearch of a hybrid /search
(default rule: BM25 and kNN windows of 200 with the product fields), for the dev queries in turn,
in these variants:

  plain            the two searches with no parameter (bench_peer's "direct" case)
  +partial         each search's header says allow_partial_search_results: false
  +preference      each search's header names its shard copies (the backend's preference)
  +cancel          the URL asks OpenSearch to cancel after the request's timeout
  sidecar          all three: what the backend sends (over KeepAliveConnection)
  sidecar urllib3  the same over opensearch-py's Urllib3HttpConnection (the default before)

Every variant but the last goes through ``make_client`` (KeepAliveConnection), and every answer
is decoded to dicts, as the backend does. The variants take turns in blocks of ``--block``
requests, ``--rounds`` times each, in one process, the order rotating each round, so all see the
same machine. The client's CPU is this thread's CPU time per request (median over requests);
OpenSearch's the JVM's utime + stime over a block divided by its requests (median over blocks;
clock ticks of 10 ms, so a block of 150 hybrid searches resolves ~0.1 ms a request). Writes
bench/results/round_trip.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_peer import opensearch_pid, tree_cpu  # noqa: E402

from sidecar import config  # noqa: E402
from sidecar.retrieval.base import RetrievalRequest  # noqa: E402
from sidecar.retrieval.opensearch_backend import OpenSearchBackend  # noqa: E402

VARIANTS = ("plain", "+partial", "+preference", "+cancel", "sidecar", "sidecar urllib3")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch (default: .env's port)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--rounds", type=int, default=6, help="blocks per variant (default 6)")
    ap.add_argument("--block", type=int, default=150, help="requests per block (default 150)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "round_trip.json")
    args = ap.parse_args()
    if not (args.fashion / "queries-dev.jsonl").exists():
        print(f"the fashion data is not at {args.fashion}; pass --fashion", file=sys.stderr)
        return 2
    from opensearchpy import OpenSearch

    from sidecar.opensearch.client import FastJSONSerializer, make_client

    keepalive = make_client(args.url, timeout=30)
    urllib3 = OpenSearch(hosts=[args.url], timeout=30, http_compress=False, pool_maxsize=64,
                         serializer=FastJSONSerializer())
    if not keepalive.indices.exists(index=args.index):
        print(f"no index {args.index}: run bench/bench_peer.py once (it indexes the fashion catalog)", file=sys.stderr)
        return 2
    queries = [json.loads(line)["query"] for line in open(args.fashion / "queries-dev.jsonl", encoding="utf-8")]
    vectors = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)
    backend = OpenSearchBackend(keepalive, args.index, 30.0)
    cancel = {"cancel_after_time_interval": "10000ms"}
    sends = {}  # variant -> [(client, lines, params) per query]
    for q, v in zip(queries, vectors):
        req = RetrievalRequest("hybrid", q, v, {}, 200)
        searches = [backend._body(req, "bm25"), backend._body(req, "knn")]
        header = backend.msearch_header(req)  # what the backend sends, and each part of it alone
        pref = {"preference": header["preference"]}
        partial = {"allow_partial_search_results": header["allow_partial_search_results"]}

        def lines(**extra) -> list[dict]:
            return [x for s in searches for x in ({"index": args.index, **extra}, s)]

        full = [x for s in searches for x in (header, s)]
        for name, made in (("plain", (keepalive, lines(), None)), ("+partial", (keepalive, lines(**partial), None)),
                           ("+preference", (keepalive, lines(**pref), None)), ("+cancel", (keepalive, lines(), cancel)),
                           ("sidecar", (keepalive, full, cancel)), ("sidecar urllib3", (urllib3, full, cancel))):
            sends.setdefault(name, []).append(made)
    jvm = opensearch_pid()

    def send(name: str, k: int) -> None:
        client, body, params = sends[name][k % len(queries)]
        out = client.msearch(body=body, params=params)
        if len(out["responses"]) != 2 or any("error" in r for r in out["responses"]):
            raise SystemExit(f"{name}: OpenSearch answered {str(out)[:300]}")

    for name in VARIANTS:  # warm-up: connections, OpenSearch's caches
        for k in range(40):
            send(name, k)
    thread_ms: dict[str, list[float]] = {n: [] for n in VARIANTS}
    jvm_ms: dict[str, list[float]] = {n: [] for n in VARIANTS}
    k = 0
    for r in range(args.rounds):
        for name in VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]:
            j0 = tree_cpu(jvm)
            for _ in range(args.block):
                t0 = time.thread_time()
                send(name, k)
                thread_ms[name].append((time.thread_time() - t0) * 1000)
                k += 1
            jvm_ms[name].append((tree_cpu(jvm) - j0) * 1000 / args.block)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {jvm_ms[n][-1]:.2f}" for n in VARIANTS)
              + " (OpenSearch ms a request)", file=sys.stderr)

    per = {n: {"client_cpu_ms": round(float(np.median(thread_ms[n])), 3),
               "opensearch_cpu_ms": round(float(np.median(jvm_ms[n])), 2),
               "opensearch_cpu_ms_blocks": [round(x, 2) for x in jvm_ms[n]]} for n in VARIANTS}
    base = per["plain"]
    ratios = {f"{n} / plain": {"client": round(per[n]["client_cpu_ms"] / base["client_cpu_ms"], 3),
                               "opensearch": round(per[n]["opensearch_cpu_ms"] / base["opensearch_cpu_ms"], 3)}
              for n in VARIANTS[1:]}
    ratios["sidecar / sidecar urllib3"] = {
        "client": round(per["sidecar"]["client_cpu_ms"] / per["sidecar urllib3"]["client_cpu_ms"], 3),
        "opensearch": round(per["sidecar"]["opensearch_cpu_ms"] / per["sidecar urllib3"]["opensearch_cpu_ms"], 3)}
    out = {"command": " ".join(["python bench/bench_round_trip.py", *sys.argv[1:]]), "index": args.index,
           "requests_per_block": args.block, "rounds": args.rounds, "variants": per, "ratios": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"cpu_ms_per_request": {n: {k: v for k, v in p.items() if k != "opensearch_cpu_ms_blocks"}
                                             for n, p in per.items()}, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
