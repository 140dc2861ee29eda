#!/usr/bin/env bash
# Install everything the project needs into .venv (idempotent; a second run is quick).
#   scripts/setup.sh               the Python side only (enough for the demo)
#   scripts/setup.sh --opensearch  also what the integration tests need: the tools the local
#                                  OpenSearch needs (maven, unzip, curl) and Debian's chromium and
#                                  chromium-driver for the browser test of /inspect, installed with
#                                  apt-get when missing and we are root; a JDK >= 21 must be present
#                                  (scripts/opensearch.sh finds it)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ "${1:-}" = "--opensearch" ]; then
  missing=()
  for tool in mvn unzip curl chromium chromedriver; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
      pkgs=(); for t in "${missing[@]}"; do
        case "$t" in mvn) pkgs+=(maven);; chromedriver) pkgs+=(chromium-driver);; *) pkgs+=("$t");; esac
      done
      echo "[setup] installing ${pkgs[*]} with apt-get" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
    else
      case " ${missing[*]} " in
        *" mvn "*|*" unzip "*|*" curl "*)
          echo "[setup] missing ${missing[*]}: install them (needed to fetch and unpack OpenSearch)" >&2
          exit 1 ;;
        *) echo "[setup] no chromium/chromedriver and no apt-get as root: the browser test will skip" >&2 ;;
      esac
    fi
  fi
fi

PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "[setup] Python >= 3.11 is required" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing the sidecar and its dependencies into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e '.[dev,eval]' >&2
  rm -f .venv/.installed-*; touch "$stamp"
fi
echo "[setup] ready: $(.venv/bin/sidecar --version 2>/dev/null || echo sidecar installed)" >&2
