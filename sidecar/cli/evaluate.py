"""`sidecar eval`: every strategy's relevance against its diversity, on judged queries."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import config
from .common import (EXIT_OK, EXIT_USAGE, formatter, make_backend, query_encoder, quiet_option, retrieval_arguments,
                     rules_and_queries)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluation.harness import STRATEGIES, Evaluator
    from ..evaluation.report import plot, table

    sweep = None
    if args.sweep:
        param, _, values = args.sweep.partition("=")
        if param not in ("lambda", "diversity") or not values:
            print("error: --sweep must be lambda=v1,v2,... or diversity=v1,v2,...", file=sys.stderr)
            return EXIT_USAGE
        try:
            sweep = (param, [float(v) for v in values.split(",")])
        except ValueError:
            print(f"error: --sweep values must be numbers: {values}", file=sys.stderr)
            return EXIT_USAGE
    loaded = rules_and_queries(args, [args.rules])
    encode = query_encoder(args)
    if loaded is None or encode is False:
        return EXIT_USAGE
    (ruleset,), queries = loaded
    if args.limit:
        queries = queries[: args.limit]
    import numpy as np

    vector_of = None
    try:
        backend = make_backend(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.backend == "memory":
        if backend.vectors is not None:
            vector_of = backend.vector_of
    else:
        if args.catalog and args.vectors:
            from ..catalog import BadLine, count_lines, iter_catalog, load_vectors

            vecs = load_vectors(Path(args.vectors), count_lines(Path(args.catalog)))
            rows = {d["id"]: row for row, d in iter_catalog(Path(args.catalog)) if not isinstance(d, BadLine)}
            vector_of = lambda doc_id: np.asarray(vecs[rows[doc_id]], dtype=np.float32)  # noqa: E731

    evaluator = Evaluator(backend, ruleset, args.mode, args.k, vector_of=vector_of, encode=encode)
    try:
        results = evaluator.run(queries, STRATEGIES, sweep, progress=not args.quiet)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = {"config": {"queries": len(queries), "mode": args.mode or "default", "modes": evaluator.modes, "k": args.k, "backend": args.backend,
                         "rules": args.rules, "rules_version": ruleset.version,
                         "command": "sidecar " + " ".join(sys.argv[1:])},
              "strategies": results,
              "understood": evaluator.understood}  # per query: what /search read in it (rules strategy)
    if sweep:
        report["sweep"] = {"param": sweep[0], "values": sweep[1], "strategy": "rules",
                           "points": [f"rules[{sweep[0]}={v:g}]" for v in sweep[1]]}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results, args.k))
    print(f"\nunderstood something in {len(evaluator.understood)} of {len(queries)} queries "
          f"(rules against rules-words: understanding on and off; the report lists each)")
    print(f"\nreport written to {args.out}")
    if args.plot:
        plot(report, Path(args.plot))
        print(f"plot written to {args.plot}")
    return EXIT_OK


def register(sub: Any) -> None:
    """`sidecar eval`: relevance against diversity."""
    ev = sub.add_parser("eval", formatter_class=formatter(), help="compare strategies: relevance against diversity",
                        description="Run every query through retrieval and reranking exactly as the service does, once per\n"
                                    "strategy (baseline, mmr, rules, agents, agents+dedup, agents+mmr), and report nDCG@K,\n"
                                    "MRR, recall@K, precision@K, MAP (ranx) beside diversity: distinct brands, largest\n"
                                    "brand and seller share, ILD, category spread, near-duplicate pairs, constraint\n"
                                    "satisfaction and rerank time. --sweep adds the shipped rules at each value of lambda\n"
                                    "or MMR diversity; --plot draws the relevance-diversity trade-off.",
                        epilog="example: sidecar eval --queries ../shared/data/fashion/queries-dev.jsonl \\\n"
                               "  --query-vectors ../shared/data/fashion/query-vectors-dev.f16.npy --backend memory \\\n"
                               "  --catalog ../shared/data/fashion/catalog.jsonl --vectors ../shared/data/fashion/vectors-minilm.f16.npy \\\n"
                               "  --rules query_rules --mode knn --k 10 --out report.json --plot plot.png --sweep lambda=0,0.25,0.5,1,2")
    retrieval_arguments(ev)
    ev.add_argument("--rules", default=config.default("rules"), metavar="DIR", help="rule directory (default: %(default)s)")
    ev.add_argument("--out", default="report.json", help="report file (default: %(default)s)")
    ev.add_argument("--plot", metavar="PLOT.png", help="draw the trade-off plot")
    ev.add_argument("--sweep", metavar="PARAM=V1,V2,...", help="lambda=... or diversity=... on the shipped rules")
    ev.add_argument("--limit", type=int, help="only the first N queries")
    quiet_option(ev)
    ev.set_defaults(func=cmd_eval)
