"""Benchmark of the compiled reranking core on the fashion catalog (issue: columnar compiled core).

    .venv/bin/python bench/bench_rerank.py [--fashion ../shared/data/fashion] [--repeats 300]

1,000 real candidates (the top exact-kNN neighbours of a dev query, 384-d MiniLM vectors, MinHash
signatures stored as at index time, titles) as a CandidateBatch.
Absolute cases, each timed in its own loop after a warm-up (steady state, back-to-back calls):
  full        rerank_batch: 5 constraints (brand any, seller any, condition min, price range
              min, category any) + dedup (collapse) + MMR, select 50
  agents      the agent loop alone over score order, 5 constraints, select 50
  dedup       grouping 1,000 candidates by their signature matrix and titles, pairs verified by
              exact Jaccard (what rerank_batch does); decoding the base64 stored form is timed apart
Ratio cases, the two sides alternating call by call (so each ratio compares moments of one run):
  mmr         MMR alone (k = 50)  vs  pyversity's MMR, same inputs (and the same selection?)
  dpp         DPP alone (k = 50)  vs  pyversity's DPP, same inputs (and the same selection?)
  msd         MSD alone (k = 50)  vs  pyversity's MSD, same inputs (and the same selection?)
  json        rerank(request) on 1,000 candidate dicts with vector lists and titles, no stored
              signatures (computed on the fly)  vs  numpy.asarray of the vector lists alone
  base64      a window of 200 vectors as vector_f16 strings decoded by the compiled pass
              (rerank.packed)  vs  binascii.a2b_base64 of the same strings (the former path)
The full case is also timed inside the json rounds ("full_interleaved"): with the JSON case's
15 MB of Python lists churning the caches between calls it is slower than in steady state.
Also: the RSS a fresh process gains from importing and warming the core. Writes
bench/results/rerank.json.
"""
from __future__ import annotations

import argparse
import binascii
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.rerank import CandidateBatch, rerank, rerank_batch  # noqa: E402
from sidecar.rerank import dedup  # noqa: E402
from sidecar.rerank.agents import diversify, place  # noqa: E402
from sidecar.rerank.reranking import compile_agent, normalized_scores  # noqa: E402
from sidecar.rerank.batch import unit_rows  # noqa: E402
from sidecar.rerank.packed import decode_rows  # noqa: E402
from sidecar.rerank.rule import parse_rule  # noqa: E402
from sidecar.rerank.strategies import STRATEGIES  # noqa: E402
from sidecar.rerank.tokens import encode  # noqa: E402
from sidecar.rerank.warmup import warm  # noqa: E402

CONSTRAINTS = [
    {"field": "brand", "any": True, "max": 0.3},
    {"field": "seller", "any": True, "max": 0.2},
    {"field": "condition", "values": ["used", "refurbished"], "min": 0.1},
    {"field": "price", "gte": 500, "min": 0.2},
    {"field": "category", "any": True, "max": 0.5},
]
RULE = {"id": "bench", "lambda": 0.5, "mmr": {"diversity": 0.3}, "constraints": CONSTRAINTS,
        "dedup": {"field": "title", "threshold": 0.8, "num_perm": 64, "collapse": True}}
FIELDS = ("brand", "seller", "condition", "price", "category")


def _ranges(encoded: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    buf, offs = encoded
    return buf, offs[:-1], offs[1:]


def summary(samples: list[float]) -> dict[str, float]:
    a = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "mean_ms": round(float(a.mean()), 4), "runs": len(samples)}


