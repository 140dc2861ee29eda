"""How many real near-duplicate title pairs do the LSH band keys miss? (issue: semantics v3, 2)

    .venv/bin/python bench/bench_dedup_recall.py [--fashion ../shared/data/fashion] [--threshold 0.8]

Pairs of real catalog titles whose exact token-set Jaccard (the one tokenizer, sidecar.rerank.tokens)
is at least the threshold, from two populations:
  windows  every pair inside the top-200 exact-kNN window of each dev query (what /search reranks);
  blocks   every pair inside each (brand, category) block of the whole catalog (blocks over 3,000
           products are split in order), i.e. nearly every near-duplicate pair the catalog holds.
For each pair: does it share a band key (``dedup.band_keys``, the layout ``dedup.band_layout``
picks), and does it pass the estimate pre-screen (``dedup.screen_floor``)? A pair that fails
either is one ``dedup.group`` can miss. Pairs of identical token sets are counted apart: grouping
joins those before any band key is read. Writes bench/results/dedup-recall.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import sparse
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.rerank import dedup  # noqa: E402
from sidecar.rerank.tokens import shingle_set  # noqa: E402

BLOCK = 3000


def pairs_at_least(members: np.ndarray, X: sparse.csr_matrix, sizes: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs (a < c) of ``members`` with exact Jaccard >= t, and their Jaccard."""
    sub = X[members]
    inter = (sub @ sub.T).tocoo()
    a, c, i = inter.row, inter.col, inter.data.astype(np.float64)
    keep = a < c
    a, c, i = a[keep], c[keep], i[keep]
    s = sizes[members]
    jac = i / (s[a] + s[c] - i)
    ok = jac >= t - 1e-12
    return members[a[ok]], members[c[ok]], jac[ok]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fashion", type=Path, default=ROOT.parent / "shared" / "data" / "fashion")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=64)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dedup-recall.json")
    args = ap.parse_args()
    if not (args.fashion / "catalog.jsonl").exists():
        print(f"fashion data not found at {args.fashion}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in open(args.fashion / "catalog.jsonl", encoding="utf-8")]
    sets = [shingle_set(r.get("title")) for r in rows]
    vocab: dict[str, int] = {}
    indptr, indices = [0], []
    for s in sets:
        indices += [vocab.setdefault(w, len(vocab)) for w in s]
        indptr.append(len(indices))
    X = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(sets), len(vocab)))
    sizes = np.diff(indptr).astype(np.float64)
    sigs = dedup.signatures([r.get("title") for r in rows], args.num_perm)
    keys = dedup.band_keys(sigs, args.threshold)
    floor = dedup.screen_floor(args.threshold, args.num_perm)
    bands, r = dedup.band_layout(args.threshold, args.num_perm)

    populations: dict[str, list[np.ndarray]] = {}
    vecs = np.load(args.fashion / "vectors-minilm.f16.npy").astype(np.float32)
    qv = np.load(args.fashion / "query-vectors-dev.f16.npy").astype(np.float32)
    populations["windows"] = [np.argsort(-(vecs @ q), kind="stable")[:200] for q in qv]
    by_block: dict[tuple, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_block[(row.get("brand"), row.get("category"))].append(i)
    populations["blocks"] = [np.array(m[k:k + BLOCK]) for m in by_block.values() for k in range(0, len(m), BLOCK)
                             if len(m) > 1]

    report: dict[str, dict] = {}
    for name, groups in populations.items():
        seen: set[tuple[int, int]] = set()
        n_identical = n_pairs = missed_band = missed_screen = 0
        by_jaccard: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for members in tqdm(groups, desc=name, unit="group", file=sys.stderr):
            a, c, jac = pairs_at_least(np.asarray(members), X, sizes, args.threshold)
            for x, y, j in zip(a.tolist(), c.tolist(), jac.tolist()):
                pair = (min(x, y), max(x, y))
                if pair in seen or not sets[x] or not sets[y]:
                    continue
                seen.add(pair)
                if j >= 1.0:
                    n_identical += 1
                    continue
                n_pairs += 1
                band = bool(np.any(keys[x] == keys[y]))
                screened = int(np.sum(sigs[x] == sigs[y])) >= floor
                missed_band += not band
                missed_screen += band and not screened
                bucket = by_jaccard[f"{j:.3f}"]
                bucket[0] += 1
                bucket[1] += not (band and screened)
        report[name] = {
            "pairs_identical_token_sets": n_identical,
            "pairs_jaccard_at_least_threshold_not_identical": n_pairs,
            "missed_by_band_keys": missed_band,
            "missed_by_estimate_prescreen": missed_screen,
            "miss_share": round((missed_band + missed_screen) / n_pairs, 5) if n_pairs else None,
            "by_jaccard": {k: {"pairs": v[0], "missed": v[1]} for k, v in sorted(by_jaccard.items())},
        }
    out = {"meta": {"threshold": args.threshold, "num_perm": args.num_perm, "bands": bands, "rows_per_band": r,
                    "command": "python bench/bench_dedup_recall.py " + " ".join(sys.argv[1:])},
           "results": report}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"threshold {args.threshold}, {args.num_perm} permutations: {bands} bands x {r} rows")
    for name, rep in report.items():
        print(f"{name:8s} {rep['pairs_jaccard_at_least_threshold_not_identical']:>9,} pairs with {args.threshold} <= J < 1"
              f" (+{rep['pairs_identical_token_sets']:,} identical): missed by band keys {rep['missed_by_band_keys']},"
              f" by the pre-screen {rep['missed_by_estimate_prescreen']}: {100 * (rep['miss_share'] or 0):.3f}%")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
