#!/usr/bin/env bash
# Local single-node OpenSearch (+ k-NN plugin) for tests and development.
#
#   scripts/opensearch.sh start    download once (cached), install k-NN, start, wait for green
#   scripts/opensearch.sh stop     stop the node started by `start`
#   scripts/opensearch.sh status   say whether it runs and its health
#   scripts/opensearch.sh pid      print the node's process id (fault tests pause it with SIGSTOP)
#
#   scripts/opensearch.sh cluster start [N]   an N-node cluster (default 3) on loopback, apart from
#                                             the single node: HTTP ports OPENSEARCH_CLUSTER_PORT..+N-1,
#                                             transport ports +100, one data dir and a fixed heap
#                                             (OPENSEARCH_CLUSTER_HEAP) each, formed by discovery.seed_hosts
#   scripts/opensearch.sh cluster stop        stop every node of it
#   scripts/opensearch.sh cluster node I      (re)start node I alone, e.g. after a fault test killed it
#   scripts/opensearch.sh cluster pid I       node I's process id
#   scripts/opensearch.sh cluster urls        the nodes' URLs, comma-separated (SIDECAR_OPENSEARCH_URL)
#
# The version, port and heap come from .env (the one place they are pinned).
# The distribution and plugin come from Maven Central via `mvn dependency:copy` and are cached
# in $SIDECAR_CACHE (default ~/.cache/srp-sidecar), outside the repository: a second start
# downloads nothing. The node binds to 127.0.0.1 only, with security off and a fixed heap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
set -a; source "$ROOT/.env"; set +a
VERSION="${OPENSEARCH_VERSION}"
PORT="${OPENSEARCH_PORT}"
HEAP="${OPENSEARCH_HEAP}"
# OpenSearch refuses to run as root and has no setting to override that; as root the node runs
# as the unprivileged system user $OS_USER, so the cache must live where that user can reach it.
OS_USER="${OPENSEARCH_USER:-srp-opensearch}"
if [ "$(id -u)" -eq 0 ]; then DEFAULT_CACHE=/var/cache/srp-sidecar; else DEFAULT_CACHE="$HOME/.cache/srp-sidecar"; fi
CACHE="${SIDECAR_CACHE:-$DEFAULT_CACHE}"
HOME_DIR="$CACHE/opensearch-$VERSION"
# a node's state is keyed by its port: two checkouts on one machine (their .env ports differ) run
# two nodes side by side without sharing a data directory, a PID file or a stop
DATA_DIR="$CACHE/opensearch-$VERSION-$PORT-data"
LOG_DIR="$CACHE/opensearch-$VERSION-$PORT-logs"
PID_FILE="$CACHE/opensearch-$VERSION-$PORT.pid"
URL="http://127.0.0.1:$PORT"
WAIT_SECONDS="${OPENSEARCH_WAIT_SECONDS:-180}"

log() { echo "[opensearch] $*" >&2; }

