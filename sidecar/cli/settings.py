"""`sidecar config`: every setting's effective value and where it came from."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import config
from .common import EXIT_OK, EXIT_USAGE, formatter


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


def register(sub: Any) -> None:
    """`sidecar config`: the effective settings."""
    cf = sub.add_parser("config", formatter_class=formatter(), help="print the effective settings and where each comes from",
                        description="Print every setting (SIDECAR_* variables) with its effective value and its source:\n"
                                    "environment, .env (of the working directory, or SIDECAR_ENV_FILE) or default.\n"
                                    "The admin token is masked. A value that does not fit its setting is an error\n"
                                    "naming the variable (exit 2).")
    cf.add_argument("--json", action="store_true", help="as a JSON list (env, value, source, default, help)")
    cf.set_defaults(func=cmd_config)
