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
#   bash bench/client/run.sh --dbus --parts alerts    # part 4 with a D-Bus sample: a private session
#                                                     # bus (tests/os/session.conf) with
#                                                     # tests/notify-capture on it (needs dbus)
#   bash bench/client/run.sh --others 200 --samples 1000
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

dbus=0
if [ "${1:-}" = "--dbus" ]; then
  dbus=1
  shift
  command -v dbus-run-session >/dev/null || { echo "--dbus needs dbus-run-session (Debian package dbus)" >&2; exit 1; }
fi

echo "building (release)…" >&2
if [ "$dbus" = 1 ]; then
  cargo build --release -p deskbell-bench-client -p deskbell-notify-capture
else
  cargo build --release -p deskbell-bench-client
fi

# Every other client is two file descriptors in this one process (its socket and the server's
# end of it). Raise the soft limit as far as allowed; the binary also raises it to the hard limit.
want=65536
hard="$(ulimit -Hn)"
if [ "$hard" != "unlimited" ] && [ "$hard" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || want="$hard"
fi
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)" >&2

bin="${CARGO_TARGET_DIR:-target}/release/deskbell-bench-client"
if [ "$dbus" = 0 ]; then
  exec timeout --kill-after=10 "${BENCH_TIMEOUT:-900}" "$bin" "$@"
fi

# The D-Bus sample: the capture owns org.freedesktop.Notifications on a private bus (no
# service activation: no real notification daemon starts), the bench runs on the same bus.
capture="${CARGO_TARGET_DIR:-target}/release/deskbell-notify-capture"
exec timeout --kill-after=10 "${BENCH_TIMEOUT:-900}" \
  dbus-run-session --config-file=tests/os/session.conf -- bash -euo pipefail -c '
    capture="$1" bin="$2"
    shift 2
    dir=$(mktemp -d "${TMPDIR:-/tmp}/deskbell-bench-capture.XXXXXX")
    "$capture" --record "$dir/calls.jsonl" --ready-file "$dir/ready" >/dev/null 2>"$dir/capture.log" &
    pid=$!
    trap "kill $pid 2>/dev/null || true; rm -rf \"$dir\"" EXIT
    # Wait (up to 10 s) for the capture to own the bus name and listen.
    for _ in $(seq 100); do
      [ -s "$dir/ready" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if [ ! -s "$dir/ready" ]; then
      echo "deskbell-notify-capture did not become ready:" >&2
      cat "$dir/capture.log" >&2
      exit 1
    fi
    "$bin" --notify-capture-url "$(cat "$dir/ready")" "$@"
  ' bash "$capture" "$bin" "$@"
