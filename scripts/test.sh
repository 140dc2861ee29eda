#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, start OpenSearch, pytest (unit + integration),
# stop OpenSearch (also when tests fail). Extra arguments go to pytest, e.g. scripts/test.sh -k rules
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --opensearch || exit 1
# a node already running (a developer's, serving a sidecar) is used and left running: only the
# node this script starts is stopped at the end
if scripts/opensearch.sh pid >/dev/null 2>&1; then started=0; else started=1; fi
scripts/opensearch.sh start || exit 1
trap '[ "$started" = 1 ] && scripts/opensearch.sh stop; scripts/opensearch.sh cluster stop' EXIT  # the cluster: if a test left it
export SIDECAR_REQUIRE_OPENSEARCH=1   # integration tests fail (not skip) when OpenSearch is missing
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
