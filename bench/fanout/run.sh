#!/usr/bin/env bash
# Fan-out benchmark: deskbell-server vs a Node socket.io 4 server, side by side on loopback.
# Writes bench/fanout/REPORT.md and bench/fanout/results.json (paths relative to the repo root;
# defaults of `target/release/deskbell-bench-fanout --help`). Bounded: the whole run is
# killed after BENCH_TIMEOUT seconds (default 1800; a full run takes about 13 minutes).
#
#   bench/fanout/run.sh                       # N = 100, 1000, 10000
#   bench/fanout/run.sh --levels 100,1000     # any deskbell-bench-fanout option passes through
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

command -v node >/dev/null || { echo "node is required (Node 18+)" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required" >&2; exit 1; }

echo "building (release)…" >&2
# Two invocations: each package then builds with its own feature set and reuses the cache
# of a plain `cargo build --release -p deskbell-server`.
cargo build --release -p deskbell-server
cargo build --release -p deskbell-bench-fanout

if [ ! -d "$here/node_modules/socket.io" ]; then
  echo "installing the Node server's dependencies…" >&2
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund)
fi

# Every client socket is a file descriptor here, and every accepted one in the server: N = 10 000
# needs a little over 10 000 in each process. Raise the soft limit as far as allowed.
want=65536
hard="$(ulimit -Hn)"
if [ "$hard" != "unlimited" ] && [ "$hard" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || want="$hard"
fi
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)" >&2

exec timeout --kill-after=10 "${BENCH_TIMEOUT:-1800}" \
  target/release/deskbell-bench-fanout "$@"
