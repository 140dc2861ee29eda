"""How many of a mutation tool's mutants does the suite without OpenSearch kill? (issue 38)

mutmut (3.x) mutates every function of the request-facing checks (the proxy policy, paging,
facets, fusion, rule matching, the events door), and runs the tests that cover each mutated
function with OpenSearch unreachable and the fashion data absent. A surviving mutant is a change
of behaviour no standalone test notices; some are equivalent (the same behaviour written another
way: ``x + 1`` where only its sign is read), so 100% is not the goal. Goal: >= 90% killed.

It runs on a copy of HEAD (``git archive``) in a temporary directory: the checkout is never
touched. Needs mutmut: ``.venv/bin/pip install -e '.[mutants]'``. Takes 20-40 minutes here.

    .venv/bin/python bench/bench_mutants.py [--keep DIR]

Writes bench/results/mutants.json: per file, killed / survived / other, and the surviving
mutants' names (``mutmut show NAME`` in the kept directory prints each diff).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ["sidecar/server/policy/walk.py", "sidecar/server/policy/aggregations.py", "sidecar/server/policy/values.py",
         "sidecar/server/policy/tables.py", "sidecar/search/paging.py", "sidecar/retrieval/facets.py",
         "sidecar/retrieval/fusion.py", "sidecar/rules/ruleset.py", "sidecar/server/routes/events.py"]
TESTS = ["tests/test_policy.py", "tests/test_policy_cases.py", "tests/test_boundaries.py", "tests/test_newcomer.py",
         "tests/test_fusion.py", "tests/test_rules.py", "tests/test_events_door.py", "tests/test_bounded_work.py",
         "tests/test_named.py", "tests/test_server.py", "tests/test_hardening.py", "tests/test_search_cases.py",
         "tests/test_docs.py"]
COPY = [".ci/", "query_rules/", "mappings/", "demo/", "docs/", "scripts/", "bench/", "README.md", "Dockerfile",
        "docker-compose.yml", ".env.example"]
GOAL = 0.90


def status(code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=Path, help="run in this directory and keep it (default: a temporary one)")
    ap.add_argument("--max-children", type=int, default=2, help="mutants run at once (default: 2, the cores here)")
    args = ap.parse_args()
    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        sys.exit("mutmut is not installed: .venv/bin/pip install -e '.[mutants]'")
    work = args.keep or Path(tempfile.mkdtemp(prefix="mutants-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                                text=True).stdout.strip()
        also = [c for c in COPY if (work / c).exists()]
        with open(work / "pyproject.toml", "a") as f:
            f.write("\n[tool.mutmut]\n"
                    f'source_paths = ["sidecar/"]\nonly_mutate = {json.dumps(FILES)}\n'
                    f"pytest_add_cli_args_test_selection = {json.dumps(TESTS)}\n"
                    f'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\nalso_copy = {json.dumps(also)}\n')
        env = {**os.environ, "SIDECAR_OPENSEARCH_URL": "http://127.0.0.1:1", "SIDECAR_FASHION_DIR": str(work / "none"),
               "NUMBA_CACHE_DIR": str(work / "numba"), "PYTHONPATH": ""}
        t0 = time.monotonic()
        run = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "run", "--max-children",
                              str(args.max_children)], cwd=work, env=env)
        seconds = time.monotonic() - t0
        per_file, survivors = {}, {}
        for f in FILES:
            meta = work / "mutants" / (f + ".meta")
            codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
            counts = Counter(status(c) for c in codes.values())
            per_file[f] = dict(counts)
            survivors[f] = sorted(k for k, c in codes.items() if status(c) == "survived")
        killed = sum(c.get("killed", 0) for c in per_file.values())
        judged = sum(c.get("killed", 0) + c.get("survived", 0) for c in per_file.values())
        total = sum(sum(c.values()) for c in per_file.values())
        if not judged:
            print(f"mutmut judged no mutant (exit {run.returncode}): its output above says why", file=sys.stderr)
            return 2
        score = killed / judged
        out = {"command": "python bench/bench_mutants.py", "commit": commit, "tool": "mutmut " + _version(),
               "files": per_file, "killed": killed, "judged": judged, "mutants": total, "score": round(score, 4),
               "goal": GOAL, "seconds": round(seconds), "mutmut_exit": run.returncode, "survivors": survivors}
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "mutants.json").write_text(json.dumps(out, indent=1) + "\n")
        for f, c in per_file.items():
            k, s = c.get("killed", 0), c.get("survived", 0)
            print(f"{f:36s} killed {k:4d}  survived {s:4d}  other {sum(c.values()) - k - s:3d}"
                  f"  {k / max(1, k + s):6.1%}")
        print(f"score: {killed}/{judged} killed = {score:.1%} (goal {GOAL:.0%}); {total} mutants in {seconds:.0f} s;"
              " bench/results/mutants.json")
        return 0 if score >= GOAL else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _version() -> str:
    from importlib.metadata import version

    return version("mutmut")


if __name__ == "__main__":
    sys.exit(main())
