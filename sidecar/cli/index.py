"""`sidecar index`: bulk-load a catalog (+ vectors) into OpenSearch."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import config
from .common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, formatter, index_option, quiet_option, url_option


def cmd_index(args: argparse.Namespace) -> int:
    from opensearchpy.exceptions import ConnectionError as OSConnectionError

    from ..opensearch.indexer import index_catalog
    from ..opensearch.client import make_client

    encoder = None
    if not args.vectors and args.embed != "none":  # the titles, embedded as /search embeds queries
        from ..encoder import ALL_CORES, load as load_encoder

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


def register(sub: Any) -> None:
    """`sidecar index`: bulk-load a catalog."""
    ix = sub.add_parser("index", formatter_class=formatter(), help="bulk-load a catalog JSONL (+ vectors) into OpenSearch",
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
    index_option(ix, "index name")
    ix.add_argument("--recreate", action="store_true", help="delete and recreate the index first")
    url_option(ix)
    ix.add_argument("--batch-size", type=int, default=500, help="documents per bulk request (default: %(default)s)")
    ix.add_argument("--shards", type=int, help="primary shards of a new index (default 1; a 3-node cluster: 3)")
    ix.add_argument("--replicas", type=int, help="replicas of a new index (default: 0 on one node, 1 on a cluster, "
                                                 "auto-expanded)")
    quiet_option(ix)
    ix.set_defaults(func=cmd_index)
