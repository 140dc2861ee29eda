"""What query understanding costs (issue 40): time per query, memory per vocabulary, and the CPU a
search spends with it against without it, measured in the same run, interleaved.

1. ``understand()`` alone over the fashion dev queries (plus each with a price phrase), with the
   catalog's own vocabularies (gender, colour): p50 and p99 per query.
2. A vocabulary of N synthetic values (two or three words from a 20k-word lexicon): the memory
   ``Vocabulary.of`` keeps (tracemalloc) and the time to find values in a query, for N up to 1 M.
3. ``run_search`` on the memory backend over the fashion catalog, understanding on and off in
   alternating rounds: CPU seconds per search (``time.process_time``) and their ratio.

    .venv/bin/python bench/bench_understand.py [--rounds 5]

Writes bench/results/understand.json. Needs ../shared/data/fashion.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FASHION = ROOT.parent / "shared" / "data" / "fashion"
OUT = ROOT / "bench" / "results" / "understand.json"
PRICES = ("under 500", "between 1000 and 3000", "below rs 1,500", "", "", "")


def pct(xs: list[float], p: float) -> float:
    return round(float(np.percentile(xs, p)), 4)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds of on/off searches (default: 5)")
    args = ap.parse_args()
    if not FASHION.exists():
        print(f"the fashion catalog is not at {FASHION}", file=sys.stderr)
        return 2
    from sidecar.evaluation.harness import load_queries
    from sidecar.rerank.named import Vocabulary
    from sidecar.retrieval.memory import MemoryBackend
    from sidecar.rules import load_rules_dir
    from sidecar.search.pipeline import run_search
    from sidecar.understand import DEFAULT_POLICY, understand
    from sidecar.understand.attributes import find_attributes
    from sidecar.retrieval.product_types import TYPE_FIELD, TypeWords

    backend = MemoryBackend(FASHION / "catalog.jsonl", FASHION / "vectors-minilm.f16.npy")
    ruleset = load_rules_dir(ROOT / "query_rules")
    queries = load_queries(FASHION / "queries-dev.jsonl", FASHION / "query-vectors-dev.f16.npy")
    texts = [f"{q.text} {PRICES[i % len(PRICES)]}".strip() for i, q in enumerate(queries)]
    out: dict = {"command": "python bench/bench_understand.py", "queries": len(texts)}

    # 1. understand() alone, the catalog's vocabularies
    for t in texts[:20]:
        understand(t, backend.vocabulary, DEFAULT_POLICY, {}, backend.type_words)  # vocabularies, types built once
    times = []
    for _ in range(20):
        for t in texts:
            t0 = time.perf_counter()
            understand(t, backend.vocabulary, DEFAULT_POLICY, {}, backend.type_words)
            times.append((time.perf_counter() - t0) * 1000)
    out["understand_ms"] = {"p50": pct(times, 50), "p99": pct(times, 99)}
    tracemalloc.start()
    types = TypeWords.train((d.get("title"), d.get(TYPE_FIELD)) for d in backend.docs)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out["type_words"] = {"words": len(types), "memory_mb": round(current / 2**20, 2)}

    # 2. vocabularies of N values
    rng = random.Random(7)
    lexicon = [f"w{i:05d}" for i in range(20_000)]
    sizes = {}
    for n in (10_000, 100_000, 1_000_000):
        values = [" ".join(rng.sample(lexicon, rng.choice((2, 3)))) for _ in range(n)]
        tracemalloc.start()
        voc = Vocabulary.of(values)
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        probe = [" ".join(rng.sample(lexicon, 6)) + " " + values[rng.randrange(n)] for _ in range(2000)]
        t = []
        for q in probe:
            t0 = time.perf_counter()
            find_attributes(q, {"brand": voc})
            t.append((time.perf_counter() - t0) * 1000)
        sizes[str(n)] = {"values": len(voc), "memory_mb": round(current / 2**20, 1), "find_p50_ms": pct(t, 50),
                         "find_p99_ms": pct(t, 99)}
        del voc, values
    out["vocabulary"] = sizes

    # 3. rewrites: a query against sets of N (random one-way synonyms over a 50,000-word lexicon)
    from sidecar.understand.rewrites import RewriteSet, parse_rewrite, rewrite

    lex = [f"w{i:05d}" for i in range(50_000)]
    out["rewrites"] = {}
    for n in (100, 10_000, 100_000):
        rset = RewriteSet.of(parse_rewrite({"when": [rng.choice(lex)], "synonyms": [rng.choice(lex)]}, f"bench:{i}",
                                           ("brand",))[0] for i in range(n))
        probe = [" ".join(rng.sample(lex, 6)) for _ in range(2000)]
        t = []
        for q in probe:
            t0 = time.perf_counter()
            rewrite(q, (rset,), {})
            t.append((time.perf_counter() - t0) * 1000)
        out["rewrites"][str(n)] = {"p50_ms": pct(t, 50), "p99_ms": pct(t, 99)}

    # 4. CPU per search, understanding on and off, interleaved
    cpu: dict[str, list[float]] = {"on": [], "off": []}
    for r in range(args.rounds):
        for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
            t0 = time.process_time()
            for q, t in zip(queries, texts):
                run_search({"q": t, "size": 10, "vector": q.vector.tolist(), "understand": mode == "on"}, backend, ruleset,
                           1000)
            cpu[mode].append((time.process_time() - t0) / len(queries) * 1000)
    out["search_cpu_ms"] = {m: round(float(np.median(v)), 3) for m, v in cpu.items()}
    out["search_cpu_ratio"] = round(float(np.median(cpu["on"]) / np.median(cpu["off"])), 3)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
