#!/usr/bin/env bash
# Client-core benchmark: the board reducer's throughput, REST write → this client's board
# latency with 1 000 other clients in the company namespace, the time back to Live after a
# server restart and after a forced wake, and urgent alerts across 100 member cores (urgent
# write → notification shown, acknowledge → the others' notifications withdrawn). Everything runs in one process on loopback (the server
# in process). Writes bench/client/results.json and bench/client/REPORT.md (paths relative to
# the repo root; see `target/release/deskbell-bench-client --help`). Bounded: the run is killed
# after BENCH_TIMEOUT seconds (default 900; a normal run takes about 6 minutes after the build).
#
#   bash bench/client/run.sh                          # everything, default sizes
#   bash bench/client/run.sh --parts reducer          # any deskbell-bench-client option passes through
#   bash bench/client/run.sh --parts alerts           # part 4 only; other parts keep their last results
#   bash bench/client/run.sh --others 200 --samples 1000
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

echo "building (release)…" >&2
cargo build --release -p deskbell-bench-client

# Every other client is two file descriptors in this one process (its socket and the server's
# end of it). Raise the soft limit as far as allowed; the binary also raises it to the hard limit.
want=65536
hard="$(ulimit -Hn)"
if [ "$hard" != "unlimited" ] && [ "$hard" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || want="$hard"
fi
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)" >&2

exec timeout --kill-after=10 "${BENCH_TIMEOUT:-900}" \
  "${CARGO_TARGET_DIR:-target}/release/deskbell-bench-client" "$@"
