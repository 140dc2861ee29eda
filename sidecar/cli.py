"""The `sidecar` command: index a catalog, rerank from stdin, check rules, serve, evaluate."""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import config, logs

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _fmt(parser_class: type = argparse.RawDescriptionHelpFormatter) -> Callable[..., argparse.HelpFormatter]:
    return lambda prog: parser_class(prog, max_help_position=32)


def cmd_index(args: argparse.Namespace) -> int:
    from opensearchpy.exceptions import ConnectionError as OSConnectionError

    from .indexer import index_catalog
    from .opensearch import make_client

    encoder = None
    if not args.vectors and args.embed != "none":  # the titles, embedded as /search embeds queries
        from .encoder import ALL_CORES, load as load_encoder

        encoder = load_encoder(config.default("encoder"), threads=ALL_CORES)  # EncoderError: main says it
        if encoder is None:
            print("note: no --vectors and SIDECAR_ENCODER=off: the index gets no vectors (BM25 only)", file=sys.stderr)
    client = make_client(args.url, timeout=30)
    try:
        summary = index_catalog(client, Path(args.catalog), args.index, Path(args.vectors) if args.vectors else None,
                                recreate=args.recreate, batch_size=args.batch_size, progress=not args.quiet,
                                shards=args.shards, replicas=args.replicas, encoder=encoder,
                                text_field=args.embed)
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSConnectionError:
        print(f"error: OpenSearch is not reachable at {args.url} (start it with scripts/opensearch.sh start)", file=sys.stderr)
        return EXIT_ERROR
    for bad in summary.skipped_lines[:20]:
        print(f"{args.catalog}:{bad.line}: skipped: {bad.reason}", file=sys.stderr)
    if len(summary.skipped_lines) > 20:
        print(f"... and {len(summary.skipped_lines) - 20} more bad lines", file=sys.stderr)
    s = summary.as_dict()
    print(f"indexed {s['indexed']}, failed {s['failed']}, skipped {s['skipped_lines']} bad lines, "
          f"{s['seconds']} s, {s['docs_per_second']} docs/s")
    return EXIT_OK if summary.failed == 0 else EXIT_ERROR


