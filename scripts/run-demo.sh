#!/usr/bin/env bash
# Runs Deskbell's demo: the ticket server with demo companies and simulated traffic.
# Extra arguments go to `deskbell-server demo` (e.g. --bind 0.0.0.0:8080, --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release -p deskbell-server -- demo --simulate "$@"
