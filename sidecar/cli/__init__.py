"""The `sidecar` command: one module per command group, each with a ``register(sub)`` that adds
its parser and sets its handler; shared options in ``common``."""
from __future__ import annotations

import argparse
import sys

from .. import config, logs
from . import dashboards, evaluate, experiments, index, rerank, rules, serve, settings
from .common import EXIT_ERROR, EXIT_USAGE, backend_failure, formatter

COMMANDS = (index, rerank, serve, dashboards, evaluate, experiments, settings, rules)  # in `sidecar --help` order


def build_parser() -> argparse.ArgumentParser:
    """The `sidecar` command: each command group adds its own parser (``COMMANDS``)."""
    p = argparse.ArgumentParser(
        prog="sidecar",
        formatter_class=formatter(),
        description="SRP diversity sidecar: reranks OpenSearch candidates under per-query YAML rules\n"
                    "(eBay's agent-based diversity, MMR and MinHash near-duplicate spreading).",
        epilog="Run `sidecar COMMAND --help` for the options of one command. Settings are read from\n"
               "SIDECAR_* environment variables (docs/operations.md; `sidecar config` prints them).",
    )
    from .. import __version__

    p.add_argument("--version", action="version", version=f"sidecar {__version__}")
    p.add_argument("--log-level", default=config.default("log_level"), help="logging level (env SIDECAR_LOG_LEVEL)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return p


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
        from ..encoder import EncoderError

        if isinstance(exc, EncoderError):  # a missing or broken model: the message names SIDECAR_ENCODER
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        line = backend_failure(exc, args)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return EXIT_ERROR
