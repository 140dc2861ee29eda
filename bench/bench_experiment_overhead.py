"""What an experiment adds to the /search latency of its traffic: the same searches in and out of
it, interleaved, in one run per method.

    scripts/opensearch.sh start
    .venv/bin/python bench/bench_experiment_overhead.py [--index fashion] [--rounds 400] [--repeats 3]

For each method (ab, interleave) starts `sidecar serve --backend opensearch --workers 1` over the
index (the full fashion catalog when indexed, else the demo catalog as bench-experiments) with the
shipped rules plus an experiment of share 1 whose arm b is the shipped rules without `dedup` (the
pair bench_experiments.py simulates). Then sends the fashion dev queries (default mode, size 20)
one at a time, each twice in a row in alternating order: once without a client id (the rules as
usual) and once with one (in the experiment; client ids cycle, so an A/B run sees both arms).
Reports p50 and p99 of each and the p50 ratio, in each of ``--repeats`` runs (the methods
alternate); the figure is the median run's ratio (target: an experiment adds at most 10%).
Writes bench/results/experiment-overhead.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_experiments import without_dedup  # noqa: E402
from bench_faults import ensure_index, free_port, wait_ready  # noqa: E402

from sidecar.config import default  # noqa: E402
from sidecar.opensearch.client import make_client  # noqa: E402

FASHION_QUERIES = ROOT.parent / "shared" / "data" / "fashion" / "queries-dev.jsonl"


def rules_with_experiment(tmp: Path, method: str) -> Path:
    serving, arm = tmp / f"rules-{method}", tmp / f"rules-{method}.b"
    shutil.copytree(ROOT / "query_rules", serving)
    arm.mkdir()
    without_dedup(ROOT / "query_rules", arm)
    (serving / "90-experiments.yaml").write_text(
        f"experiments:\n  - name: bench-{method}\n    b: ../{arm.name}\n    share: 1.0\n    method: {method}\n")
    return serving


def measure(args, sidecar: str, rules: Path, queries: list[str], log: Path) -> dict[str, list[float]]:
    port = free_port()
    proc = subprocess.Popen([sidecar, "serve", "--backend", "opensearch", "--url", args.url, "--index", args.index,
                             "--port", str(port), "--workers", "1", "--rules", str(rules)], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, env={**os.environ, "SIDECAR_LOG_LEVEL": "WARNING"},
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/search"
    times: dict[str, list[float]] = {"without": [], "with": []}
    arms: dict[str, int] = {}
    try:
        if not wait_ready(port, 180):
            raise SystemExit(f"the sidecar did not become ready; see {log}")
        session = requests.Session()
        for i, w in enumerate(("shirt", "shoes", "watch", "jeans", "kurta") * 4):  # warm both paths
            session.post(url, json={"q": f"{w} warm", "size": 20, "client_id": f"warm-{i}"}, timeout=30).raise_for_status()
            session.post(url, json={"q": f"{w} warm", "size": 20}, timeout=30).raise_for_status()
        for i in range(args.rounds):
            q = queries[i % len(queries)]
            pair = [({"q": q, "size": 20}, "without"), ({"q": q, "size": 20, "client_id": f"shopper-{i}"}, "with")]
            for body, label in (pair if i % 2 == 0 else pair[::-1]):
                t0 = time.perf_counter()
                r = session.post(url, json=body, timeout=30)
                times[label].append(time.perf_counter() - t0)
                r.raise_for_status()
                if label == "with":
                    arm = r.json()["experiment"]["arm"]
                    arms[arm] = arms.get(arm, 0) + 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    return {**times, "arms": arms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=default("opensearch_url"), help="OpenSearch URL (default: from .env)")
    ap.add_argument("--index", default="fashion")
    ap.add_argument("--rounds", type=int, default=400, help="pairs of searches per method and run (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of both methods (an odd number), each on fresh "
                    "servers; the figure is the median run's ratio (default: %(default)s)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "experiment-overhead.json"))
    args = ap.parse_args()
    if args.repeats < 1 or args.repeats % 2 == 0:
        ap.error("--repeats: an odd number of runs (the figure is the median run's)")
    sidecar = str(Path(sys.executable).parent / "sidecar")
    client = make_client(args.url, timeout=30)
    args.index = ensure_index(client, args.url, args.index, "bench-experiments")
    queries = ([json.loads(line)["query"] for line in FASHION_QUERIES.read_text().splitlines() if line.strip()]
               if FASHION_QUERIES.exists() else ["black jacket", "puma tshirt", "women sandals", "red kurta", "men watch"])

    def ms(xs: list[float], q: float) -> float:
        return round(float(np.percentile(xs, q)) * 1000, 2)

    out = {"command": " ".join(["python bench/bench_experiment_overhead.py", *sys.argv[1:]]), "index": args.index,
           "documents": client.count(index=args.index)["count"], "rounds": args.rounds, "repeats": args.repeats,
           "queries": len(queries), "arm_b": "the shipped rules without dedup"}
    runs: dict[str, list[dict]] = {"ab": [], "interleave": []}
    with tempfile.TemporaryDirectory(prefix="bench-experiments-") as tmp:
        for r in range(args.repeats):  # the methods alternate, so a slower spell of the machine hits both
            work = Path(tmp) / f"run-{r + 1}"
            work.mkdir()
            for method in ("ab", "interleave"):
                got = measure(args, sidecar, rules_with_experiment(work, method), queries, work / f"{method}.log")
                run = {"pairs": len(got["with"]), "arms_served": got["arms"],
                       "without_ms": {"p50": ms(got["without"], 50), "p99": ms(got["without"], 99)},
                       "with_ms": {"p50": ms(got["with"], 50), "p99": ms(got["with"], 99)},
                       "p50_ratio": round(ms(got["with"], 50) / ms(got["without"], 50), 3)}
                runs[method].append(run)
                print(f"run {r + 1}, {method}: p50 {run['without_ms']['p50']} ms without, {run['with_ms']['p50']} ms "
                      f"in the experiment ({run['p50_ratio']}x)", file=sys.stderr)
    for method, rs in runs.items():
        ratios = [x["p50_ratio"] for x in rs]
        out[method] = {"runs": rs, "p50_ratios": ratios, "p50_ratio": round(float(np.median(ratios)), 3)}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
