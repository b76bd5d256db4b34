#!/usr/bin/env bash
# Cluster benchmark: two Deskbell nodes (one PostgreSQL database, Redis) vs two Node socket.io
# servers with @socket.io/redis-adapter, beside the one-node baseline of each, on loopback.
# A mode of bench/fanout's harness (`deskbell-bench-fanout --cluster`); writes
# bench/cluster/REPORT.md and bench/cluster/results.json. Bounded: killed after BENCH_TIMEOUT
# seconds (default 1800; a full run takes about 17 minutes).
#
#   bench/cluster/run.sh                  # N = 1000, 10000; nodes 1 and 2; 3 rounds; probe
#   bench/cluster/run.sh --quick          # a short check (report under target/bench-cluster/quick,
#                                         # exit 1 if Deskbell lost or duplicated an event)
#   bench/cluster/run.sh --rounds 5       # any deskbell-bench-fanout option passes through
#
# Needs PostgreSQL (scripts/postgres.sh starts the machine's own and prints its URL; set
# DESKBELL_BENCH_POSTGRES_URL to use another) and redis-server (Redis 6.2+) on the PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fanout="$root/bench/fanout"
cd "$root"

for tool in node npm redis-server psql; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

if [ -z "${DESKBELL_BENCH_POSTGRES_URL:-}" ]; then
  DESKBELL_BENCH_POSTGRES_URL="$(bash scripts/postgres.sh)"
fi
export DESKBELL_BENCH_POSTGRES_URL

echo "building (release)…" >&2
cargo build --release -p deskbell-server
cargo build --release -p deskbell-bench-fanout
target="${CARGO_TARGET_DIR:-target}"

if [ ! -d "$fanout/node_modules/@socket.io/redis-adapter" ] || [ ! -d "$fanout/node_modules/redis" ]; then
  echo "installing the Node servers' dependencies…" >&2
  (cd "$fanout" && npm ci --ignore-scripts --no-audit --no-fund)
fi

# N = 10 000 clients are 10 000 file descriptors in the load generator.
want=65536
hard="$(ulimit -Hn)"
if [ "$hard" != "unlimited" ] && [ "$hard" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || want="$hard"
fi
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)" >&2

exec timeout --kill-after=10 "${BENCH_TIMEOUT:-1800}" \
  "$target/release/deskbell-bench-fanout" --cluster \
  --deskbell-bin "$target/release/deskbell-server" "$@"
