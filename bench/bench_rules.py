"""Benchmark of rule loading and matching (issue: per-query YAML rules).

    .venv/bin/python bench/bench_rules.py [--rules 10000] [--files 10]

Writes N generated rules (exact queries, one in ten with a pattern, two constraints like the shipped
ones, drawn from 28 distinct ones as a merchandising team's rules repeat a small vocabulary) into a temporary directory, times load_rules_dir (parse + schema + semantic checks) and
RuleSet.match for exact hits, pattern hits and default fall-through; and the reload after one
file of the ten is edited (unchanged files come from the loader's content-keyed cache). Writes bench/results/rules.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.rules import load_rules_dir  # noqa: E402
from sidecar.rules import loader  # noqa: E402


def make_rules(directory: Path, n: int, files: int) -> None:
    per_file = n // files
    for f in range(files):
        lines = ["rules:"]
        for i in range(f * per_file, (f + 1) * per_file):
            lines.append(f"  - id: rule-{i}")
            pattern = f", patterns: ['\\bterm{i}\\b']" if i % 10 == 0 else ""
            lines.append(f"    match: {{queries: ['query {i}', 'query {i} alt']{pattern}}}")
            lines.append("    window: 200")
            lines.append("    lambda: 0.5")
            lines.append("    constraints:")  # drawn from a vocabulary of 2 x 8 caps and 2 x 6 minimums
            lines.append(f"      - {{field: {('brand', 'seller')[i // 8 % 2]}, any: true, max: {0.2 + (i % 8) * 0.025:g}}}")
            lines.append(f"      - {{field: condition, values: {('[used, refurbished]', '[used]')[i // 6 % 2]}, "
                         f"min: {0.05 + (i % 6) * 0.025:g}}}")
        if f == 0:
            lines += ["  - id: default", "    match: {default: true}"]
        (directory / f"rules-{f:03d}.yaml").write_text("\n".join(lines) + "\n")


def timed(fn, repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    a = np.array(samples) * 1e6
    return {"p50_us": round(float(np.percentile(a, 50)), 2), "p99_us": round(float(np.percentile(a, 99)), 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", type=int, default=10000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rules.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make_rules(d, args.rules, args.files)
        loads = []
        for _ in range(3):
            loader._CACHE.clear()  # cold: every file parsed and validated, every constraint parsed
            t0 = time.perf_counter()
            rs = load_rules_dir(d)
            loads.append(time.perf_counter() - t0)
        edited = d / "rules-003.yaml"  # what a merchandiser's edit costs the running service
        edited.write_text(edited.read_text().replace("window: 200", "window: 150", 1))
        t0 = time.perf_counter()
        rs = load_rules_dir(d)
        reload_one = time.perf_counter() - t0
    assert len(rs.located) == args.rules + 1
    rng = np.random.default_rng(0)
    exact_q = [f"Query {i}" for i in rng.integers(0, args.rules, 1000)]
    pattern_q = [f"some term{i} here" for i in rng.integers(0, args.rules // 10, 200) * 10]
    it = iter(exact_q * 5)
    results = {
        "rules": args.rules,
        "load_seconds_best_of_3": round(min(loads), 3),
        "load_seconds_all": [round(x, 3) for x in loads],
        "reload_after_editing_one_of_the_files_seconds": round(reload_one, 3),
        "match_exact": timed(lambda: rs.match(next(it)), 5000),
        "match_pattern_hit_first_file": timed(lambda: rs.match("some term10 here"), 2000),
        "match_pattern_random": timed(lambda: [rs.match(q) for q in pattern_q[:1]], 200),
        "match_default_scans_all_patterns": timed(lambda: rs.match("no such thing"), 500),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
