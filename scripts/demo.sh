#!/usr/bin/env bash
# Set up and serve the sidecar on the demo catalog the repository carries (embedded memory
# backend: nothing else needs to run). Then, in another shell:
#   curl -s localhost:8080/search -H 'content-type: application/json' -d '{"q": "black jacket", "explain": true}'
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
exec .venv/bin/sidecar serve --backend memory --catalog demo/catalog.jsonl --vectors demo/vectors.npy --rules query_rules "$@"
