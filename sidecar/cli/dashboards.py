"""`sidecar dashboards`: the decision log's OpenSearch Dashboards saved objects."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_OK, events_index_option, formatter, prefix_option


def cmd_dashboards(args: argparse.Namespace) -> int:
    from ..opensearch.dashboards import ndjson

    text = ndjson(args.prefix, args.events_index)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{text.count(chr(10))} saved objects for {args.prefix}-* and {args.events_index} -> {args.out}",
              file=sys.stderr)
    return EXIT_OK


def register(sub: Any) -> None:
    """`sidecar dashboards`: the decision log's saved objects."""
    db = sub.add_parser("dashboards", formatter_class=formatter(), help="print the decision log's Dashboards saved objects",
                        description="Write the OpenSearch Dashboards saved objects of the decision log and the\n"
                                    "shoppers' events (an index pattern over PREFIX-* with @timestamp as time field,\n"
                                    "one over the events index with timestamp, eight visualizations, one dashboard)\n"
                                    "as the NDJSON the saved-objects import API takes.",
                        epilog="example: sidecar dashboards --out decisions.ndjson && curl -X POST \\\n"
                               "  'localhost:5601/api/saved_objects/_import?overwrite=true' -H 'osd-xsrf: true' \\\n"
                               "  --form file=@decisions.ndjson")
    prefix_option(db)
    events_index_option(db)
    db.add_argument("--out", default="-", metavar="FILE", help="output file (default: stdout)")
    db.set_defaults(func=cmd_dashboards)
