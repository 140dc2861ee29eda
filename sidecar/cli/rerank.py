"""`sidecar rerank`: candidates from stdin (the body of POST /rerank), the reranked page to stdout."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import config
from .common import EXIT_OK, EXIT_USAGE, formatter


def cmd_rerank(args: argparse.Namespace) -> int:
    from ..search.contract import validate
    from ..rerank import rerank

    from ..rules import RuleLoadError, load_rules_dir

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


def register(sub: Any) -> None:
    """`sidecar rerank`: candidates from stdin, the reranked page to stdout."""
    rr = sub.add_parser("rerank", formatter_class=formatter(), help="rerank candidates given as JSON (stdin -> stdout)",
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
