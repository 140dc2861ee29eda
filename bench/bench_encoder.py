"""The query encoder's cost: one query against the kNN search it feeds, a cache hit, a whole
catalog, and the memory a worker gains.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_encoder.py [--index fashion] [--queries 300]

1. Per query, interleaved: encode the text (a cache miss: every text is new to the encoder), then
   the kNN search the sidecar sends for it (window 200, the product fields, as the OpenSearch
   backend builds it) on the same node. Target: encode p50 <= 0.5 x kNN p50, same run.
   Queries: the fashion dev queries, then the same with each shopper word of
   bench/data/shopper-words.json, then numbered variants, until --queries.
2. A cache hit: the same texts again. Target: p50 <= 0.05 ms.
3. Embedding every title of the fashion catalog (44,446) as `sidecar index` does without
   --vectors (batched by length, every core). Target: <= 3 min here.
4. RSS: a fresh process's resident memory before loading the encoder and after loading it and
   encoding one query (what a worker gains).
Writes bench/results/encoder.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_faults import ensure_index  # noqa: E402

from sidecar.config import default  # noqa: E402
from sidecar.encoder import ALL_CORES, load  # noqa: E402
from sidecar.opensearch.client import make_client  # noqa: E402
from sidecar.retrieval.base import RetrievalRequest  # noqa: E402
from sidecar.retrieval.opensearch_backend import OpenSearchBackend  # noqa: E402

FASHION = ROOT.parent / "shared" / "data" / "fashion"
RSS_PROBE = """
import resource, sys
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize() / 2**20
import sidecar.pipeline, sidecar.retrieval.opensearch_backend  # what a worker has loaded before
before = rss()
from sidecar.encoder import load
enc = load(sys.argv[1])
enc.query("black running shoes for men")
print(before, rss())
"""


def texts(n: int) -> list[str]:
    dev = [json.loads(line)["query"] for line in (FASHION / "queries-dev.jsonl").open()]
    words = json.loads((ROOT / "bench" / "data" / "shopper-words.json").read_text())["words"]
    out = list(dict.fromkeys(dev + [f"{q} {w}" for q in dev[:50] for w in words.values()]))
    i = 0
    while len(out) < n:
        out.append(f"{dev[i % len(dev)]} size {i}")
        i += 1
    return out[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"), help="OpenSearch URL (default: from .env)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "encoder.json"))
    args = ap.parse_args()
    if not (FASHION / "catalog.jsonl").is_file():
        print(f"the fashion data is not at {FASHION}", file=sys.stderr)
        return 2
    client = make_client(args.url, timeout=30)
    index = ensure_index(client, args.url, args.index, fallback="bench-encoder")
    backend = OpenSearchBackend(client, index, 30.0)
    encoder = load(default("encoder"))
    qs = texts(args.queries)
    encoder.query("warm up the session")
    backend.retrieve(RetrievalRequest("knn", None, encoder.query("warm up knn"), {}, 200))
    enc_ms, knn_ms = [], []
    for q in qs:  # interleaved: each query's encoding, then its kNN search
        t = time.perf_counter()
        v = encoder.query(q)
        enc_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        backend.retrieve(RetrievalRequest("knn", None, v, {}, 200))
        knn_ms.append((time.perf_counter() - t) * 1000)
    hit_ms = []
    for q in qs:
        t = time.perf_counter()
        encoder.query(q)
        hit_ms.append((time.perf_counter() - t) * 1000)
    titles = [json.loads(line)["title"] for line in (FASHION / "catalog.jsonl").open()]
    bulk = load(default("encoder"), threads=ALL_CORES)
    t = time.perf_counter()
    bulk.encode(titles, progress="embedding titles")
    catalog_s = time.perf_counter() - t
    before, after = map(float, subprocess.run([sys.executable, "-c", RSS_PROBE, default("encoder")], check=True,
                                              capture_output=True, text=True, cwd=ROOT).stdout.split())
    p50 = lambda xs: float(np.percentile(xs, 50))  # noqa: E731
    p99 = lambda xs: float(np.percentile(xs, 99))  # noqa: E731
    result = {
        "command": "python bench/bench_encoder.py " + " ".join(sys.argv[1:]),
        "index": index, "queries": len(qs), "encoder": encoder.name, "cores": ALL_CORES,
        "encode_ms": {"p50": round(p50(enc_ms), 3), "p99": round(p99(enc_ms), 3)},
        "knn_search_ms": {"p50": round(p50(knn_ms), 3), "p99": round(p99(knn_ms), 3)},
        "encode_over_knn_p50": round(p50(enc_ms) / p50(knn_ms), 3),
        "cache_hit_ms": {"p50": round(p50(hit_ms), 5), "p99": round(p99(hit_ms), 5)},
        "catalog": {"titles": len(titles), "seconds": round(catalog_s, 1),
                    "titles_per_second": round(len(titles) / catalog_s)},
        "worker_rss_mb": {"before": round(before, 1), "after": round(after, 1), "gain": round(after - before, 1)},
    }
    result["targets"] = {"encode p50 <= 0.5 x knn p50": result["encode_over_knn_p50"] <= 0.5,
                         "cache hit p50 <= 0.05 ms": result["cache_hit_ms"]["p50"] <= 0.05,
                         "44k titles <= 180 s": catalog_s <= 180}
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
