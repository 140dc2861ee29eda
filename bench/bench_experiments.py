"""Can the experiments tell a better rule set from a worse one, and how soon? (issue 30's targets)

    .venv/bin/python bench/bench_experiments.py [--runs 20] [--model pbm] [--sessions 200000] [--ab-sessions 3000000]

Rule set A is the shipped rules; B is the same rules with every `dedup` removed (near-duplicates
stay on the page). Both sets' pages are built from the fashion dev queries (kNN, memory backend,
K = 10) as /search builds them, and `sidecar experiments simulate` lets simulated shoppers click
by the queries' graded judgments: the sessions A/B and team-draft interleaving need to name the
set the judgments prefer at 95% with 80% power (each run estimates it from its own simulated
sessions, which must outnumber what it finds it needs; the median of --runs runs), and the A/A
false-winner rate (one test per run). About 10 minutes on 2 cores. Writes bench/results/experiments.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def without_dedup(src: Path, dst: Path) -> None:
    for f in sorted(src.glob("*.yaml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        for rule in data.get("rules", []):
            rule.pop("dedup", None)
        (dst / f.name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--model", default="pbm")
    ap.add_argument("--sessions", type=int, default=200000, help="sessions of an interleaving run")
    ap.add_argument("--ab-sessions", type=int, default=3000000, help="sessions of an A/B run (it needs more)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "experiments.json")
    args = ap.parse_args()
    if not (args.fashion / "catalog.jsonl").exists():
        print(f"fashion data not found at {args.fashion}", file=sys.stderr)
        return 2
    sidecar = shutil.which("sidecar", path=str(Path(sys.executable).parent)) or "sidecar"
    with tempfile.TemporaryDirectory() as tmp:
        b = Path(tmp) / "rules-without-dedup"
        b.mkdir()
        without_dedup(ROOT / "query_rules", b)
        cmd = [sidecar, "experiments", "simulate", "--queries", str(args.fashion / "queries-dev.jsonl"),
               "--query-vectors", str(args.fashion / "query-vectors-dev.f16.npy"), "--backend", "memory",
               "--catalog", str(args.fashion / "catalog.jsonl"), "--vectors", str(args.fashion / "vectors-minilm.f16.npy"),
               "--mode", "knn", "--k", "10", "--a", str(ROOT / "query_rules"), "--b", str(b), "--runs", str(args.runs),
               "--model", args.model, "--sessions", str(args.sessions), "--ab-sessions", str(args.ab_sessions), "--json"]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr, file=sys.stderr)
        return res.returncode
    out = json.loads(res.stdout)
    out["command"] = "python bench/bench_experiments.py " + " ".join(sys.argv[1:])
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    ab, il = out["ab_sessions_median"], out["interleaving_sessions_median"]
    print(f"better by nDCG: {out['better_by_ndcg']}; sessions to name it at 95%: A/B {ab}, interleaving {il}"
          + (f" ({ab / il:.1f}x fewer)" if ab and il else "") + f"; A/A false winners {out['aa_false_winner_rate']:.1%}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