def rss_gain() -> dict[str, float]:
    """RSS of a fresh interpreter before and after importing and warming the core (KiB, Linux)."""
    code = ("import resource, sys; sys.path.insert(0, %r)\n"
            "def rss():\n    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])\n"
            "import numpy, flask, opensearchpy; a = rss()\n"
            "from sidecar.rerank.warmup import warm; warm(); b = rss()\n"
            "print(a, b)") % str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, after = int(out[0]), int(out[1])
    return {"rss_before_mib": round(before / 1024, 1), "rss_after_mib": round(after / 1024, 1),
            "gained_mib": round((after - before) / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--query", type=int, default=1, help="which dev query's neighbours (default 1)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rerank.json")
    args = ap.parse_args()
    if not (args.fashion / "catalog.jsonl").exists():
        print(f"fashion data not found at {args.fashion}", file=sys.stderr)
        return 2
    try:
        from pyversity import diversify as pyversity_diversify
    except ImportError:
        print("pyversity is needed for the comparison: pip install -e '.[dev]'", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    warm()
    warm_s = time.perf_counter() - t0
    rows = [json.loads(line) for line in open(args.fashion / "catalog.jsonl", encoding="utf-8")]
    vecs = np.load(args.fashion / "vectors-minilm.f16.npy").astype(np.float32)
    qv = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)[args.query]
    top = np.argsort(-(vecs @ qv), kind="stable")[:1000]
    emb = np.ascontiguousarray(vecs[top])
    rel = (emb @ qv).astype(np.float64)
    titles = [rows[i]["title"] for i in top]
    sigs = dedup.signatures(titles, 64)
    stored = [dedup.encode_signature(s) for s in sigs]
    ids = [rows[i]["id"] for i in top]
    fields = {f: [rows[i].get(f) for i in top] for f in FIELDS}

    batch = CandidateBatch.from_columns(ids, rel, fields, vectors=emb, signatures=sigs, texts=titles)
    rule = parse_rule(RULE)
    agents = [compile_agent(c, batch) for c in rule.constraints]
    base = normalized_scores(batch.scores, True)
    score = STRATEGIES["score"]
    unit = unit_rows(emb)
    vector_lists = [v.tolist() for v in emb]
    request = {"candidates": [{"id": ids[j], "score": float(rel[j]), "title": titles[j], "vector": vector_lists[j],
                               "fields": {f: fields[f][j] for f in FIELDS}} for j in range(1000)],
               "rule": {**RULE}, "size": 50, "query_vector": qv.tolist()}

    f16 = [binascii.b2a_base64(v.astype("<f2").tobytes(), newline=False).decode("ascii") for v in emb[:200]]
    layout = rule.dedup.layout  # worked out once per rule, at parse time
    full = lambda: rerank_batch(batch, rule, size=50, query_vector=qv)  # noqa: E731
    absolute = {
        "full_5c_dedup_mmr_k50": full,
        "agents_5c_k50": lambda: place(agents, 0.5, 50, score, score.prepare(base, None, 0.0, 50)),
        "dedup_1000_verified": lambda: dedup.group_encoded(sigs, 0.8, *_ranges(encode(titles)), 1, layout),
        "decode_1000_base64_signatures": lambda: dedup.decode_signatures(stored, 64),
    }
    pairs = {
        "mmr": {"mmr_k50_ours": lambda: diversify("mmr", rel, unit, 0.3, 50),
                "mmr_k50_pyversity": lambda: pyversity_diversify(emb, rel, 50, strategy="mmr", diversity=0.3)},
        "dpp": {"dpp_k50_ours": lambda: diversify("dpp", rel, unit, 0.5, 50),
                "dpp_k50_pyversity": lambda: pyversity_diversify(emb, rel, 50, strategy="dpp", diversity=0.5)},
        "msd": {"msd_k50_ours": lambda: diversify("msd", rel, unit, 0.3, 50),
                "msd_k50_pyversity": lambda: pyversity_diversify(emb, rel, 50, strategy="msd", diversity=0.3)},
        "json": {"json_rerank_request": lambda: rerank(request),
                 "json_numpy_asarray_floor": lambda: np.asarray(vector_lists, dtype=np.float32),
                 "full_interleaved": full},
        "base64": {"decode_200_vector_f16_compiled": lambda: decode_rows(f16, "<f2"),
                   "decode_200_vector_f16_binascii": lambda: binascii.a2b_base64("".join(f16))},
    }
    samples: dict[str, list[float]] = {}
    for name, fn in absolute.items():
        for _ in range(max(5, args.repeats // 10)):
            fn()
        samples[name] = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t)
    for group in pairs.values():
        for fn in group.values():
            fn()
        for name in group:
            samples[name] = []
        for _ in range(args.repeats):
            for name, fn in group.items():
                t = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t)
    cases = {**absolute, **{name: fn for group in pairs.values() for name, fn in group.items()}}
    results: dict[str, object] = {name: summary(s) for name, s in samples.items()}

    p50 = {name: r["p50_ms"] for name, r in results.items()}
    results["ratios"] = {
        "mmr_speedup_vs_pyversity": round(p50["mmr_k50_pyversity"] / p50["mmr_k50_ours"], 2),
        "dpp_speedup_vs_pyversity": round(p50["dpp_k50_pyversity"] / p50["dpp_k50_ours"], 2),
        "msd_speedup_vs_pyversity": round(p50["msd_k50_pyversity"] / p50["msd_k50_ours"], 2),
        "json_path_over_asarray": round(p50["json_rerank_request"] / p50["json_numpy_asarray_floor"], 2),
        "base64_speedup_vs_binascii": round(p50["decode_200_vector_f16_binascii"]
                                            / p50["decode_200_vector_f16_compiled"], 2),
    }
    results["same_selection"] = {
        key: diversify(key, rel, unit, d, 50) == list(map(int, pyversity_diversify(emb, rel, 50, strategy=key,
                                                                                     diversity=d).indices))
        for key, d in (("mmr", 0.3), ("dpp", 0.5), ("msd", 0.3))}
    results["memory"] = rss_gain()
    results["warm_in_this_process_s"] = round(warm_s, 2)

    meta = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(), "command": "python bench/bench_rerank.py " + " ".join(sys.argv[1:])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    width = max(map(len, cases))
    for name in cases:
        r = results[name]
        print(f"{name:<{width}}  p50 {r['p50_ms']:8.3f} ms   p99 {r['p99_ms']:8.3f} ms")
    for key in ("ratios", "same_selection", "memory"):
        print(f"{key}: {results[key]}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
