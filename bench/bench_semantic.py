"""Search from text alone: nDCG@10 of BM25, kNN and the default mode on the fashion dev queries,
on a paraphrase set built from them, and on the dev queries that name a brand.

    python bench/bench_semantic.py [--data ../shared/data/fashion] [--out bench/results/semantic.json]

Beside the shipped rules, two variants of them are run for comparison: every rule with
``fusion: {method: rrf}`` (the fusion before the convex one), and, on the brand queries, with
``respect_query: false`` (the caps fighting the query, as before). Every figure is a `sidecar eval` run (memory backend, shipped rules, K = 10, queries embedded by
the configured query encoder, no --query-vectors), in a subprocess, with its command recorded.
The paraphrase set is the dev queries whose product noun has a shopper word in
``bench/data/shopper-words.json`` that no title uses, with that noun replaced (judgments
unchanged); ``paraphrase_loose`` also takes the words a few titles use (sneakers: 18). The
script prints how many titles use each shopper word. Targets (issue 26): the default mode's rules
nDCG@10 >= BM25's on the dev queries and >= kNN's on the paraphrases; on the dev queries that
name a brand, rules >= 0.95 x baseline, and on the others every cap (a "<=" constraint) holds on
every page where it can.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORDS = ROOT / "bench" / "data" / "shopper-words.json"


def paraphrase(queries: list[dict], words: dict[str, str]) -> list[dict]:
    """The queries whose noun has a shopper word, with the noun replaced (whole words, any case)."""
    out = []
    for q in queries:
        noun = q["attributes"].get("noun")
        if noun not in words:
            continue
        text, n = re.subn(rf"\b{re.escape(noun)}\b", words[noun], q["query"], flags=re.IGNORECASE)
        if n:
            out.append({**q, "query": text, "original": q["query"]})
    return out


def title_uses(catalog: Path, words: dict[str, str]) -> dict[str, int]:
    """How many titles contain each shopper word (all its words, as whole words)."""
    wanted = {w: set(re.findall(r"\w+", w.lower())) for w in words.values()}
    counts: Counter[str] = Counter()
    with catalog.open(encoding="utf-8") as fh:
        for line in fh:
            title = set(re.findall(r"\w+", json.loads(line).get("title", "").lower()))
            counts.update(w for w, parts in wanted.items() if parts <= title)
    return {w: counts[w] for w in wanted}


def rules_with(tmp: Path, name: str, **keys) -> Path:
    """A copy of the shipped rules with ``keys`` set in every rule (the variants compared)."""
    out = tmp / f"rules-{name}"
    out.mkdir()
    for f in sorted((ROOT / "query_rules").glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        if "rules" in doc:  # a file of rewrites alone has none
            doc["rules"] = [{**r, **json.loads(json.dumps(keys))} for r in doc["rules"]]  # no shared objects: no YAML aliases
        (out / f.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def run_eval(data: Path, queries: Path, mode: str | None, out: Path, rules: Path = ROOT / "query_rules") -> dict:
    cmd = [sys.executable, "-m", "sidecar.cli", "eval", "--queries", str(queries), "--backend", "memory",
           "--catalog", str(data / "catalog.jsonl"), "--vectors", str(data / "vectors-minilm.f16.npy"),
           "--rules", str(rules), "--k", "10", "--out", str(out), "--quiet"]
    if mode:
        cmd += ["--mode", mode]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    s = report["strategies"]
    return {"command": " ".join(["sidecar", *cmd[3:]]), "modes": report["config"]["modes"],
            "baseline": round(s["baseline"]["ndcg@10"], 4), "rules": round(s["rules"]["ndcg@10"], 4),
            "constraints_rules": s["rules"]["constraint_satisfaction"], "seconds": round(time.perf_counter() - t0, 1)}


def run_set(data: Path, tmp: Path, name: str, queries: list[dict], jobs: list[tuple[str, str | None, Path]],
            results: dict) -> None:
    """Each job (label, mode, rules) as a `sidecar eval` over ``queries``, into ``results["runs"]["name/label"]``."""
    path = tmp / f"{name}.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in queries))
    for label, mode, rules in jobs:
        r = run_eval(data, path, mode, tmp / "report.json", rules)
        results["runs"][f"{name}/{label}"] = r
        print(f"{name:18s} {label:27s} baseline {r['baseline']:.3f}  rules {r['rules']:.3f}  "
              f"modes {r['modes']}  ({r['seconds']} s)", flush=True)


def table(results: dict) -> str:
    """The docs' table (README, docs/semantic.md): one row per query set, baseline / rules nDCG@10 per mode."""
    runs = results["runs"]
    cols = ["bm25", "knn", "default", "default, rrf"]
    out = ["| query set (queries) | " + " | ".join(f"{c} (baseline / rules)" for c in cols) + " |",
           "| --- |" + " --- |" * len(cols)]
    names = {"dev": "dev queries", "paraphrase": "paraphrases (words no title uses)",
             "paraphrase_loose": "paraphrases, loose (some titles use the word)"}
    for name, label in names.items():
        cells = [f"{runs[f'{name}/{c}']['baseline']:.3f} / {runs[f'{name}/{c}']['rules']:.3f}"
                 if f"{name}/{c}" in runs else "" for c in cols]
        out.append(f"| {label} ({results['sets'][name]}) | " + " | ".join(cells) + " |")
    b, off = runs["dev_brand/default"], runs["dev_brand/default, respect_query off"]
    out += ["", f"Dev queries naming a brand ({results['sets']['dev_brand']}), default mode: baseline "
            f"{b['baseline']:.3f}, rules {b['rules']:.3f} ({b['rules'] / b['baseline']:.2f} x baseline); with "
            f"`respect_query: false` rules {off['rules']:.3f} ({off['rules'] / off['baseline']:.2f} x)."]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fashion"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "semantic.json"))
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "queries-dev.jsonl").is_file():
        print(f"the fashion data is not at {data} (--data)", file=sys.stderr)
        return 2
    words = json.loads(WORDS.read_text())["words"]
    dev = [json.loads(line) for line in (data / "queries-dev.jsonl").open(encoding="utf-8")]
    uses = title_uses(data / "catalog.jsonl", words)
    print("titles using each shopper word:", ", ".join(f"{w} {n}" for w, n in uses.items()))
    unused = {noun: w for noun, w in words.items() if uses[w] == 0}
    sets = {"dev": dev, "paraphrase": paraphrase(dev, unused), "paraphrase_loose": paraphrase(dev, words),
            "dev_brand": [q for q in dev if "brand" in q["attributes"]],
            "dev_other": [q for q in dev if "brand" not in q["attributes"]]}
    results: dict = {"shopper_word_title_uses": uses, "sets": {k: len(v) for k, v in sets.items()}, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        variants = {"rrf": rules_with(Path(tmp), "rrf", fusion={"method": "rrf"}),
                    "no_respect": rules_with(Path(tmp), "no-respect", respect_query=False)}
        for name, qs in sets.items():
            jobs: list[tuple[str, str | None, Path]] = \
                [(m or "default", m, ROOT / "query_rules") for m in (["bm25", "knn", None] if not name.startswith("dev_") else [None])]
            if name in ("dev", "paraphrase"):  # the fusion before this one: reciprocal rank fusion
                jobs.append(("default, rrf", None, variants["rrf"]))
            if name == "dev_brand":  # the caps fighting the query, as before
                jobs.append(("default, respect_query off", None, variants["no_respect"]))
            run_set(data, Path(tmp), name, qs, jobs, results)
    runs = results["runs"]
    results["targets"] = {
        "dev: default rules >= bm25 rules": runs["dev/default"]["rules"] >= runs["dev/bm25"]["rules"],
        "paraphrase: default rules >= knn rules": runs["paraphrase/default"]["rules"] >= runs["paraphrase/knn"]["rules"],
        "paraphrase_loose: default rules >= knn rules":
            runs["paraphrase_loose/default"]["rules"] >= runs["paraphrase_loose/knn"]["rules"],
        "dev_brand: rules >= 0.95 x baseline": runs["dev_brand/default"]["rules"] >= 0.95 * runs["dev_brand/default"]["baseline"],
        "dev_other: every cap met on every feasible page":
            all(v == 1.0 for k, v in runs["dev_other/default"]["constraints_rules"].items() if "<=" in k),
    }
    results["table"] = table(results)
    print(results["table"])
    for k, ok in results["targets"].items():
        print(f"{'met' if ok else 'NOT met'}: {k}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
