"""What the commands share: exit codes, the help layout, the options several commands take
(defined once), the retrieval backend and queries of eval, simulate and diff, and the one line
for a failure of OpenSearch."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Callable

from .. import config

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def formatter(parser_class: type = argparse.RawDescriptionHelpFormatter) -> Callable[..., argparse.HelpFormatter]:
    """The help layout of every command: descriptions as written, option help from column 32."""
    return lambda prog: parser_class(prog, max_help_position=32)


def url_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=config.default("opensearch_url"), help="OpenSearch URL (default: %(default)s)")


def index_option(p: argparse.ArgumentParser, what: str = "index") -> None:
    p.add_argument("--index", default=config.default("index"), help=f"{what} (default: %(default)s)")


def prefix_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", default=config.default("decision_log_index"),
                   help="decision-log index prefix (env SIDECAR_DECISION_LOG_INDEX, default: %(default)s)")


def events_index_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events-index", default=config.default("events_index"),
                   help="events index (env SIDECAR_EVENTS_INDEX, default: %(default)s)")


def quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def make_backend(args: argparse.Namespace):
    """The retrieval backend of `sidecar eval` and `sidecar rules diff` (--backend, --catalog,
    --vectors, --url, --index); ValueError when the memory backend has no catalog."""
    if args.backend == "memory":
        if not args.catalog:
            raise ValueError("--backend memory needs --catalog (and --vectors for knn/hybrid and ILD)")
        from ..retrieval.memory import MemoryBackend

        return MemoryBackend(Path(args.catalog), Path(args.vectors) if args.vectors else None)
    from ..opensearch.client import make_client
    from ..retrieval.opensearch_backend import OpenSearchBackend

    return OpenSearchBackend(make_client(args.url, timeout=30), args.index, 30.0)


def retrieval_arguments(p: argparse.ArgumentParser) -> None:
    """The queries and the retrieval of `sidecar eval` and `sidecar experiments simulate`."""
    p.add_argument("--queries", required=True, metavar="Q.jsonl", help="queries with judgments (queries-dev.jsonl format)")
    p.add_argument("--query-vectors", metavar="QV.npy", help="query vectors, row i = query i (knn and hybrid modes; "
                                                              "without it the texts are embedded by SIDECAR_ENCODER)")
    p.add_argument("--backend", choices=["memory", "opensearch"], default="memory", help="retrieval backend (default: %(default)s)")
    p.add_argument("--catalog", metavar="C.jsonl", help="catalog (memory backend; with --vectors also ILD on opensearch)")
    p.add_argument("--vectors", metavar="V.npy", help="catalog vectors")
    index_option(p, "index (opensearch backend)")
    url_option(p)
    mode_option(p)
    p.add_argument("--k", type=int, default=10, help="page size K (default: %(default)s)")


def mode_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=["bm25", "knn", "hybrid"],
                   help="retrieval mode (default: what /search does for a text query: hybrid on the encoded text "
                        "with the query encoder on and catalog vectors, else bm25)")


def rules_and_queries(args: argparse.Namespace, dirs: list[str]) -> tuple[list[Any], list[Any]] | None:
    """The rule sets of ``dirs`` and the queries file of `sidecar eval` and `experiments
    simulate`; None after saying what is wrong."""
    from ..evaluation.harness import load_queries
    from ..rules import RuleLoadError, load_rules_dir

    try:
        rulesets = [load_rules_dir(Path(d)) for d in dirs]
        return rulesets, load_queries(Path(args.queries), Path(args.query_vectors) if args.query_vectors else None)
    except RuleLoadError as exc:
        print("error: invalid rules:\n" + "\n".join(f"  {e}" for e in exc.errors), file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return None


def query_encoder(args: argparse.Namespace) -> Any:
    """The query encoder as /search has it (None: SIDECAR_ENCODER=off): it embeds the query texts
    that have no given vector, and the words understanding reads a product type from, in every
    mode; False after saying that --mode needs vectors the encoder (off) cannot give."""
    from ..encoder import load as load_encoder

    encoder = load_encoder(config.default("encoder"))  # EncoderError: main says it
    if encoder is None and args.mode not in (None, "bm25") and not args.query_vectors:
        print(f"error: --mode {args.mode} needs --query-vectors when SIDECAR_ENCODER=off", file=sys.stderr)
        return False
    return None if encoder is None else encoder.query


def backend_failure(exc: BaseException, args: argparse.Namespace) -> str | None:
    """One line for a failure of OpenSearch seen by any command (None: not such a failure)."""
    from opensearchpy.exceptions import ConnectionError as OSConnectionError
    from opensearchpy.exceptions import TransportError

    from ..retrieval.base import BackendError

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