# OpenSearch 3.x needs Java 21 or newer; pick the newest JDK on the machine that qualifies.
find_java_home() {
  local want=21 best="" best_major=0 j major
  [ "${VERSION%%.*}" -lt 3 ] && want=17
  for j in ${JAVA_HOME:-} /usr/lib/jvm/*; do
    [ -x "$j/bin/java" ] || continue
    major=$("$j/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    [ -n "$major" ] || continue
    if [ "$major" -ge "$want" ] && [ "$major" -gt "$best_major" ]; then best="$j"; best_major="$major"; fi
  done
  if [ -z "$best" ]; then
    log "no JDK >= $want found (looked at \$JAVA_HOME and /usr/lib/jvm/*); OpenSearch $VERSION needs one"
    exit 1
  fi
  echo "$best"
}

fetch() {  # fetch GROUP:ARTIFACT:VERSION:zip into $CACHE/downloads (mvn keeps its own ~/.m2 cache too)
  local coords="$1" out="$CACHE/downloads"
  mkdir -p "$out"
  log "fetching $coords from Maven Central"
  mvn -q -B dependency:copy -Dartifact="$coords" -DoutputDirectory="$out" -Dmdep.useBaseVersion=true >&2
}

install() {
  if [ -x "$HOME_DIR/bin/opensearch" ] && [ -d "$HOME_DIR/plugins/opensearch-knn" ]; then
    return 0
  fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  command -v unzip >/dev/null || { log "unzip not found: install it (apt-get install unzip)"; exit 1; }
  local dist="$CACHE/downloads/opensearch-$VERSION.zip" knn="$CACHE/downloads/opensearch-knn-$VERSION.0.zip"
  [ -f "$dist" ] || fetch "org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip"
  [ -f "$knn" ] || fetch "org.opensearch.plugin:opensearch-knn:$VERSION.0:zip"
  local tmp; tmp="$(mktemp -d "$CACHE/unpack.XXXXXX")"
  unzip -q "$dist" -d "$tmp"
  rm -rf "$HOME_DIR"
  mv "$tmp/opensearch-$VERSION" "$HOME_DIR"
  rmdir "$tmp"
  log "installing the k-NN plugin"
  JAVA_HOME="$(find_java_home)" "$HOME_DIR/bin/opensearch-plugin" install --batch "file://$knn" >&2
}

is_running() {  # the PID file names a live OpenSearch (not a process that reused a dead node's pid)
  [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$(cat "$PID_FILE")/cmdline" 2>/dev/null | grep -q opensearch
}

health() {  # prints green|yellow|red, or nothing when unreachable; never fails
  curl -s -m 5 "$URL/_cluster/health" 2>/dev/null | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p' || true
}

# run_as_node CMD...: run a command as the user the node runs as (ourselves unless we are root);
# NODE_DIRS names the node's own data and log directories (default: the single node's)
run_as_node() {
  if [ "$(id -u)" -eq 0 ]; then
    id -u "$OS_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$OS_USER"
    # shellcheck disable=SC2086
    chown -R "$OS_USER" "$HOME_DIR" ${NODE_DIRS:-"$DATA_DIR" "$LOG_DIR"}
    chown "$OS_USER" "$CACHE"
    runuser -u "$OS_USER" -- env JAVA_HOME="$JAVA_HOME" OPENSEARCH_JAVA_OPTS="$OPENSEARCH_JAVA_OPTS" "$@"
  else
    "$@"
  fi
}

start() {
  mkdir -p "$CACHE"
  if is_running; then
    log "already running (pid $(cat "$PID_FILE")) at $URL, health: $(health)"
    return 0
  fi
  if [ -f "$PID_FILE" ]; then  # left by a node that was killed (kill -9, a reboot): not a reason to fail
    log "removing the stale PID file of a node that is gone (pid $(cat "$PID_FILE"))"
    rm -f "$PID_FILE"
  fi
  if curl -s -m 2 "$URL" >/dev/null 2>&1; then
    log "port $PORT is taken by another process; stop it or set OPENSEARCH_PORT in .env"
    exit 1
  fi
  install
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  local java_home; java_home="$(find_java_home)"
  log "starting OpenSearch $VERSION with $java_home, heap $HEAP, at $URL"
  # The integ-test zip ships without a JDK and without the security plugin: security is off.
  export JAVA_HOME="$java_home" OPENSEARCH_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP"
  run_as_node "$HOME_DIR/bin/opensearch" -d -p "$PID_FILE" \
      -Ecluster.name=srp-sidecar-dev \
      -Enode.name=node-1 \
      -Ediscovery.type=single-node \
      -Enetwork.host=127.0.0.1 \
      -Ehttp.port="$PORT" \
      -Epath.data="$DATA_DIR" \
      -Epath.logs="$LOG_DIR" \
      -Ecluster.routing.allocation.disk.threshold_enabled=false \
      -Eaction.auto_create_index=true \
      >"$LOG_DIR/stdout.log" 2>&1 || true
  local waited=0 h=""
  while [ "$waited" -lt "$WAIT_SECONDS" ]; do
    h="$(health)"
    if [ "$h" = "green" ] || [ "$h" = "yellow" ]; then
      # a single node keeps replicas unassigned: yellow is the best a one-node cluster with
      # replicas gets; the indices the project creates have 0 replicas and make it green.
      log "up after ${waited}s, health: $h"
      return 0
    fi
    if [ -f "$PID_FILE" ] && ! is_running; then break; fi
    sleep 2; waited=$((waited + 2))
  done
  log "OpenSearch did not become healthy within ${WAIT_SECONDS}s (health: '${h:-unreachable}'). Log tail:"
  tail -n 40 "$LOG_DIR/stdout.log" >&2 || true
  tail -n 40 "$LOG_DIR/srp-sidecar-dev.log" >&2 2>/dev/null || true
  stop || true
  exit 1
}

stop() {
  if ! is_running; then
    log "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  local pid; pid="$(cat "$PID_FILE")"
  kill "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { log "stopped (pid $pid)"; rm -f "$PID_FILE"; return 0; }
    sleep 1
  done
  log "still alive after 30s: killing pid $pid"
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
}

status() {
  if is_running; then
    echo "running (pid $(cat "$PID_FILE")) at $URL, health: $(health)"
  else
    echo "not running"
    return 3
  fi
}

# --- an N-node cluster on loopback -------------------------------------------------------------
CLUSTER_PORT="${OPENSEARCH_CLUSTER_PORT:-9211}"
CLUSTER_HEAP="${OPENSEARCH_CLUSTER_HEAP:-512m}"
CLUSTER_DIR="$CACHE/opensearch-$VERSION-cluster-$CLUSTER_PORT"
CLUSTER_NODES_FILE="$CLUSTER_DIR/nodes"  # how many nodes the cluster was started with

node_pid_file() { echo "$CLUSTER_DIR/node-$1.pid"; }
node_alive() {
  local f; f="$(node_pid_file "$1")"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && tr '\0' ' ' <"/proc/$(cat "$f")/cmdline" 2>/dev/null | grep -q opensearch
}
cluster_urls() {
  local n i urls=""; n="$(cat "$CLUSTER_NODES_FILE" 2>/dev/null || echo 3)"
  for i in $(seq 1 "$n"); do urls="${urls:+$urls,}http://127.0.0.1:$((CLUSTER_PORT + i - 1))"; done
  echo "$urls"
}
cluster_health() {  # green|yellow|red and the node count, as "green 3"; nothing when unreachable
  local i n; n="$(cat "$CLUSTER_NODES_FILE" 2>/dev/null || echo 3)"
  for i in $(seq 1 "$n"); do
    curl -s -m 3 "http://127.0.0.1:$((CLUSTER_PORT + i - 1))/_cluster/health" 2>/dev/null \
      | sed -n 's/.*"status":"\([a-z]*\)".*"number_of_nodes":\([0-9]*\).*/\1 \2/p' | grep . && return 0
  done
  return 0
}

