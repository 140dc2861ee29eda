"""`sidecar serve` (the HTTP API under gunicorn) and `sidecar warm` (the kernels compiled into the cache)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from .. import config
from .common import EXIT_OK, EXIT_USAGE, formatter


def cmd_warm(args: argparse.Namespace) -> int:
    import time

    from ..jit_cache import cache_dir, kernel_stats

    t0 = time.perf_counter()
    from ..rerank.warmup import warm

    ran = warm()
    loaded, compiled = kernel_stats()
    print(f"reranking kernels ready ({', '.join(ran)}) in {time.perf_counter() - t0:.1f} s: {loaded} loaded from "
          f"the cache, {compiled} compiled; cache: {cache_dir()[0] or 'none (no usable directory)'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from ..config import Config
    from ..rules import RuleLoadError, RuleStore

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

        from ..experiments.identity import random_secret

        logging.getLogger(__name__).warning("SIDECAR_SECRET is empty: this server signs page ids and assigns "
                                            "experiments with a random key of this run; set it (`openssl rand -hex "
                                            "32`) so that replicas, restarts and `sidecar experiments report` agree")
        cfg = dataclasses.replace(cfg, secret=random_secret())
    master = os.getpid()
    try:
        from ..rules.store import snapshot_path

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
        from ..server.gunicorn_app import SidecarServer

        from ..encoder import DEFAULT as DEFAULT_ENCODER, is_off

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

    from ..jit_cache import cache_state

    log = logging.getLogger(__name__)
    state = cache_state()
    if state != "ready":
        log.info("compiling the reranking kernels (%s; once per version: one to two minutes on 2 cores)", state)
    t0 = time.perf_counter()
    from ..rerank.warmup import warm

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


def _register_warm(sub: Any) -> None:
    """`sidecar warm`: compile the kernels into the cache."""
    wm = sub.add_parser("warm", formatter_class=formatter(), help="compile the reranking kernels into numba's cache",
                        description="Compile every reranking kernel (agent loop, MMR, DPP, near-duplicates) once, so\n"
                                    "that no request pays for compilation. The first run on a machine took 71 s on\n"
                                    "2 quiet cores and 107-110 s with both busy (bench/bench_startup.py); later runs,\n"
                                    "and every service start, load the kernels from the cache in 1-2 s. `sidecar\n"
                                    "serve` does this itself before it starts its workers; the Docker image runs it\n"
                                    "at build time.",
                        epilog="example: sidecar warm")
    wm.set_defaults(func=cmd_warm)


def register(sub: Any) -> None:
    """`sidecar warm` and `sidecar serve`."""
    _register_warm(sub)
    sv = sub.add_parser("serve", formatter_class=formatter(), help="serve the HTTP API with gunicorn",
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
