"""`sidecar rules check|explain|diff`: rule files validated, a match explained, an edit replayed."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .. import config
from .common import (EXIT_ERROR, EXIT_OK, EXIT_USAGE, formatter, index_option, make_backend, mode_option,
                     query_encoder, quiet_option, url_option)


def cmd_rules_check(args: argparse.Namespace) -> int:
    from ..rules import RuleLoadError, load_rules_dir

    try:
        rs = load_rules_dir(Path(args.dir))
    except RuleLoadError as exc:
        for err in exc.errors:
            print(err)
        sys.stdout.flush()  # the errors, then the verdict, in that order on a terminal
        print(f"{len(exc.errors)} error(s): the rule set was NOT accepted", file=sys.stderr)
        return EXIT_ERROR
    from ..rules.lint import lint

    warnings = lint(rs)
    for w in warnings:
        print(w)
    n_exact = sum(len(v) for v in rs.exact.values())
    print(f"OK{f' with {len(warnings)} warning(s)' if warnings else ''}: {len(rs.located)} rules in {len(rs.files)} files (version {rs.version}); "
          f"{n_exact} exact queries, {len(rs.patterns)} patterns, {len(rs.understanding.rewrites)} rewrites, "
          f"default: {rs.default.rule.id if rs.default else 'none (unmatched queries are not reranked)'}")
    for ex in rs.experiments:
        a, b = rs.arms[ex.name]
        print(f"experiment {ex.name} ({ex.file}:{ex.line}): {ex.method}, "
              f"share {ex.share:g}, a = {ex.a} (version {a.version}), b = {ex.b} (version {b.version})"
              + (f", only rule {ex.rule}" if ex.rule else "")
              + (f", from {ex.start.isoformat()}" if ex.start else "") + (f" until {ex.end.isoformat()}" if ex.end else ""))
    return EXIT_OK


def cmd_rules_explain(args: argparse.Namespace) -> int:
    from ..rules import RuleLoadError, load_rules_dir, normalize_query

    try:
        rs = load_rules_dir(Path(args.dir))
    except RuleLoadError as exc:
        print("\n".join(map(str, exc.errors)))
        return EXIT_ERROR
    filters = dict(f.split("=", 1) for f in args.filter or [])
    m = rs.match(args.query, filters)
    print(f"query:      {args.query!r} -> normalised {normalize_query(args.query)!r}")
    if m is None:
        print("rule:       none (no exact query, pattern or default matches: results are not reranked)")
        return EXIT_OK
    r = m.rule
    print(f"rule:       {r.id} ({m.where})")
    print(f"why:        {m.how}: {m.detail}")
    print(f"window:     {r.window}   size: {r.size}   lambda: {r.lam}   normalize: {'minmax' if r.normalize else 'none'}")
    if r.order:
        print(f"{r.order.strategy + ':':<12}diversity {r.order.diversity}"
              + (f", candidates_limit {r.order.candidates_limit}" if r.order.candidates_limit else ""))
    if r.dedup:
        print(f"dedup:      {r.dedup.field}, Jaccard >= {r.dedup.threshold}, "
              + ("collapse" if r.dedup.collapse else f"at most {r.dedup.max:g} of the page per group"))
    for c in r.constraints:
        print(f"constraint: {c.label}")
    return EXIT_OK


def cmd_rules_diff(args: argparse.Namespace) -> int:
    import dataclasses

    from ..search.pipeline import default_mode
    from ..preview import render, sources
    from ..preview.replay import replay
    from ..rules import RuleLoadError, load_rules_dir

    rulesets = []
    for d in (args.old, args.new):
        try:
            rulesets.append(load_rules_dir(Path(d)))
        except RuleLoadError as exc:
            print(f"error: {d}: the rule set is invalid:\n" + "\n".join(f"  {e}" for e in exc.errors), file=sys.stderr)
            return EXIT_USAGE
    try:
        if args.from_log:
            from ..opensearch.client import make_client

            queries = sources.from_log(make_client(args.url, timeout=30), args.from_log, args.since, args.top)
            if not queries:
                print(f"error: no /search queries in {args.from_log}-* since {args.since}", file=sys.stderr)
                return EXIT_USAGE
        else:
            queries = sources.from_file(Path(args.queries), Path(args.query_vectors) if args.query_vectors else None)
        if args.limit:
            queries = queries[: args.limit]
        encode = query_encoder(args)
        if encode is False:
            return EXIT_USAGE
        backend = make_backend(args)
        # by default, what /search does with these texts: hybrid on the encoded text where the
        # encoder is on and the index has vectors, else bm25
        mode = args.mode or default_mode(False, True, encode is not None or bool(args.query_vectors), backend)
        if mode != "bm25" and encode is not None:
            from ..preview.replay import encoded_text
            from ..retrieval.filters import validate_filters

            # the encoder reads what /search's encoder reads: the text as the new rules read it
            queries = [q if q.vector is not None else dataclasses.replace(
                q, vector=encode(encoded_text(backend, rulesets[1], q.text, validate_filters(q.filters), embed=encode)))
                for q in queries]
        report, comparisons = replay(backend, rulesets[0], rulesets[1], queries, k=args.k, mode=mode,
                                     progress=not args.quiet, embed=encode)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report["command"] = "sidecar " + " ".join(sys.argv[1:])
    s = report["summary"]
    print(f"{report['queries']} queries ({report['mode']}): {s['pages_changed']} pages changed, {s['rules_changed']} "
          f"matched a different rule, {s['items_moved']} items moved, {s['items_entered']} entered the first {args.k}")
    print(f"constraints: {s['constraints_broken']} broken (held before, not after), "
          f"{s['constraints_newly_met']} newly met")
    if "ndcg_before" in s:
        print(f"nDCG@{args.k} over {s['judged']} judged queries: {s['ndcg_before']} -> {s['ndcg_after']} "
              f"({s['ndcg_delta']:+.4f})")
    for b in s["broken"][:20]:
        print(f"  broken: {b['constraint']} on {b['query']!r}")
    if len(s["broken"]) > 20:
        print(f"  ... and {len(s['broken']) - 20} more")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"report written to {args.out}")
    if args.html:
        Path(args.html).write_text(render.report_page(report, comparisons, f"rules diff: {args.old} -> {args.new}"),
                                   encoding="utf-8")
        print(f"HTML report written to {args.html}")
    return EXIT_ERROR if args.fail_on == "broken" and s["constraints_broken"] else EXIT_OK


def register(sub: Any) -> None:
    """`sidecar rules check|explain|diff`."""
    ru = sub.add_parser("rules", formatter_class=formatter(), help="check rule files, explain a match, diff two rule sets",
                        description="Rule files (query_rules/*.yaml): see docs/rules.md.")
    rsub = ru.add_subparsers(dest="rules_command", metavar="ACTION")
    rc = rsub.add_parser("check", formatter_class=formatter(), help="validate every rule file of a directory",
                         description="Validate every *.yaml of DIR and print one 'file:line: reason' per error:\n"
                                     "YAML syntax, unknown keys (a typo such as 'mni:'), duplicate ids, fractions\n"
                                     "outside (0, 1], invalid regular expressions, 'any' with 'min', two defaults.\n"
                                     "Exit status 1 on any error, 0 with a summary otherwise.")
    rc.add_argument("dir", nargs="?", default=config.default("rules"), help="rule directory (default: %(default)s)")
    rc.set_defaults(func=cmd_rules_check)
    rx = rsub.add_parser("explain", formatter_class=formatter(), help="which rule matches a query, and why",
                         description="Show the rule a query gets (exact query > pattern > default) and why.",
                         epilog='example: sidecar rules explain query_rules "Men Sports Shoes"')
    rx.add_argument("dir", help="rule directory")
    rx.add_argument("query", help="the shopper's query")
    rx.add_argument("--filter", action="append", metavar="FIELD=VALUE", help="a request term filter (repeatable)")
    rx.set_defaults(func=cmd_rules_explain)
    rd = rsub.add_parser("diff", formatter_class=formatter(), help="what a rule edit does to real pages, before it ships",
                         description="Replay queries under the rules of OLD and of NEW: one retrieval per query,\n"
                                     "two reranked pages. Reports which rule matched before and after, items moved,\n"
                                     "entered or left the first K, each constraint's share and hold on both pages, and\n"
                                     "nDCG when the queries have judgments. A constraint is broken when it held\n"
                                     "before and not after. Queries come from a JSONL file (the evaluation format)\n"
                                     "or from the decision log (the most frequent /search queries, with filters).",
                         epilog="examples:\n"
                                "  sidecar rules diff query_rules draft_rules --queries queries.jsonl --html diff.html\n"
                                "  sidecar rules diff query_rules draft_rules --backend opensearch \\\n"
                                "      --from-log sidecar-decisions --since 7d --top 500 --fail-on broken")
    rd.add_argument("old", help="rule directory now deployed")
    rd.add_argument("new", help="rule directory with the edit")
    src = rd.add_mutually_exclusive_group(required=True)
    src.add_argument("--queries", metavar="Q.jsonl", help="queries, one JSON a line: query, judgments?, filters?")
    src.add_argument("--from-log", metavar="PREFIX", help="decision-log index prefix (e.g. sidecar-decisions)")
    rd.add_argument("--query-vectors", metavar="QV.npy", help="query vectors, row i = query i (knn, hybrid)")
    rd.add_argument("--since", default="7d", help="with --from-log: how far back (default: %(default)s)")
    rd.add_argument("--top", type=int, default=500, help="with --from-log: most frequent queries (default: %(default)s)")
    rd.add_argument("--limit", type=int, help="replay only the first N queries")
    rd.add_argument("--backend", choices=["memory", "opensearch"], default=config.default("backend"),
                    help="retrieval backend (default: %(default)s)")
    rd.add_argument("--catalog", default=config.default("catalog"), metavar="C.jsonl",
                    help="catalog (memory backend, default: %(default)s)")
    rd.add_argument("--vectors", default=config.default("vectors"), metavar="V.npy",
                    help="catalog vectors (memory backend, default: %(default)s)")
    index_option(rd, "index (opensearch backend)")
    url_option(rd)
    mode_option(rd)
    rd.add_argument("--k", type=int, default=10, help="first page size compared (default: %(default)s)")
    rd.add_argument("--out", metavar="report.json", help="write the full report as JSON")
    rd.add_argument("--html", metavar="report.html", help="write the changed pages as an HTML report")
    rd.add_argument("--fail-on", choices=["broken"], help="exit 1 when the edit breaks a constraint that held")
    quiet_option(rd)
    rd.set_defaults(func=cmd_rules_diff)
    ru.set_defaults(func=lambda a: (ru.print_help(), EXIT_USAGE)[1])
