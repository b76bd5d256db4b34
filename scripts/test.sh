#!/usr/bin/env bash
# The test command: installs what is missing, then checks formatting and lints, and runs the
# whole suite on SQLite and again on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# Many sockets per test: raise the open-file limit as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

section() { printf '\n==== %s ====\n' "$*"; }

section "setup"
bash scripts/setup.sh
section "postgres"
PG_URL=$(bash scripts/postgres.sh | tail -n 1)

section "cargo fmt --check"
cargo fmt --all --check
section "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
section "tests on SQLite"
cargo test --workspace
section "tests on PostgreSQL"
DESKBELL_TEST_POSTGRES_URL="$PG_URL" cargo test --workspace
section "all tests passed"