cluster_node_start() {  # I: start node I of the cluster (whose size is in $CLUSTER_NODES_FILE)
  local i="$1" n seeds="" managers="" j
  n="$(cat "$CLUSTER_NODES_FILE")"
  if node_alive "$i"; then log "node-$i already running"; return 0; fi
  rm -f "$(node_pid_file "$i")"
  for j in $(seq 1 "$n"); do
    seeds="${seeds:+$seeds,}127.0.0.1:$((CLUSTER_PORT + 100 + j - 1))"
    managers="${managers:+$managers,}node-$j"
  done
  local data="$CLUSTER_DIR/node-$i-data" logs="$CLUSTER_DIR/node-$i-logs"
  mkdir -p "$data" "$logs"
  export JAVA_HOME; JAVA_HOME="$(find_java_home)"
  export OPENSEARCH_JAVA_OPTS="-Xms$CLUSTER_HEAP -Xmx$CLUSTER_HEAP"
  log "starting cluster node-$i at http://127.0.0.1:$((CLUSTER_PORT + i - 1)) (heap $CLUSTER_HEAP)"
  NODE_DIRS="$CLUSTER_DIR" run_as_node "$HOME_DIR/bin/opensearch" -d -p "$(node_pid_file "$i")" \
      -Ecluster.name=srp-sidecar-cluster \
      -Enode.name="node-$i" \
      -Ediscovery.seed_hosts="$seeds" \
      -Ecluster.initial_cluster_manager_nodes="$managers" \
      -Enetwork.host=127.0.0.1 \
      -Ehttp.port="$((CLUSTER_PORT + i - 1))" \
      -Etransport.port="$((CLUSTER_PORT + 100 + i - 1))" \
      -Epath.data="$data" \
      -Epath.logs="$logs" \
      -Ecluster.routing.allocation.disk.threshold_enabled=false \
      -Eaction.auto_create_index=true \
      >"$logs/stdout.log" 2>&1 || true
}

