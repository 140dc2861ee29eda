"""What validating a request against its schema (sidecar/search/contract.py) costs, beside parsing it.

    python bench/bench_contract.py [--candidates 1000] [--dim 384] [--rounds 30]

A /rerank body of N candidates with fields and D-dimensional vectors: orjson parse, the
schema's yes/no (jsonschema-rs), and the core's own candidate checks, interleaved per round;
p50 of each and the ratio validate/parse of the same run. Writes bench/results/contract.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import orjson

from sidecar.search import contract
from sidecar.rerank.reranking import candidates_batch

OUT = Path(__file__).resolve().parent / "results" / "contract.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    body = {"candidates": [{"id": str(i), "score": float(rng.random()),
                            "fields": {"brand": f"b{i % 37}", "seller": f"s{i % 91}", "title": f"item {i} shirt"},
                            "vector": rng.random(args.dim).astype(np.float32).tolist()} for i in range(args.candidates)],
            "rule": {"id": "bench", "mmr": {"diversity": 0.5}, "constraints": [{"field": "brand", "any": True, "max": 0.3}]},
            "size": 50}
    raw = orjson.dumps(body)
    contract.validate("RerankRequest", body)  # compile the validator outside the timing
    samples: dict[str, list[float]] = {"parse": [], "validate": [], "core_checks": []}
    for _ in range(args.rounds):
        for name, fn in (("parse", lambda: orjson.loads(raw)), ("validate", lambda: contract.validate("RerankRequest", body)),
                         ("core_checks", lambda: candidates_batch(body["candidates"]))):
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    p50 = {k: round(float(np.percentile(v, 50)) * 1000, 3) for k, v in samples.items()}
    result = {"command": f"python bench/bench_contract.py --candidates {args.candidates} --dim {args.dim} "
                         f"--rounds {args.rounds}", "body_bytes": len(raw), "p50_ms": p50,
              "validate_over_parse": round(p50["validate"] / p50["parse"], 3)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
