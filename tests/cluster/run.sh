#!/usr/bin/env bash
# The several-node topology, proven: starts what scripts/cluster.sh starts (real PostgreSQL, real
# Redis, real nginx, three deskbell-server demo nodes), runs the Node tests of tests/cluster
# against it (the npm socket.io-client of tests/node), and stops it all, whatever happens.
#
#   bash tests/cluster/run.sh
#
# Logs (nodes, nginx, Redis, the tests' output) go to ci-artifacts/cluster/.
#
# Env: CLUSTER_SERVER_BIN runs that binary (the test command passes the debug build `cargo test`
# has just made; default: `cargo build -p deskbell-server`, debug — a release build would cost
# CI minutes and prove nothing more);
# CLUSTER_TEST_NAME_PATTERN is passed to node --test-name-pattern.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ARTIFACTS="$ROOT/ci-artifacts/cluster"

log() { echo "cluster tests: $*" >&2; }

for tool in node curl nginx redis-server redis-cli psql; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is missing: run scripts/setup.sh"; exit 1; }
done
[ -d tests/node/node_modules/socket.io-client ] ||
  { log "tests/node has no node_modules: run scripts/setup.sh"; exit 1; }

if [ -n "${CLUSTER_SERVER_BIN:-}" ]; then
  [ -x "$CLUSTER_SERVER_BIN" ] || { log "CLUSTER_SERVER_BIN=$CLUSTER_SERVER_BIN is not an executable"; exit 1; }
else
  log "building deskbell-server (debug)"
  cargo build -p deskbell-server >&2
  CLUSTER_SERVER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/deskbell-server"
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Ports of their own, away from a developer's cluster (8090…) and Redis (6390, 6391): the first
# free block of 4 from 18090 on, and a free Redis port from 16391 on.
base=""
for candidate in $(seq 18090 100 19990); do
  free=1
  for p in $(seq "$candidate" $((candidate + 3))); do port_in_use "$p" && { free=0; break; }; done
  if [ "$free" -eq 1 ]; then base=$candidate; break; fi
done
[ -n "$base" ] || { log "no free block of ports between 18090 and 19993"; exit 1; }
redis_port=""
for candidate in $(seq 16391 16420); do
  port_in_use "$candidate" || { redis_port=$candidate; break; }
done
[ -n "$redis_port" ] || { log "no free port for Redis between 16391 and 16420"; exit 1; }

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS/logs"
STATE=$(mktemp -d "${TMPDIR:-/tmp}/deskbell-cluster.XXXXXX")

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local status=$?
  set +e
  bash scripts/cluster.sh --stop --state-dir "$STATE" >&2
  cp -r "$STATE/nginx/logs" "$ARTIFACTS/nginx" 2>/dev/null
  cp "$STATE/nginx/nginx.conf" "$STATE/nginx/upstream.conf" "$ARTIFACTS/nginx/" 2>/dev/null
  cp "$STATE/redis/redis.log" "$ARTIFACTS/logs/redis.log" 2>/dev/null
  rm -rf "$STATE"
  log "finished (status $status); logs in $ARTIFACTS"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A database of its own, fresh each run (not deskbell_test_*: scripts/postgres.sh drops those).
bash scripts/cluster.sh --background --nodes 3 --port "$base" --redis-port "$redis_port" \
  --state-dir "$STATE" --log-dir "$ARTIFACTS/logs" --database deskbell_cluster_ci --fresh-db \
  --server-bin "$CLUSTER_SERVER_BIN" >/dev/null

set -a
# shellcheck disable=SC1091 # written by scripts/cluster.sh
source "$STATE/cluster.env"
set +a
export CLUSTER_SCRIPT="$ROOT/scripts/cluster.sh" CLUSTER_REDIS_SCRIPT="$ROOT/scripts/redis.sh"
# tests/node/support.mjs is shared; its base URL is the balancer.
export DESKBELL_URL="$CLUSTER_URL"

node_args=(--test --test-concurrency=1 --test-reporter=spec)
if [ -n "${CLUSTER_TEST_NAME_PATTERN:-}" ]; then
  node_args+=(--test-name-pattern="$CLUSTER_TEST_NAME_PATTERN")
fi
log "testing $CLUSTER_URL (nodes $CLUSTER_NODE_URLS, Redis $CLUSTER_REDIS_URL)"
status=0
(cd tests/cluster && node "${node_args[@]}" cluster.test.mjs) 2>&1 | tee "$ARTIFACTS/tests.log" ||
  status=$?
# Every node must still be alive at the end (one was killed and started again by the tests).
# shellcheck disable=SC1091 # rewritten by scripts/cluster.sh --start-node
source "$STATE/cluster.env"
for pid in $CLUSTER_NODE_PIDS; do
  kill -0 "$pid" 2>/dev/null || { log "node pid $pid died during the tests (see $ARTIFACTS/logs)"; status=1; }
done
exit "$status"