cluster_wait() {  # until every node is in and the cluster is green (or yellow without indices)
  local n waited=0 h=""; n="$(cat "$CLUSTER_NODES_FILE")"
  while [ "$waited" -lt "$WAIT_SECONDS" ]; do
    h="$(cluster_health)"
    if [ "$h" = "green $n" ]; then log "cluster of $n nodes up after ${waited}s, health: green"; return 0; fi
    sleep 2; waited=$((waited + 2))
  done
  log "the cluster did not become green with $n nodes within ${WAIT_SECONDS}s (health: '${h:-unreachable}')"
  for j in $(seq 1 "$n"); do tail -n 15 "$CLUSTER_DIR/node-$j-logs/srp-sidecar-cluster.log" >&2 2>/dev/null || true; done
  return 1
}

cluster_start() {
  local n="${1:-3}" i
  mkdir -p "$CLUSTER_DIR"
  install
  for i in $(seq 1 "$n"); do
    if curl -s -m 2 "http://127.0.0.1:$((CLUSTER_PORT + i - 1))" >/dev/null 2>&1 && ! node_alive "$i"; then
      log "port $((CLUSTER_PORT + i - 1)) is taken by another process; set OPENSEARCH_CLUSTER_PORT in .env"; exit 1
    fi
  done
  echo "$n" >"$CLUSTER_NODES_FILE"
  for i in $(seq 1 "$n"); do cluster_node_start "$i"; done
  cluster_wait || { cluster_stop; exit 1; }
  echo "$(cluster_urls)"
}

cluster_stop() {
  local n i pid; n="$(cat "$CLUSTER_NODES_FILE" 2>/dev/null || echo 0)"
  for i in $(seq 1 "$n"); do
    if node_alive "$i"; then
      pid="$(cat "$(node_pid_file "$i")")"; kill "$pid"
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped node-$i (pid $pid)"
    fi
    rm -f "$(node_pid_file "$i")"
  done
}

cluster() {
  case "${1:-}" in
    start) cluster_start "${2:-3}" ;;
    stop) cluster_stop ;;
    node) [ -n "${2:-}" ] || { echo "usage: $0 cluster node I" >&2; exit 2; }
          cluster_node_start "$2"; cluster_wait ;;
    pid) if node_alive "${2:-}"; then cat "$(node_pid_file "$2")"; else echo "node-${2:-?} not running" >&2; exit 1; fi ;;
    urls) cluster_urls ;;
    status) echo "$(cluster_urls): $(cluster_health || true)" ;;
    *) echo "usage: $0 cluster start [N]|stop|node I|pid I|urls|status" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  pid) if is_running; then echo "$(cat "$PID_FILE")"; else echo "not running" >&2; exit 1; fi ;;
  cluster) shift; cluster "$@" ;;
  *) echo "usage: $0 start|stop|status|pid|cluster ..." >&2; exit 2 ;;
esac
