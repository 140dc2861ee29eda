"""Benchmark of the pure reranking core on the fashion catalog (issue: reranking core, speed).

    .venv/bin/python bench/bench_rerank.py [--fashion ../shared/data/fashion] [--repeats 300]

Builds 1,000 real candidates (the top kNN neighbours of a dev query, 384-d MiniLM vectors,
MinHash signatures stored as at index time) and times, in-process:
  full     rerank(): 5 constraints + dedup + MMR, selecting 50 (vectors given as arrays)
  agents   the agent loop alone (version 3, score order): 1,000 candidates x 5 constraints, selecting 50 and all 1,000
  mmr      mmr_select alone (n=1,000, k=50) against pyversity's MMR, same inputs, same run
  dedup    query-time grouping of 1,000 stored signatures with exact verification (decode + group)
Prints p50/p99 per case and writes bench/results/rerank.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.rerank import rerank  # noqa: E402
from sidecar.rerank import dedup  # noqa: E402
from sidecar.rerank.agents import ScoreOrder, place  # noqa: E402
from sidecar.rerank.api import compile_agent, normalized_scores  # noqa: E402
from sidecar.rerank.mmr import mmr_select, unit_rows  # noqa: E402
from sidecar.rerank.tokens import shingle_set  # noqa: E402
from sidecar.rerank.rule import parse_rule  # noqa: E402

RULE = {
    "id": "bench",
    "lambda": 0.5,
    "mmr": {"diversity": 0.3},
    "dedup": {"field": "title", "threshold": 0.8, "num_perm": 64},
    "constraints": [
        {"field": "brand", "any": True, "max": 0.3},
        {"field": "seller", "any": True, "max": 0.2},
        {"field": "condition", "values": ["used", "refurbished"], "min": 0.1},
        {"field": "listed_at", "gte": "2026-06-01", "min": 0.2},
        {"field": "category", "value": "Topwear", "max": 0.5},
    ],
}


def timed(fn, repeats: int) -> dict[str, float]:
    for _ in range(max(3, repeats // 20)):  # warm-up
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    a = np.array(samples)
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "mean_ms": round(float(a.mean()), 4), "runs": repeats}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rerank.json")
    args = ap.parse_args()
    if not (args.fashion / "catalog.jsonl").exists():
        print(f"fashion data not found at {args.fashion}", file=sys.stderr)
        return 2

    rows = [json.loads(line) for line in open(args.fashion / "catalog.jsonl", encoding="utf-8")]
    vecs = np.load(args.fashion / "vectors-minilm.f16.npy").astype(np.float32)
    qv = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)[1]
    top = np.argsort(-(vecs @ qv), kind="stable")[:1000]
    sigs = dedup.signatures([rows[i]["title"] for i in top], 64)
    cands = [{"id": rows[i]["id"], "score": float(vecs[i] @ qv), "title": rows[i]["title"],
              "fields": {k: rows[i][k] for k in ("brand", "seller", "condition", "listed_at", "category")},
              "vector": vecs[i], "signature": dedup.encode_signature(sigs[j])} for j, i in enumerate(top)]
    request = {"candidates": cands, "rule": RULE, "size": 50, "query_vector": qv}

    results: dict[str, dict] = {}
    results["full_5c_dedup_mmr_k50"] = timed(lambda: rerank(request), args.repeats)

    rule = parse_rule(RULE)
    ranked = sorted(cands, key=lambda c: -c["score"])
    agents = [compile_agent(c, ranked) for c in rule.constraints]
    base = normalized_scores(np.array([c["score"] for c in ranked]), True)
    results["agents_1000x5_k50"] = timed(lambda: place(agents, 0.5, 50, ScoreOrder(base)), args.repeats)
    results["agents_1000x5_k1000"] = timed(lambda: place(agents, 0.5, 1000, ScoreOrder(base)), max(20, args.repeats // 10))

    emb = vecs[top]
    rel = emb @ qv
    ours = timed(lambda: mmr_select(rel, unit_rows(emb), 0.3, 50), args.repeats)
    results["mmr_1000_k50_ours"] = ours
    try:
        from pyversity import diversify

        results["mmr_1000_k50_pyversity"] = timed(lambda: diversify(emb, rel, 50, strategy="mmr", diversity=0.3), args.repeats)
        theirs = diversify(emb, rel, 50, strategy="mmr", diversity=0.3)
        results["mmr_same_selection_as_pyversity"] = mmr_select(rel, unit_rows(emb), 0.3, 50)[0] == list(map(int, theirs.indices))
    except ImportError:
        print("pyversity not installed (pip install -e '.[dev]'): MMR comparison skipped", file=sys.stderr)

    stored = [c["signature"] for c in cands]
    titles = [c["title"] for c in cands]
    results["dedup_group_1000_stored"] = timed(
        lambda: dedup.group(dedup.decode_signatures(stored, 64), 0.8, [shingle_set(t) for t in titles]), args.repeats)

    meta = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(), "command": "python bench/bench_rerank.py " + " ".join(sys.argv[1:])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    width = max(map(len, results))
    for name, r in results.items():
        if isinstance(r, dict):
            print(f"{name:<{width}}  p50 {r['p50_ms']:8.3f} ms   p99 {r['p99_ms']:8.3f} ms")
        else:
            print(f"{name:<{width}}  {r}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
