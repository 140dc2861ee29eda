"""What query understanding does to the pages (issue 40), on the fashion catalog:

1. the issue's three queries, with the query encoder on, the shipped rules, understanding on and
   off: how many of the first 10 hits hold every stated colour, gender and price;
2. the fashion dev queries under the shipped rules with each understanding policy (none, gender,
   colour, both, gender without unisex): mean nDCG@10 (gains 2^g - 1, log2 discount), the
   comparison the defaults were chosen by. `sidecar eval` reports the shipped policy against none
   with ranx (`rules` against `rules-words`).

    .venv/bin/python bench/bench_understand_quality.py

Writes bench/results/understand-quality.json. Needs ../shared/data/fashion.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FASHION = ROOT.parent / "shared" / "data" / "fashion"
OUT = ROOT / "bench" / "results" / "understand-quality.json"
THREE = {"red tshirts for women under 500": ("red", "women", None, 500),
         "men black formal shoes between 1000 and 3000": ("black", "men", 1000, 3000),
         "blue jeans for men below 1500": ("blue", "men", None, 1500)}


def ndcg(ids: list[str], grades: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** grades.get(i, 0) - 1) / np.log2(r + 2) for r, i in enumerate(ids[:k]))
    ideal = sum((2 ** g - 1) / np.log2(r + 2) for r, g in enumerate(sorted(grades.values(), reverse=True)[:k]))
    return dcg / ideal if ideal else 0.0


def main() -> int:
    if not FASHION.exists():
        print(f"the fashion catalog is not at {FASHION}", file=sys.stderr)
        return 2
    from sidecar.encoder import load
    from sidecar.evaluation.harness import load_queries
    from sidecar.retrieval.memory import MemoryBackend
    from sidecar.rules import load_rules_dir
    from sidecar.search.pipeline import run_search
    from sidecar.understand import Policy

    backend = MemoryBackend(FASHION / "catalog.jsonl", FASHION / "vectors-minilm.f16.npy")
    rules = load_rules_dir(ROOT / "query_rules")
    encode = load("").query
    out: dict = {"command": "python bench/bench_understand_quality.py", "three": {}, "policies": {}}
    for q, (colour, gender, lo, hi) in THREE.items():
        for on in (True, False):
            hits = run_search({"q": q, "size": 10, "understand": on}, backend, rules, 1000, encode=encode).response["hits"]
            held = sum(1 for h in hits if (h["fields"].get("colour") or "").lower() == colour
                       and (h["fields"].get("gender") or "").lower() == gender
                       and (lo is None or h["fields"]["price"] >= lo) and h["fields"]["price"] <= hi)
            out["three"].setdefault(q, {})["on" if on else "off"] = f"{held}/{len(hits)}"
    queries = load_queries(FASHION / "queries-dev.jsonl", FASHION / "query-vectors-dev.f16.npy")
    # every policy with the shipped rewrites (query_rules/20-rewrites.yaml), but the last
    shipped = rules.understanding.rewrites
    no_type = {"product_type": "none"}
    policies = {"none": Policy({}, prices="none", **no_type), "gender": Policy({"gender": "filter"}, **no_type),
                "gender without unisex": Policy({"gender": "filter"}, admit={}, **no_type),
                "colour": Policy({"colour": "filter"}, **no_type), "colour boosted": Policy({"colour": "boost"}, **no_type),
                "gender filtered, colour boosted": Policy({"gender": "filter", "colour": "boost"}, **no_type),
                "gender and colour": Policy({"gender": "filter", "colour": "filter"}, **no_type),
                "product type alone": Policy({}, prices="none", product_type="filter"),
                "product type boosted, gender and colour": Policy({"gender": "filter", "colour": "filter"},
                                                                 product_type="boost"),
                "gender, colour and product type (shipped)": Policy({"gender": "filter", "colour": "filter"}),
                "gender filtered, colour boosted, product type": Policy({"gender": "filter", "colour": "boost"})}
    policies = {k: dataclasses.replace(v, rewrites=shipped) for k, v in policies.items()}
    policies["shipped, no rewrites"] = Policy({"gender": "filter", "colour": "filter"})
    for name, policy in policies.items():
        rs = dataclasses.replace(rules, understanding=policy)
        scores = [ndcg([h["id"] for h in run_search({"q": q.text, "size": 10, "vector": q.vector.tolist()}, backend, rs,
                                                     1000).response["hits"]], q.judgments) for q in queries]
        out["policies"][name] = round(float(np.mean(scores)), 4)
    # the vote's share (retrieval.product_types.VOTE_SHARE), chosen on the catalog itself: each of
    # 3,000 products' vectors as the query, the product left out, its VOTE_K nearest products' type
    from sidecar.retrieval.product_types import TYPE_FIELD, VOTE_K, vote

    rng = np.random.default_rng(0)
    sample = rng.choice(len(backend.docs), 3000, replace=False)
    votes = []
    for i in sample:
        keep = np.ones(len(backend.docs), dtype=bool)
        keep[i] = False
        votes.append((vote(backend.columns[TYPE_FIELD][j] for j, _ in backend._knn(backend.vectors[i], keep, VOTE_K)),
                      backend.columns[TYPE_FIELD][i]))
    out["type_vote_on_the_catalog"] = {
        str(share): {"covered": sum(1 for (t, sh), _ in votes if sh >= share),
                     "precision": round(float(np.mean([t == own for (t, sh), own in votes if sh >= share])), 4)}
        for share in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
