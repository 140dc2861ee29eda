"""The reranking core at two commits, in the same run: is a refactor as fast as what it replaced?

    .venv/bin/python bench/bench_versions.py --before REV [--after WORKTREE] [--rounds 8] [--calls 200]

``--before`` is checked out into a temporary git worktree; ``--after`` defaults to this working
tree. Each round runs one fresh process per side, alternating, and each process times ``--calls``
back-to-back calls per case after a warm-up (the kernels load from numba's cache after the first
round). The cases are bench_rerank's: 1,000 real fashion candidates, rerank_batch with 5
constraints + dedup + MMR (k 50), the same over DPP, the agent loop alone over score order, and
the near-duplicate grouping of the 1,000 alone.
Prints, per case, the median over rounds of after/before (of each side's median call), so a
machine that runs 2x slower for a while slows both sides of a round alike. Writes
bench/results/versions.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from sidecar.rerank import CandidateBatch, rerank_batch, dedup
from sidecar.rerank.agents import place
try:  # the core's orchestration module, named rerank/api.py before 2026-12
    from sidecar.rerank.reranking import compile_agent, dedup_groups, normalized_scores
except ImportError:
    from sidecar.rerank.api import compile_agent, dedup_groups, normalized_scores
from sidecar.rerank.rule import parse_rule
from sidecar.rerank.strategies import STRATEGIES
fashion, calls = sys.argv[2], int(sys.argv[3])
rows = [json.loads(line) for line in open(fashion + "/catalog.jsonl", encoding="utf-8")]
vecs = np.load(fashion + "/vectors-minilm.f16.npy").astype(np.float32)
qv = np.load(fashion + "/query-vectors-dev.f16.npy").astype(np.float32)[1]
top = np.argsort(-(vecs @ qv), kind="stable")[:1000]
emb = np.ascontiguousarray(vecs[top])
titles = [rows[i]["title"] for i in top]
fields = {f: [rows[i].get(f) for i in top] for f in ("brand", "seller", "condition", "price", "category")}
batch = CandidateBatch.from_columns([rows[i]["id"] for i in top], (emb @ qv).astype(np.float64), fields, vectors=emb,
                                    signatures=dedup.signatures(titles, 64), texts=titles)
cons = [{"field": "brand", "any": True, "max": 0.3}, {"field": "seller", "any": True, "max": 0.2},
        {"field": "condition", "values": ["used", "refurbished"], "min": 0.1},
        {"field": "price", "gte": 500, "min": 0.2}, {"field": "category", "any": True, "max": 0.5}]
dd = {"field": "title", "threshold": 0.8, "num_perm": 64, "collapse": True}
mmr = parse_rule({"id": "m", "lambda": 0.5, "mmr": {"diversity": 0.3}, "constraints": cons, "dedup": dd})
dpp = parse_rule({"id": "d", "lambda": 0.5, "dpp": {"diversity": 0.5}, "constraints": cons, "dedup": dd})
agents = [compile_agent(c, batch) for c in mmr.constraints]
base = normalized_scores(batch.scores, True)
score = STRATEGIES["score"]
cases = {"full_mmr": lambda: rerank_batch(batch, mmr, size=50, query_vector=qv),
         "full_dpp": lambda: rerank_batch(batch, dpp, size=50, query_vector=qv),
         "agents_score": lambda: place(agents, 0.5, 50, score, score.prepare(base, None, 0.0, 50)),
         "dedup": lambda: dedup_groups(batch, mmr.dedup, np.arange(1000))}
out = {}
for name, fn in cases.items():
    for _ in range(5):
        fn()
    t = []
    for _ in range(calls):
        t0 = time.perf_counter(); fn(); t.append(time.perf_counter() - t0)
    out[name] = sorted(t)[len(t) // 2] * 1000
print(json.dumps(out))
'''


def run(tree: Path, fashion: Path, calls: int) -> dict[str, float]:
    res = subprocess.run([sys.executable, "-c", PROBE, str(tree), str(fashion), str(calls)], capture_output=True,
                         text=True, cwd=tree)
    if res.returncode != 0:
        raise SystemExit(f"{tree}: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="a commit of this repository")
    ap.add_argument("--after", type=Path, default=ROOT, help="a source tree (default: this one)")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "versions.json")
    args = ap.parse_args()
    if not (args.fashion / "catalog.jsonl").exists():
        print(f"fashion data not found at {args.fashion}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before], check=True,
                       capture_output=True)
        try:
            run(before, args.fashion, 5), run(args.after, args.fashion, 5)  # compile both (numba's cache)
            rounds = []
            for r in range(args.rounds):
                pair = [run(before, args.fashion, args.calls), run(args.after, args.fashion, args.calls)]
                if r % 2:  # alternate which side goes first
                    pair = [run(args.after, args.fashion, args.calls), run(before, args.fashion, args.calls)][::-1]
                rounds.append(pair)
                print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{k} {pair[0][k]:.3f} -> {pair[1][k]:.3f} ms" for k in pair[0]), file=sys.stderr)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], capture_output=True)
    ratios = {k: round(statistics.median(a[k] / b[k] for b, a in rounds), 3) for k in rounds[0][0]}
    result = {"before": args.before, "after": str(args.after), "rounds": args.rounds, "calls": args.calls,
              "after_over_before_median": ratios,
              "before_ms_median": {k: round(statistics.median(b[k] for b, _ in rounds), 3) for k in ratios},
              "after_ms_median": {k: round(statistics.median(a[k] for _, a in rounds), 3) for k in ratios}}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
