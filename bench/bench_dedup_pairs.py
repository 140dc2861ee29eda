"""How many candidate pairs near-duplicate detection meets, and what the bound of issue 15 costs.

    .venv/bin/python bench/bench_dedup_pairs.py [--fashion ../shared/data/fashion] [--windows 150]

1. Real windows: for each dev query vector, the top 1,000 exact-kNN neighbours in the fashion
   catalog; the pairs their titles meet in LSH buckets (``dedup.group``'s count, found as the
   smallest ``max_pairs`` that does not raise TooManyPairs) at threshold 0.8 and 0.5, 64
   permutations. SIDECAR_MAX_DEDUP_PAIRS must sit well above these.
2. The bomb of issue 15: 1,000 similar titles at threshold 0.05, 256 permutations: the unbounded
   grouping's time and pair count, and the time until the default bound stops it, in the same run.
Writes bench/results/dedup-pairs.json.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sidecar.config import BY_NAME  # noqa: E402
from sidecar.rerank import dedup  # noqa: E402


def pairs_met(sigs: np.ndarray, threshold: float, titles: list[str]) -> int:
    """The smallest max_pairs that lets the grouping finish: the pairs it meets."""
    lo, hi = 0, 1
    while True:
        try:
            dedup.group(sigs, threshold, titles, max_pairs=hi)
            break
        except dedup.TooManyPairs:
            lo, hi = hi + 1, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            dedup.group(sigs, threshold, titles, max_pairs=mid)
            hi = mid
        except dedup.TooManyPairs:
            lo = mid + 1
    return lo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--windows", type=int, default=150, help="dev queries used (default: all 150)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dedup-pairs.json")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.fashion / "catalog.jsonl", encoding="utf-8")]
    vecs = np.load(args.fashion / "vectors-minilm.f16.npy").astype(np.float32)
    qvs = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)[: args.windows]
    real: dict[str, list[int]] = {"0.8": [], "0.5": []}
    for qv in qvs:
        titles = [rows[i]["title"] for i in np.argsort(-(vecs @ qv), kind="stable")[:1000]]
        sigs = dedup.signatures(titles, 64)
        for t in real:
            real[t].append(pairs_met(sigs, float(t), titles))
    rng = random.Random(1)
    words = "red blue cotton shirt men women casual slim fit navy black white tee polo round neck".split()
    titles = [" ".join(rng.sample(words, 8)) for _ in range(1000)]
    sigs = dedup.signatures(titles, 256)
    bound = BY_NAME["max_dedup_pairs"].default
    t0 = time.perf_counter()
    dedup.group(sigs, 0.05, titles)
    unbounded = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        dedup.group(sigs, 0.05, titles, max_pairs=bound)
    except dedup.TooManyPairs:
        pass
    bounded = time.perf_counter() - t0
    out = {"command": "python bench/bench_dedup_pairs.py " + " ".join(sys.argv[1:]),
           "real_windows": {t: {"windows": len(v), "max": max(v), "p50": int(np.median(v))} for t, v in real.items()},
           "bomb": {"pairs_met": pairs_met(sigs, 0.05, titles), "unbounded_ms": round(unbounded * 1000, 1),
                    "stopped_at_default_bound_ms": round(bounded * 1000, 1), "default_bound": bound}}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
