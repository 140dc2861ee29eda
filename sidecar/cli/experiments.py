"""`sidecar experiments report|simulate`: what shoppers did on each arm; how many sessions a test needs."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import (EXIT_ERROR, EXIT_OK, EXIT_USAGE, events_index_option, formatter, make_backend, prefix_option,
                     query_encoder, quiet_option, retrieval_arguments, rules_and_queries, url_option)


def cmd_experiments_report(args: argparse.Namespace) -> int:
    from ..experiments import report, source
    from ..opensearch.client import make_client
    from ..opensearch.decision_log import since_clause

    try:
        since_clause(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from ..config import default
    from ..experiments.identity import PageSigner

    secret = default("secret")
    if not secret:
        print("error: the report checks each event's page id with SIDECAR_SECRET, the key the servers signed their "
              "pages with: set it as they have it", file=sys.stderr)
        return EXIT_USAGE
    try:
        out = source.read_report(make_client(args.url, timeout=30), args.prefix, args.events_index, args.name,
                                 args.since, PageSigner(secret).verify)
    except ValueError as exc:  # the log and the credits disagree: said in one line
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not out["pages"] and not out["events_on_pages"]:
        print(f"error: no page of experiment {args.name!r} in {args.prefix}-* since {args.since} (is the name right, "
              "and is the decision log on?)", file=sys.stderr)
        return EXIT_ERROR
    if args.plot:
        _plot_report(out, args.plot)
    if args.json:
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(report.text(out))
    return EXIT_OK


def _plot_report(out: dict[str, Any], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("warning: no plot: matplotlib is not installed (pip install -e '.[eval]')", file=sys.stderr)
        return
    run = out["running"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = [r["pages"] for r in run]
    if out["method"] == "interleave":
        ax.plot(x, [r["preference_b"] for r in run], label="share of preferring pages that prefer b")
        ax.fill_between(x, [r["low"] for r in run], [r["high"] for r in run], alpha=0.25, label="Wilson 95%")
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    else:
        for arm in ("a", "b"):
            ax.plot(x, [r[arm] for r in run], label=f"arm {arm}: pages with a click")
    ax.set_xlabel("pages served (in time order)")
    ax.set_title(f"experiment {out['experiment']} ({out['method']}): running estimate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)


def cmd_experiments_simulate(args: argparse.Namespace) -> int:
    import statistics

    from tqdm import tqdm

    from ..evaluation.harness import Evaluator
    from ..experiments import simulate

    loaded = rules_and_queries(args, [args.a, args.b])
    encode = query_encoder(args)
    if loaded is None or encode is False:
        return EXIT_USAGE
    try:
        backend = make_backend(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rulesets, queries = dict(zip("ab", loaded[0])), loaded[1]
    pages: dict[str, dict[str, list[str]]] = {"a": {}, "b": {}}
    for side, ruleset in rulesets.items():
        evaluator = Evaluator(backend, ruleset, args.mode, args.k, encode=encode)
        for q in tqdm(queries, desc=f"pages of {side}", unit="query", disable=args.quiet, file=sys.stderr):
            response, _ = evaluator.page(q, {})
            pages[side][q.qid] = [h["id"] for h in response["hits"]]
    grades = {q.qid: q.judgments for q in queries}
    top = max((g for q in queries for g in q.judgments.values()), default=1)

    def run(fn, a, b, seed, **kw):
        return fn(a, b, grades, args.model, seed, top=top, **kw)

    needed: dict[str, list[float | None]] = {"ab": [], "interleaving": []}
    wrong = {"ab": 0, "interleaving": 0}
    better = _better(pages, grades, args.k)
    bar = tqdm(total=args.runs * 2 + args.aa_runs * 2, desc="simulating", unit="run", disable=args.quiet, file=sys.stderr)
    for seed in range(args.runs):
        for name, fn, sessions in (("ab", simulate.ab, args.ab_sessions or args.sessions),
                                   ("interleaving", simulate.interleave, args.sessions)):
            o = run(fn, pages["a"], pages["b"], seed, sessions=sessions)
            needed[name].append(None if o.needed is None else round(o.needed))
            wrong[name] += o.better is not None and o.better != better
            bar.update(1)
    # the null cases: A/B of A against itself; interleaving of A against B for shoppers who click
    # by position only (every item as attractive): the same rules on both arms leave nothing to
    # credit (every item is both arms' at its rank), so a different pair of equal worth tests it
    alike = {q: dict.fromkeys([*pages["a"][q], *pages["b"][q]], top) for q in pages["a"]}
    aa_winners = {"ab": 0, "interleaving": 0}
    for seed in range(args.aa_runs):
        aa_winners["ab"] += run(simulate.ab, pages["a"], pages["a"], 10_000 + seed,
                                sessions=args.aa_sessions).winner is not None
        aa_winners["interleaving"] += simulate.interleave(pages["a"], pages["b"], alike, args.model, 10_000 + seed,
                                                          args.aa_sessions, top=top).winner is not None
        bar.update(2)
    bar.close()

    def median(xs: list[float | None]) -> float | None:
        """A run that saw no difference needs endless sessions; None when most did."""
        m = statistics.median(x if x is not None else float("inf") for x in xs) if xs else float("inf")
        return None if m == float("inf") else m

    result = {"queries": len(queries), "model": args.model, "runs": args.runs,
              "sessions_per_run": {"ab": args.ab_sessions or args.sessions, "interleaving": args.sessions},
              "better_by_ndcg": better, "ab_sessions": needed["ab"], "interleaving_sessions": needed["interleaving"],
              "ab_sessions_median": median(needed["ab"]), "interleaving_sessions_median": median(needed["interleaving"]),
              "runs_favouring_the_worse": wrong, "aa_runs": args.aa_runs * 2, "aa_sessions": args.aa_sessions,
              "aa_false_winner_rate": round(sum(aa_winners.values()) / (args.aa_runs * 2), 4),
              "aa_false_winner_rate_by_method": {k: round(v / args.aa_runs, 4) for k, v in aa_winners.items()},
              "command": "sidecar " + " ".join(sys.argv[1:])}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        ratio = (result["ab_sessions_median"] / result["interleaving_sessions_median"]
                 if result["ab_sessions_median"] and result["interleaving_sessions_median"] else None)
        print(f"better by nDCG@{args.k} of the judgments: {result['better_by_ndcg']}")
        print(f"sessions to name it at 95% with 80% power (median of {args.runs} runs): A/B {result['ab_sessions_median']}, "
              f"interleaving {result['interleaving_sessions_median']}" + (f" ({ratio:.1f}x fewer)" if ratio else ""))
        by = result["aa_false_winner_rate_by_method"]
        print(f"null cases: a winner declared in {result['aa_false_winner_rate']:.1%} of {result['aa_runs']} fixed-horizon "
              f"runs of {args.aa_sessions} sessions (A/B of A against A {by['ab']:.1%}, interleaving of A against B "
              f"for position-only shoppers {by['interleaving']:.1%})")
    return EXIT_OK


def _better(pages: dict[str, dict[str, list[str]]], grades: dict[str, dict[str, int]], k: int) -> str | None:
    """The rule set whose pages have the higher mean nDCG@k by the judgments (None: equal)."""
    from ..preview.compare import ndcg

    mean = {s: sum(ndcg(p, grades.get(q, {}), k) for q, p in pages[s].items()) / max(1, len(pages[s])) for s in pages}
    return None if mean["a"] == mean["b"] else max(mean, key=mean.get)


def register(sub: Any) -> None:
    """`sidecar experiments simulate` and `sidecar experiments report`."""
    ex = sub.add_parser("experiments", formatter_class=formatter(), help="experiments between rule sets: report, simulate")
    esub = ex.add_subparsers(dest="experiments_command", required=True, metavar="COMMAND")
    sm = esub.add_parser("simulate", formatter_class=formatter(), help="how many sessions A/B and interleaving need",
                         description="Build each query's page under rule set A and under rule set B (as /search does),\n"
                                     "then let simulated shoppers click by the queries' graded judgments (--model pbm:\n"
                                     "position-based; cascade: read down, click the first attractive item, read on with\n"
                                     "probability 0.8). Per run: the sessions A/B needs (each session one arm's page,\n"
                                     "sessions-with-a-click rates, z-test) and interleaving needs (team-draft pages, sign\n"
                                     "test) to name the better set at 95% with 80% power, estimated from each run's own\n"
                                     "simulated sessions (--sessions, --ab-sessions: the effect and its variance); and\n"
                                     "how often a test of --aa-sessions sessions declares a winner where there is none\n"
                                     "(A/B: A against itself; interleaving: A against B for shoppers who click by position\n"
                                     "only, since with the same rules on both arms no click is credited to either).",
                         epilog="example: sidecar experiments simulate --queries ../shared/data/fashion/queries-dev.jsonl \\\n"
                                "  --query-vectors ../shared/data/fashion/query-vectors-dev.f16.npy --backend memory \\\n"
                                "  --catalog ../shared/data/fashion/catalog.jsonl --vectors ../shared/data/fashion/vectors-minilm.f16.npy \\\n"
                                "  --mode knn --a query_rules --b rules-without-dedup --runs 20 --json")
    retrieval_arguments(sm)
    sm.add_argument("--a", required=True, metavar="DIR", help="rule set A")
    sm.add_argument("--b", required=True, metavar="DIR", help="rule set B")
    sm.add_argument("--runs", type=int, default=20, help="repeated runs (seeds 0..N-1; default: %(default)s)")
    sm.add_argument("--model", choices=["pbm", "cascade"], default="pbm", help="click model (default: %(default)s)")
    sm.add_argument("--sessions", type=int, default=20000, help="sessions an interleaving run simulates (default: %(default)s)")
    sm.add_argument("--ab-sessions", type=int, help="sessions an A/B run simulates (default: --sessions); an estimate "
                                                    "is only as good as a run is long against what it finds it needs")
    sm.add_argument("--aa-runs", type=int, default=100, help="null-case runs per method for the false-winner rate "
                                                             "(default: %(default)s)")
    sm.add_argument("--aa-sessions", type=int, default=2000, help="sessions of each null-case run (default: %(default)s)")
    sm.add_argument("--json", action="store_true", help="print the result as JSON")
    quiet_option(sm)
    sm.set_defaults(func=cmd_experiments_simulate)
    rp = esub.add_parser("report", formatter_class=formatter(), help="what shoppers did on each arm of an experiment",
                         description="Read the experiment's pages from the decision log and the shoppers' events (POST\n"
                                     "/events) from the events index, and say per arm: pages, and the share of pages with\n"
                                     "a click, an add-to-cart, a purchase, each with its Wilson 95% interval, and the\n"
                                     "arms' difference (two-proportion z-test); the constraint satisfaction and the\n"
                                     "near-duplicates collapsed per page. An interleaving experiment: the share of pages\n"
                                     "with clicks that prefer arm b, its interval and the sign test's p-value.\n"
                                     "Each event was judged when it was stored; the report counts the verdicts in\n"
                                     "OpenSearch (its time does not grow with the events) after judging the events\n"
                                     "still waiting for their page. docs/experiments.md says what the figures mean and where they mislead.",
                         epilog="example: sidecar experiments report next-rules --since 7d --plot next-rules.png")
    rp.add_argument("name", help="the experiment's name (as in the rule file)")
    rp.add_argument("--since", default="30d", help="how far back (m, h, d, w; default: %(default)s)")
    url_option(rp)
    prefix_option(rp)
    events_index_option(rp)
    rp.add_argument("--plot", metavar="FILE.png", help="draw the running estimate")
    rp.add_argument("--json", action="store_true", help="print the report as JSON")
    rp.set_defaults(func=cmd_experiments_report)
