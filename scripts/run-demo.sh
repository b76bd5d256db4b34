#!/usr/bin/env bash
# Runs Deskbell: the desktop app in demo mode (an embedded demo server with simulated traffic,
# signed in as agent1@acme.test). Installs what is missing and builds in release mode first.
#
#   bash scripts/run-demo.sh                 the app (needs a graphical session)
#   bash scripts/run-demo.sh --server-only   just the demo server on 127.0.0.1:8080; extra
#                                            arguments go to `deskbell-server demo`
set -euo pipefail
cd "$(dirname "$0")/.."

server_only=0
if [ "${1:-}" = "--server-only" ]; then
  server_only=1
  shift
fi

bash scripts/setup.sh --build-only

cat >&2 <<'INFO'
Deskbell demo — password for every demo user: deskbell-demo
  Acme Support:  admin@acme.test (admin), agent1@acme.test, agent2@acme.test (agents)
  Globex:        admin@globex.test (admin)
Building (release; the first build takes several minutes)...
INFO

if [ "$server_only" -eq 1 ]; then
  exec cargo run --release -p deskbell-server -- demo --simulate "$@"
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run-demo: no graphical session (DISPLAY/WAYLAND_DISPLAY unset); use --server-only, or xvfb-run" >&2
  exit 1
fi
(cd ui && npm run build)
# The release build scripts/package.sh packs (with the feature `tauri build` turns on).
exec cargo run --release -p deskbell --features custom-protocol -- --demo "$@"
