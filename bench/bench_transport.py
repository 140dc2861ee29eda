"""What a kNN window of 200 costs to fetch, by what each hit carries (the design of vector_f16).

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_transport.py [--rounds 60] [--index fashion]

Needs the fashion index written by `sidecar index` (with vector_f16). For each dev query vector,
cycled, sends in rotating order the same kNN search (k = size = 200) with these `_source` fields,
reads and JSON-decodes each answer, and reports p50 and the response size:
  fields             the product fields /search returns
  fields+minhash     plus the stored MinHash signature (base64 uint32)
  fields+vector_f16  plus the vector as base64 float16 (what MMR reads now)
  fields+vector      plus the vector as JSON float lists (an index without vector_f16)
  fields+vector_f16 filter_path   the same as fields+vector_f16, the answer trimmed by OpenSearch's
                     filter_path to what is read (ids, scores, sources, count, took): OpenSearch
                     filters while it writes, and that costs more than the few bytes it drops
                     (_index, _shards, max_score), so the backend does not ask for it
Writes bench/results/transport.json.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
from urllib.parse import urlsplit
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar import config  # noqa: E402
from sidecar.catalog import FIELDS  # noqa: E402
from sidecar.retrieval.hits import SIGNATURE_FIELD, VECTOR_BINARY_FIELD, VECTOR_FIELD  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch (default: .env's port)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "transport.json")
    args = ap.parse_args()
    qvecs = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)
    cases = {"fields": [*FIELDS], "fields+minhash": [*FIELDS, SIGNATURE_FIELD],
             "fields+vector_f16": [*FIELDS, VECTOR_BINARY_FIELD], "fields+vector": [*FIELDS, VECTOR_FIELD],
             "fields+vector_f16 filter_path": [*FIELDS, VECTOR_BINARY_FIELD]}
    trimmed = "?filter_path=took,hits.total,hits.hits._id,hits.hits._score,hits.hits._source"
    url = urlsplit(args.url)
    conn = http.client.HTTPConnection(url.hostname, url.port or 9200, timeout=30)
    lat: dict[str, list[float]] = {k: [] for k in cases}
    size: dict[str, int] = {}
    names = list(cases)
    for r in range(args.rounds + 5):
        for name in names[r % len(names):] + names[:r % len(names)]:
            body = {"size": 200, "_source": cases[name],
                    "query": {"knn": {VECTOR_FIELD: {"vector": qvecs[r % len(qvecs)].tolist(), "k": 200}}}}
            t0 = time.perf_counter()
            path = f"/{args.index}/_search" + (trimmed if name.endswith("filter_path") else "")
            conn.request("POST", path, body=orjson.dumps(body),
                         headers={"Content-Type": "application/json"})
            raw = conn.getresponse().read()
            hits = orjson.loads(raw)["hits"]["hits"]
            if r >= 5:  # the first rounds warm caches
                lat[name].append(time.perf_counter() - t0)
            size[name] = len(raw)
            if name == "fields+vector_f16" and VECTOR_BINARY_FIELD not in hits[0]["_source"]:
                print(f"index {args.index} has no {VECTOR_BINARY_FIELD}: re-index it with `sidecar index --recreate`",
                      file=sys.stderr)
                return 2
    results = {"command": "python bench/bench_transport.py " + " ".join(sys.argv[1:]), "index": args.index,
               "cases": {k: {"p50_ms": round(float(np.median(v)) * 1000, 2), "response_kb": round(size[k] / 1000, 1),
                             "n": len(v)} for k, v in lat.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
