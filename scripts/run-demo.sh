#!/usr/bin/env bash
# Runs the Deskbell demo: the ticket server (release build) with demo companies, users, lanes and
# tickets, and simulated live traffic. Listens on 127.0.0.1:8080 unless told otherwise.
# Extra arguments go to `deskbell-server demo`, e.g. --bind 127.0.0.1:9000 or --data-dir DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --build-only

cat >&2 <<'INFO'
Deskbell demo — password for every demo user: deskbell-demo
  Acme Support:  admin@acme.test (admin), agent1@acme.test, agent2@acme.test (agents)
  Globex:        admin@globex.test (admin)
Building the server (release; the first build takes a few minutes)...
INFO

exec cargo run --release -p deskbell-server -- demo --simulate "$@"
