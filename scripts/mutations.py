"""Does the suite without OpenSearch catch these bugs? Each mutation is a one-line change that a
review found the standalone tests missed; this applies it to a throwaway git worktree of HEAD,
runs the named tests with OpenSearch unreachable and the fashion data absent, and says which test
failed (CAUGHT) or that none did (MISSED). Exit 1 when one is missed.

    .venv/bin/python scripts/mutations.py [NAME-SUBSTRING ...]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTATIONS = [
    ("the proxy's index allow-list switched off", "sidecar/server/policy.py",
     "            if name not in self.indices:\n", "            if False and name not in self.indices:\n",
     ["tests/test_policy.py"]),
    ("regexp/wildcard/fuzzy queries allowed", "sidecar/server/policy.py",
     "        if kind in COSTLY_QUERIES:\n            if not self.p.allow_expensive:",
     "        if kind in COSTLY_QUERIES:\n            if False:", ["tests/test_policy.py"]),
    ("a rule's match.filters ignored", "sidecar/rules/ruleset.py",
     "        return all(fold(filters.get(k)) == fold(v) for k, v in (wanted or {}).items())",
     "        return True", ["tests/test_rules.py"]),
    ("a range's >= made >", "sidecar/rerank/properties/range.py", "                has &= x >= lo",
     "                has &= x > lo", ["tests/test_rerank_agents.py"]),
    ("a range's <= made <", "sidecar/rerank/properties/range.py", "                has &= x <= hi",
     "                has &= x < hi", ["tests/test_rerank_agents.py"]),
    ("exact-Jaccard shingle hashing made case-sensitive", "sidecar/rerank/tokens.py",
     "                    if 65 <= b <= 90:\n", "                    if 65 <= b <= 64:\n",
     ["tests/test_kernels.py", "tests/test_rerank_mmr_dedup.py"]),
    ("a named value's cap not lifted", "sidecar/rerank/api.py",
     "    named = {f: v for f, v in (named or {}).items() if v} if rule.respect_query else {}",
     "    named = {}", ["tests/test_named.py"]),
    ("a price band's lower edge counted in the band below", "sidecar/rerank/properties/bands.py",
     'side="right"', 'side="left"', ["tests/test_properties.py"]),
    ("MSD's cosine not clipped", "sidecar/rerank/strategies/msd.py",
     "        cos = min(max(_cosine(vec, i, j), -one), one)", "        cos = _cosine(vec, i, j) * np.float32(1.5)",
     ["tests/test_kernels.py"]),
    ("fusion ignoring how well BM25 matched", "sidecar/retrieval/fusion.py",
     "        share = match_share(text, [s.get(\"title\") for s in bm25.sources[:depth]], depth) if spec.adaptive else 1.0",
     "        share = 1.0", ["tests/test_fusion.py"]),
    # issue 38's list of boundary bugs
    ("has_next with <= made <", "sidecar/paging.py", "frm + 2 * size <= max_window", "frm + 2 * size < max_window",
     ["tests/test_boundaries.py"]),
    ("has_next with > made >=", "sidecar/paging.py", "len(ranked.placed) > frm + size", "len(ranked.placed) >= frm + size",
     ["tests/test_boundaries.py"]),
    ("from + size == max_window refused", "sidecar/paging.py", "    if frm + size > max_window:",
     "    if frm + size >= max_window:", ["tests/test_boundaries.py"]),
    ("knn k unbounded by the window", "sidecar/server/policy.py",
     'out[key] = _int(value, f"{kind}.k", lo=1, hi=self.p.max_window, setting="SIDECAR_MAX_WINDOW")',
     'out[key] = _int(value, f"{kind}.k", lo=1)', ["tests/test_boundaries.py"]),
    ("MAX_AGGS + 1 aggregations allowed", "sidecar/server/policy.py", "            if self.aggs > MAX_AGGS:",
     "            if self.aggs > MAX_AGGS + 1:", ["tests/test_boundaries.py"]),
    ("an inverted filter range accepted", "sidecar/retrieval/filters.py",
     "            if low is not None and high is not None and (low > high", "            if False and (low > high",
     ["tests/test_newcomer.py::test_an_inverted_range_is_a_400"]),
    ("a facet counted under its own filter (not multi-select)", "sidecar/retrieval/memory.py",
     "                    others = {k: v for k, v in req.filters.items() if k != fld}",
     "                    others = dict(req.filters)",
     ["tests/test_newcomer.py::test_facets_are_multi_select_and_the_selected_count_is_the_total[memory]"]),
]


def main() -> int:
    only = sys.argv[1:]
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), "HEAD"], cwd=ROOT, check=True)
        env = {**os.environ, "SIDECAR_OPENSEARCH_URL": "http://127.0.0.1:1", "SIDECAR_FASHION_DIR": str(Path(tmp) / "none"),
               "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
        try:
            for name, file, old, new, tests in MUTATIONS:
                if only and not any(o in name for o in only):
                    continue
                path = tree / file
                source = path.read_text()
                if old not in source:
                    print(f"{name}: the line to mutate is gone from {file}; update this script")
                    missed += 1
                    continue
                path.write_text(source.replace(old, new, 1))
                try:
                    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                                         cwd=tree, env=env, capture_output=True, text=True)
                finally:
                    path.write_text(source)
                failed = [line.split(" - ")[0] for line in res.stdout.splitlines() if line.startswith("FAILED")]
                print(f"{name}: " + (f"CAUGHT by {failed[0][len('FAILED '):]}" if failed else "MISSED"), flush=True)
                missed += not failed
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