def cmd_rerank(args: argparse.Namespace) -> int:
    from .contract import validate
    from .rerank import rerank

    from .rules import RuleLoadError, load_rules_dir

    try:
        raw = sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
        request = json.loads(raw)
    except json.JSONDecodeError as exc:
        print(f"error: request is not valid JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot read {args.input}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        validate("RerankRequest", request)  # the /rerank contract: the same errors as the API's 400s
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rules = None
    if isinstance(request.get("rule"), str):  # a rule id: load the rule set
        try:
            rules = load_rules_dir(Path(args.rules)).by_id
        except RuleLoadError as exc:
            print(f"error: rule set {args.rules} is invalid:\n" + "\n".join(f"  {e}" for e in exc.errors), file=sys.stderr)
            return EXIT_USAGE
    try:
        response = rerank(request, rules, now=datetime.now(timezone.utc))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    json.dump(response, sys.stdout, indent=2 if args.pretty else None)
    sys.stdout.write("\n")
    return EXIT_OK


def cmd_rules_check(args: argparse.Namespace) -> int:
    from .rules import RuleLoadError, load_rules_dir

    try:
        rs = load_rules_dir(Path(args.dir))
    except RuleLoadError as exc:
        for err in exc.errors:
            print(err)
        sys.stdout.flush()  # the errors, then the verdict, in that order on a terminal
        print(f"{len(exc.errors)} error(s): the rule set was NOT accepted", file=sys.stderr)
        return EXIT_ERROR
    from .rules.lint import lint

    warnings = lint(rs)
    for w in warnings:
        print(w)
    n_exact = sum(len(v) for v in rs.exact.values())
    print(f"OK{f' with {len(warnings)} warning(s)' if warnings else ''}: {len(rs.located)} rules in {len(rs.files)} files (version {rs.version}); "
          f"{n_exact} exact queries, {len(rs.patterns)} patterns, "
          f"default: {rs.default.rule.id if rs.default else 'none (unmatched queries are not reranked)'}")
    for ex in rs.experiments:
        a, b = rs.arms[ex.name]
        print(f"experiment {ex.name} ({ex.file}:{ex.line}): {ex.method}, "
              f"share {ex.share:g}, a = {ex.a} (version {a.version}), b = {ex.b} (version {b.version})"
              + (f", only rule {ex.rule}" if ex.rule else "")
              + (f", from {ex.start.isoformat()}" if ex.start else "") + (f" until {ex.end.isoformat()}" if ex.end else ""))
    return EXIT_OK


def cmd_rules_explain(args: argparse.Namespace) -> int:
    from .rules import RuleLoadError, load_rules_dir, normalize_query

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


def cmd_warm(args: argparse.Namespace) -> int:
    import time

    from numba.core import config as numba_config

    from .jit_cache import kernel_stats

    t0 = time.perf_counter()
    from .rerank.warmup import warm

    ran = warm()
    loaded, compiled = kernel_stats()
    print(f"reranking kernels ready ({', '.join(ran)}) in {time.perf_counter() - t0:.1f} s: {loaded} loaded from "
          f"the cache, {compiled} compiled; cache: {numba_config.CACHE_DIR or 'none (no writable directory)'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from .config import Config
    from .rules import RuleLoadError, RuleStore

    try:
        cfg = Config.load(backend=args.backend, catalog=args.catalog, vectors=args.vectors, rules=args.rules,
                          host=args.host, port=args.port, workers=args.workers, opensearch_url=args.url,
                          index=args.index, log_level=args.log_level)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if cfg.backend == "memory" and not Path(cfg.catalog).exists():
        print(f"error: catalog {cfg.catalog} not found (--catalog or SIDECAR_CATALOG)", file=sys.stderr)
        return EXIT_USAGE
    made_run_dir = not cfg.run_dir
    cfg = _with_run_dir(cfg)
    if not cfg.secret:  # one key for every worker of this server (page ids, assignment)
        import dataclasses

        from .experiments.identity import random_secret

        logging.getLogger(__name__).warning("SIDECAR_SECRET is empty: this server signs page ids and assigns "
                                            "experiments with a random key of this run; set it (`openssl rand -hex "
                                            "32`) so that replicas, restarts and `sidecar experiments report` agree")
        cfg = dataclasses.replace(cfg, secret=random_secret())
    master = os.getpid()
    try:
        from .rules.store import snapshot_path

        try:  # fail fast, before forking workers, with every rule error listed; workers boot from the snapshot
            RuleStore(Path(cfg.rules), snapshot=snapshot_path(cfg.run_dir))
        except RuleLoadError as exc:
            print("error: the rule set is invalid; fix it before serving:", file=sys.stderr)
            for err in exc.errors:
                print(f"  {err}", file=sys.stderr)
            return EXIT_USAGE
        problem = _encoder_problem(cfg.encoder)  # a missing or broken model: one line now, not a worker that cannot boot
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        _warm_before_fork()
        from .server.gunicorn_app import SidecarServer

        from .encoder import DEFAULT as DEFAULT_ENCODER, is_off

        logging.getLogger(__name__).info("serving %s backend on http://%s:%d with %d workers, rules from %s, %s",
                                         cfg.backend, cfg.host, cfg.port, cfg.workers, cfg.rules,
                                         "query encoder off (SIDECAR_ENCODER=off): text-only searches are BM25"
                                         if is_off(cfg.encoder) else
                                         f"query encoder {cfg.encoder or DEFAULT_ENCODER}: text-only searches are "
                                         "hybrid where the index has vectors")
        SidecarServer(cfg).run()
    finally:
        # a worker leaves through this frame too (it was forked inside run()); the run dir is the
        # master's, shared by every worker, and goes only when the master exits
        if made_run_dir and os.getpid() == master:
            import shutil

            shutil.rmtree(cfg.run_dir, ignore_errors=True)
    return EXIT_OK


_LOAD_ENCODER = """
import sys
from sidecar.encoder import EncoderError, load
try:
    load(sys.argv[1])
except EncoderError as exc:
    print(exc)
    sys.exit(2)
"""


def _encoder_problem(setting: str) -> str | None:
    """What is wrong with the configured encoder, found by loading it in a child process (None:
    it loads). Not in the gunicorn master itself: onnxruntime loaded before the fork leaves every
    worker a copy of its thread state, and the worker then aborts at exit ("terminate called after
    throwing an instance of 'std::system_error'")."""
    import subprocess

    res = subprocess.run([sys.executable, "-c", _LOAD_ENCODER, setting], capture_output=True, text=True, timeout=300)
    if res.returncode == 0:
        return None
    if res.returncode == 2 and res.stdout.strip():
        return res.stdout.strip().splitlines()[-1]
    tail = (res.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return f"SIDECAR_ENCODER={setting}: the model could not be loaded (exit {res.returncode}: {tail})"


def _warm_before_fork() -> None:
    """Compile (or load from the cache) every kernel in the master, before gunicorn forks: each
    worker inherits them compiled, so none boots cold (numba holds the GIL while compiling, and a
    worker busy for a minute would miss gunicorn's boot timeout). The master imports only the core
    and the rules here: ssl and urllib3 must first be imported by the workers, after gevent's
    monkey-patching, and onnxruntime by the workers alone (``_encoder_problem``)."""
    import time

    from .jit_cache import cache_state

    log = logging.getLogger(__name__)
    state = cache_state()
    if state != "ready":
        log.info("compiling the reranking kernels (%s; once per version: one to two minutes on 2 cores)", state)
    t0 = time.perf_counter()
    from .rerank.warmup import warm

    warm()
    log.info("reranking kernels ready in %.1f s", time.perf_counter() - t0)


def _with_run_dir(cfg: "config.Config") -> "config.Config":
    """The directory the workers share (metrics, rule status), made empty, and prometheus-client
    switched to multiprocess mode before any worker imports it."""
    import dataclasses
    import os
    import shutil
    import tempfile

    run_dir = Path(cfg.run_dir) if cfg.run_dir else Path(tempfile.mkdtemp(prefix="sidecar-run-"))
    for sub in ("metrics", "workers"):
        shutil.rmtree(run_dir / sub, ignore_errors=True)  # samples of an earlier server would add up
        try:
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the server serves on; the workers say what they do without (/readyz)
            logging.getLogger(__name__).warning("run dir %s: %s cannot be made (%s)", run_dir, sub, exc)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(run_dir / "metrics")
    return dataclasses.replace(cfg, run_dir=str(run_dir))


def cmd_dashboards(args: argparse.Namespace) -> int:
    from .dashboards import ndjson

    text = ndjson(args.prefix, args.events_index)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{text.count(chr(10))} saved objects for {args.prefix}-* and {args.events_index} -> {args.out}",
              file=sys.stderr)
    return EXIT_OK


def _backend(args: argparse.Namespace):
    """The retrieval backend of `sidecar eval` and `sidecar rules diff` (--backend, --catalog,
    --vectors, --url, --index); ValueError when the memory backend has no catalog."""
    if args.backend == "memory":
        if not args.catalog:
            raise ValueError("--backend memory needs --catalog (and --vectors for knn/hybrid and ILD)")
        from .retrieval.memory import MemoryBackend

        return MemoryBackend(Path(args.catalog), Path(args.vectors) if args.vectors else None)
    from .opensearch import make_client
    from .retrieval.opensearch_backend import OpenSearchBackend

    return OpenSearchBackend(make_client(args.url, timeout=30), args.index, 30.0)


def cmd_rules_diff(args: argparse.Namespace) -> int:
    import dataclasses

    from .pipeline import default_mode
    from .preview import render, sources
    from .preview.replay import replay
    from .rules import RuleLoadError, load_rules_dir

    rulesets = []
    for d in (args.old, args.new):
        try:
            rulesets.append(load_rules_dir(Path(d)))
        except RuleLoadError as exc:
            print(f"error: {d}: the rule set is invalid:\n" + "\n".join(f"  {e}" for e in exc.errors), file=sys.stderr)
            return EXIT_USAGE
    try:
        if args.from_log:
            from .opensearch import make_client

            queries = sources.from_log(make_client(args.url, timeout=30), args.from_log, args.since, args.top)
            if not queries:
                print(f"error: no /search queries in {args.from_log}-* since {args.since}", file=sys.stderr)
                return EXIT_USAGE
        else:
            queries = sources.from_file(Path(args.queries), Path(args.query_vectors) if args.query_vectors else None)
        if args.limit:
            queries = queries[: args.limit]
        encode = _query_encoder(args)
        if encode is False:
            return EXIT_USAGE
        backend = _backend(args)
        # by default, what /search does with these texts: hybrid on the encoded text where the
        # encoder is on and the index has vectors, else bm25
        mode = args.mode or default_mode(False, True, encode is not None or bool(args.query_vectors), backend)
        if mode != "bm25" and encode is not None:
            queries = [q if q.vector is not None else dataclasses.replace(q, vector=encode(q.text)) for q in queries]
        report, comparisons = replay(backend, rulesets[0], rulesets[1], queries, k=args.k, mode=mode,
                                     progress=not args.quiet)
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


def cmd_config(args: argparse.Namespace) -> int:
    """Every setting's effective value and where it came from."""
    try:
        settings = config.effective()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = []
    for s, value, source in settings:
        shown = ("*" * 8 if value else "") if s.secret else value
        rows.append({"env": s.env, "value": shown, "source": source, "default": s.default, "help": s.help})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(r["env"]) for r in rows)
    for r in rows:
        print(f"{r['env']:<{width}}  {str(r['value']):<28} {r['source']}")
    return EXIT_OK


def _rules_and_queries(args: argparse.Namespace, dirs: list[str]) -> tuple[list[Any], list[Any]] | None:
    """The rule sets of ``dirs`` and the queries file of `sidecar eval` and `experiments
    simulate`; None after saying what is wrong."""
    from .evaluation.harness import load_queries
    from .rules import RuleLoadError, load_rules_dir

    try:
        rulesets = [load_rules_dir(Path(d)) for d in dirs]
        return rulesets, load_queries(Path(args.queries), Path(args.query_vectors) if args.query_vectors else None)
    except RuleLoadError as exc:
        print("error: invalid rules:\n" + "\n".join(f"  {e}" for e in exc.errors), file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return None


def _query_encoder(args: argparse.Namespace) -> Any:
    """What embeds the query texts as /search does (None: the given --query-vectors, or BM25);
    False after saying that --mode needs vectors the encoder (off) cannot give."""
    if args.mode == "bm25" or args.query_vectors:
        return None
    from .encoder import load as load_encoder

    encoder = load_encoder(config.default("encoder"))  # EncoderError: main says it
    if encoder is None and args.mode is not None:
        print(f"error: --mode {args.mode} needs --query-vectors when SIDECAR_ENCODER=off", file=sys.stderr)
        return False
    return None if encoder is None else encoder.query


def cmd_experiments_report(args: argparse.Namespace) -> int:
    from .experiments import report, source
    from .opensearch import make_client
    from .decision_log import since_clause

    try:
        since_clause(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from .config import default
    from .experiments.identity import PageSigner

    secret = default("secret")
    if not secret:
        print("error: the report checks each event's page id with SIDECAR_SECRET, the key the servers signed their "
              "pages with: set it as they have it", file=sys.stderr)
        return EXIT_USAGE
    out = source.read_report(make_client(args.url, timeout=30), args.prefix, args.events_index, args.name, args.since,
                             PageSigner(secret).verify)
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

    from .evaluation.harness import Evaluator
    from .experiments import simulate

    loaded = _rules_and_queries(args, [args.a, args.b])
    encode = _query_encoder(args)
    if loaded is None or encode is False:
        return EXIT_USAGE
    try:
        backend = _backend(args)
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
    from .preview.compare import ndcg

    mean = {s: sum(ndcg(p, grades.get(q, {}), k) for q, p in pages[s].items()) / max(1, len(pages[s])) for s in pages}
    return None if mean["a"] == mean["b"] else max(mean, key=mean.get)


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation.harness import STRATEGIES, Evaluator
    from .evaluation.report import plot, table

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
    loaded = _rules_and_queries(args, [args.rules])
    encode = _query_encoder(args)
    if loaded is None or encode is False:
        return EXIT_USAGE
    (ruleset,), queries = loaded
    if args.limit:
        queries = queries[: args.limit]
    import numpy as np

    vector_of = None
    try:
        backend = _backend(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.backend == "memory":
        if backend.vectors is not None:
            vector_of = backend.vector_of
    else:
        if args.catalog and args.vectors:
            from .catalog import BadLine, count_lines, iter_catalog, load_vectors

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
              "strategies": results}
    if sweep:
        report["sweep"] = {"param": sweep[0], "values": sweep[1], "strategy": "rules",
                           "points": [f"rules[{sweep[0]}={v:g}]" for v in sweep[1]]}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results, args.k))
    print(f"\nreport written to {args.out}")
    if args.plot:
        plot(report, Path(args.plot))
        print(f"plot written to {args.plot}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The `sidecar` command: each subcommand's parser is built by its own function below."""
    p = argparse.ArgumentParser(
        prog="sidecar",
        formatter_class=_fmt(),
        description="SRP diversity sidecar: reranks OpenSearch candidates under per-query YAML rules\n"
                    "(eBay's agent-based diversity, MMR and MinHash near-duplicate spreading).",
        epilog="Run `sidecar COMMAND --help` for the options of one command. Settings are read from\n"
               "SIDECAR_* environment variables (docs/operations.md; `sidecar config` prints them).",
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"sidecar {__version__}")
    p.add_argument("--log-level", default=config.default("log_level"), help="logging level (env SIDECAR_LOG_LEVEL)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _index_command(sub)
    _rerank_command(sub)
    _warm_command(sub)
    _serve_command(sub)
    _dashboards_command(sub)
    _eval_command(sub)
    _experiments_command(sub)
    _config_command(sub)
    _rules_command(sub)
    return p


def _index_command(sub: Any) -> None:
    """`sidecar index`: bulk-load a catalog."""
    ix = sub.add_parser("index", formatter_class=_fmt(), help="bulk-load a catalog JSONL (+ vectors) into OpenSearch",
                        description="Bulk-load a catalog (one JSON product a line, as ../shared/data/fashion/catalog.jsonl)\n"
                                    "into an OpenSearch index created from mappings/products.json, with title vectors\n"
                                    "from a .npy (float16/float32, row i = line i) and MinHash signatures for\n"
                                    "near-duplicate detection. Bad lines are reported with their line number and\n"
                                    "skipped; a vector count that does not match the catalog is an error before\n"
                                    "anything is written. Without --vectors, each product's title (--embed) is\n"
                                    "embedded by the query encoder (SIDECAR_ENCODER) on every core, so text\n"
                                    "searches are semantic.",
                        epilog="example: sidecar index --catalog demo/catalog.jsonl --vectors demo/vectors.npy --index products --recreate")
    ix.add_argument("--catalog", required=True, metavar="FILE.jsonl", help="catalog, one product per line")
    ix.add_argument("--vectors", metavar="FILE.npy", help="vectors, row i = line i of the catalog (default: embed --embed)")
    ix.add_argument("--embed", default="title", metavar="FIELD",
                    help="without --vectors: the text field embedded by the query encoder, or 'none' for no vectors "
                         "(default: %(default)s)")
    ix.add_argument("--index", default=config.default("index"), help="index name (default: %(default)s)")
    ix.add_argument("--recreate", action="store_true", help="delete and recreate the index first")
    ix.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch URL (default: %(default)s)")
    ix.add_argument("--batch-size", type=int, default=500, help="documents per bulk request (default: %(default)s)")
    ix.add_argument("--shards", type=int, help="primary shards of a new index (default 1; a 3-node cluster: 3)")
    ix.add_argument("--replicas", type=int, help="replicas of a new index (default: 0 on one node, 1 on a cluster, "
                                                 "auto-expanded)")
    ix.add_argument("--quiet", action="store_true", help="no progress bar")
    ix.set_defaults(func=cmd_index)


def _rerank_command(sub: Any) -> None:
    """`sidecar rerank`: candidates from stdin, the reranked page to stdout."""
    rr = sub.add_parser("rerank", formatter_class=_fmt(), help="rerank candidates given as JSON (stdin -> stdout)",
                        description="Rerank candidates supplied by the caller. The request is the JSON of POST /rerank:\n"
                                    '  {"candidates": [{"id", "score", "fields", "vector"?, "title"?, "signature"?}],\n'
                                    '   "rule": {inline rule} | "rule-id", "query_vector"?, "size"?, "explain"?}\n'
                                    'The response is {"rule": id, "hits": [{"id", "rank", "original_rank", "reason"?}]}.\n'
                                    "Invalid input prints the reason and exits with status 2.",
                        epilog="example: echo '{\"candidates\": [...], \"rule\": \"default\"}' | sidecar rerank --rules query_rules")
    rr.add_argument("input", nargs="?", default="-", help="request file (default: stdin)")
    rr.add_argument("--rules", metavar="DIR", default=config.default("rules"),
                    help="rule directory, for rules given by id (default: %(default)s)")
    rr.add_argument("--pretty", action="store_true", help="indent the JSON output")
    rr.set_defaults(func=cmd_rerank)


def _warm_command(sub: Any) -> None:
    """`sidecar warm`: compile the kernels into the cache."""
    wm = sub.add_parser("warm", formatter_class=_fmt(), help="compile the reranking kernels into numba's cache",
                        description="Compile every reranking kernel (agent loop, MMR, DPP, near-duplicates) once, so\n"
                                    "that no request pays for compilation. The first run on a machine took 71 s on\n"
                                    "2 quiet cores and 107-110 s with both busy (bench/bench_startup.py); later runs,\n"
                                    "and every service start, load the kernels from the cache in 1-2 s. `sidecar\n"
                                    "serve` does this itself before it starts its workers; the Docker image runs it\n"
                                    "at build time.",
                        epilog="example: sidecar warm")
    wm.set_defaults(func=cmd_warm)


def _serve_command(sub: Any) -> None:
    """`sidecar serve`: the HTTP API under gunicorn."""
    sv = sub.add_parser("serve", formatter_class=_fmt(), help="serve the HTTP API with gunicorn",
                        description="Serve /search, /rerank, the read-only /<index>/_search and _count proxy, /healthz,\n"
                                    "/readyz, /metrics, /version, /openapi.json and /admin/rules with gunicorn. Every option can also be set by its\n"
                                    "SIDECAR_* environment variable (docs/operations.md). Rule files are\n"
                                    "re-read when they change; a broken edit is rejected and the last good rules serve on.",
                        epilog="example: sidecar serve --backend memory --catalog demo/catalog.jsonl --vectors demo/vectors.npy")
    sv.add_argument("--backend", choices=["opensearch", "memory"], help="retrieval backend (env SIDECAR_BACKEND, default memory)")
    sv.add_argument("--catalog", metavar="FILE.jsonl", help="catalog for the memory backend (env SIDECAR_CATALOG)")
    sv.add_argument("--vectors", metavar="FILE.npy", help="vectors for the memory backend (env SIDECAR_VECTORS)")
    sv.add_argument("--rules", metavar="DIR", help="rule directory (env SIDECAR_RULES, default query_rules)")
    sv.add_argument("--url", help="OpenSearch URL (env SIDECAR_OPENSEARCH_URL)")
    sv.add_argument("--index", help="products index (env SIDECAR_INDEX)")
    sv.add_argument("--host", help="bind address (env SIDECAR_HOST, default 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (env SIDECAR_PORT, default 8080)")
    sv.add_argument("--workers", type=int, help="gunicorn workers (env SIDECAR_WORKERS, default 2)")
    sv.set_defaults(func=cmd_serve)


def _dashboards_command(sub: Any) -> None:
    """`sidecar dashboards`: the decision log's saved objects."""
    db = sub.add_parser("dashboards", formatter_class=_fmt(), help="print the decision log's Dashboards saved objects",
                        description="Write the OpenSearch Dashboards saved objects of the decision log and the\n"
                                    "shoppers' events (an index pattern over PREFIX-* with @timestamp as time field,\n"
                                    "one over the events index with timestamp, eight visualizations, one dashboard)\n"
                                    "as the NDJSON the saved-objects import API takes.",
                        epilog="example: sidecar dashboards --out decisions.ndjson && curl -X POST \\\n"
                               "  'localhost:5601/api/saved_objects/_import?overwrite=true' -H 'osd-xsrf: true' \\\n"
                               "  --form file=@decisions.ndjson")
    db.add_argument("--prefix", default=config.default("decision_log_index"),
                    help="decision-log index prefix (env SIDECAR_DECISION_LOG_INDEX, default: %(default)s)")
    db.add_argument("--events-index", default=config.default("events_index"),
                    help="events index (env SIDECAR_EVENTS_INDEX, default: %(default)s)")
    db.add_argument("--out", default="-", metavar="FILE", help="output file (default: stdout)")
    db.set_defaults(func=cmd_dashboards)


def _retrieval_arguments(p: argparse.ArgumentParser) -> None:
    """The queries and the retrieval of `sidecar eval` and `sidecar experiments simulate`."""
    p.add_argument("--queries", required=True, metavar="Q.jsonl", help="queries with judgments (queries-dev.jsonl format)")
    p.add_argument("--query-vectors", metavar="QV.npy", help="query vectors, row i = query i (knn and hybrid modes; "
                                                              "without it the texts are embedded by SIDECAR_ENCODER)")
    p.add_argument("--backend", choices=["memory", "opensearch"], default="memory", help="retrieval backend (default: %(default)s)")
    p.add_argument("--catalog", metavar="C.jsonl", help="catalog (memory backend; with --vectors also ILD on opensearch)")
    p.add_argument("--vectors", metavar="V.npy", help="catalog vectors")
    p.add_argument("--index", default=config.default("index"), help="index (opensearch backend, default: %(default)s)")
    p.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch URL (default: %(default)s)")
    p.add_argument("--mode", choices=["bm25", "knn", "hybrid"],
                   help="retrieval mode (default: what /search does for a text query: hybrid with the query encoder "
                        "on and catalog vectors, else bm25)")
    p.add_argument("--k", type=int, default=10, help="page size K (default: %(default)s)")


def _experiments_command(sub: Any) -> None:
    """`sidecar experiments simulate` and `sidecar experiments report`."""
    ex = sub.add_parser("experiments", formatter_class=_fmt(), help="experiments between rule sets: report, simulate")
    esub = ex.add_subparsers(dest="experiments_command", required=True, metavar="COMMAND")
    sm = esub.add_parser("simulate", formatter_class=_fmt(), help="how many sessions A/B and interleaving need",
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
    _retrieval_arguments(sm)
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
    sm.add_argument("--quiet", action="store_true", help="no progress bar")
    sm.set_defaults(func=cmd_experiments_simulate)
    rp = esub.add_parser("report", formatter_class=_fmt(), help="what shoppers did on each arm of an experiment",
                         description="Read the experiment's pages from the decision log and the shoppers' events (POST\n"
                                     "/events) from the events index, and say per arm: pages, and the share of pages with\n"
                                     "a click, an add-to-cart, a purchase, each with its Wilson 95% interval, and the\n"
                                     "arms' difference (two-proportion z-test); the constraint satisfaction and the\n"
                                     "near-duplicates collapsed per page. An interleaving experiment: the share of pages\n"
                                     "with clicks that prefer arm b, its interval and the sign test's p-value.\n"
                                     "docs/experiments.md says what the figures mean and where they mislead.",
                         epilog="example: sidecar experiments report next-rules --since 7d --plot next-rules.png")
    rp.add_argument("name", help="the experiment's name (as in the rule file)")
    rp.add_argument("--since", default="30d", help="how far back (m, h, d, w; default: %(default)s)")
    rp.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch URL (default: %(default)s)")
    rp.add_argument("--prefix", default=config.default("decision_log_index"),
                    help="decision-log index prefix (default: %(default)s)")
    rp.add_argument("--events-index", default=config.default("events_index"),
                    help="events index (default: %(default)s)")
    rp.add_argument("--plot", metavar="FILE.png", help="draw the running estimate")
    rp.add_argument("--json", action="store_true", help="print the report as JSON")
    rp.set_defaults(func=cmd_experiments_report)


def _eval_command(sub: Any) -> None:
    """`sidecar eval`: relevance against diversity."""
    ev = sub.add_parser("eval", formatter_class=_fmt(), help="compare strategies: relevance against diversity",
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
    _retrieval_arguments(ev)
    ev.add_argument("--rules", default=config.default("rules"), metavar="DIR", help="rule directory (default: %(default)s)")
    ev.add_argument("--out", default="report.json", help="report file (default: %(default)s)")
    ev.add_argument("--plot", metavar="PLOT.png", help="draw the trade-off plot")
    ev.add_argument("--sweep", metavar="PARAM=V1,V2,...", help="lambda=... or diversity=... on the shipped rules")
    ev.add_argument("--limit", type=int, help="only the first N queries")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=cmd_eval)


def _config_command(sub: Any) -> None:
    """`sidecar config`: the effective settings."""
    cf = sub.add_parser("config", formatter_class=_fmt(), help="print the effective settings and where each comes from",
                        description="Print every setting (SIDECAR_* variables) with its effective value and its source:\n"
                                    "environment, .env (of the working directory, or SIDECAR_ENV_FILE) or default.\n"
                                    "The admin token is masked. A value that does not fit its setting is an error\n"
                                    "naming the variable (exit 2).")
    cf.add_argument("--json", action="store_true", help="as a JSON list (env, value, source, default, help)")
    cf.set_defaults(func=cmd_config)


def _rules_command(sub: Any) -> None:
    """`sidecar rules check|explain|diff`."""
    ru = sub.add_parser("rules", formatter_class=_fmt(), help="check rule files, explain a match, diff two rule sets",
                        description="Rule files (query_rules/*.yaml): see docs/rules.md.")
    rsub = ru.add_subparsers(dest="rules_command", metavar="ACTION")
    rc = rsub.add_parser("check", formatter_class=_fmt(), help="validate every rule file of a directory",
                         description="Validate every *.yaml of DIR and print one 'file:line: reason' per error:\n"
                                     "YAML syntax, unknown keys (a typo such as 'mni:'), duplicate ids, fractions\n"
                                     "outside (0, 1], invalid regular expressions, 'any' with 'min', two defaults.\n"
                                     "Exit status 1 on any error, 0 with a summary otherwise.")
    rc.add_argument("dir", nargs="?", default=config.default("rules"), help="rule directory (default: %(default)s)")
    rc.set_defaults(func=cmd_rules_check)
    rx = rsub.add_parser("explain", formatter_class=_fmt(), help="which rule matches a query, and why",
                         description="Show the rule a query gets (exact query > pattern > default) and why.",
                         epilog='example: sidecar rules explain query_rules "Men Sports Shoes"')
    rx.add_argument("dir", help="rule directory")
    rx.add_argument("query", help="the shopper's query")
    rx.add_argument("--filter", action="append", metavar="FIELD=VALUE", help="a request term filter (repeatable)")
    rx.set_defaults(func=cmd_rules_explain)
    rd = rsub.add_parser("diff", formatter_class=_fmt(), help="what a rule edit does to real pages, before it ships",
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
    rd.add_argument("--index", default=config.default("index"), help="index (opensearch, default: %(default)s)")
    rd.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch URL (default: %(default)s)")
    rd.add_argument("--mode", choices=["bm25", "knn", "hybrid"],
                    help="retrieval mode (default: what /search does for a text query: hybrid on the encoded text "
                         "with the query encoder on and catalog vectors, else bm25)")
    rd.add_argument("--k", type=int, default=10, help="first page size compared (default: %(default)s)")
    rd.add_argument("--out", metavar="report.json", help="write the full report as JSON")
    rd.add_argument("--html", metavar="report.html", help="write the changed pages as an HTML report")
    rd.add_argument("--fail-on", choices=["broken"], help="exit 1 when the edit breaks a constraint that held")
    rd.add_argument("--quiet", action="store_true", help="no progress bar")
    rd.set_defaults(func=cmd_rules_diff)
    ru.set_defaults(func=lambda a: (ru.print_help(), EXIT_USAGE)[1])


def main(argv: list[str] | None = None) -> int:
    try:  # the CLI's defaults are the settings: a value that does not fit is one line naming it
        parser = build_parser()
        log_format = config.default("log_format")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    logs.configure(args.log_level, log_format)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a command ends in one line, never a traceback
        from .encoder import EncoderError

        if isinstance(exc, EncoderError):  # a missing or broken model: the message names SIDECAR_ENCODER
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        line = backend_failure(exc, args)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return EXIT_ERROR


def backend_failure(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line for a failure of OpenSearch seen by any command (None: not such a failure)."""
    from opensearchpy.exceptions import ConnectionError as OSConnectionError
    from opensearchpy.exceptions import TransportError

    from .retrieval.base import BackendError

    url = getattr(args, "url", None) or config.default("opensearch_url")
    text = str(exc)
    if isinstance(exc, TransportError) and isinstance(exc.status_code, int):
        info = exc.info if isinstance(exc.info, dict) else {}
        err = info.get("error") if isinstance(info.get("error"), dict) else {}
        text = f"{err.get('type') or exc.error}: {err.get('reason') or ''}".strip(": ")
    if "index_not_found_exception" in text:
        missing = re.search(r"no such index \[([^\]]+)\]", text)
        which = missing.group(1) if missing else (getattr(args, "index", None) or "the one asked for")
        options = " or ".join(o for o in ("--index", "--from-log", "--prefix") if getattr(args, o[2:].replace("-", "_"), None))
        return (f"OpenSearch at {url} has no index {which}" + (f": pass the right one with {options}" if options else "")
                + " (sidecar index creates the products index)")
    if isinstance(exc, OSConnectionError) or (isinstance(exc, BackendError) and "unreachable" in text):
        return f"OpenSearch is not reachable at {url} (start it with scripts/opensearch.sh start, or pass --url)"
    if isinstance(exc, (BackendError, TransportError)):
        return f"OpenSearch at {url} refused the request: {text[:300]}"
    return None


if __name__ == "__main__":
    sys.exit(main())
