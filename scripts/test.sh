#!/usr/bin/env bash
# The test command (also what CI runs): installs what is missing, starts PostgreSQL, checks
# formatting and lints, then runs the whole test suite on SQLite and again on PostgreSQL, then
# the several-node topology (tests/cluster), the OS integration, the app end to end and the
# release .deb (built, checked, installed over an older version).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# A CI clone builds everything once: incremental artifacts would only cost time and disk (CI may
# not say it is CI, so this is the default here; set CARGO_INCREMENTAL=1 to keep them).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# The tests open many sockets: raise the open-file limit (soft) as far as allowed (hard).
hard_nofile=$(ulimit -Hn)
ulimit -n "$hard_nofile" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true

current=""
started=$SECONDS
section_started=$SECONDS
summary=()
section() {
  finish_section
  current=$*
  section_started=$SECONDS
  printf '\n==== %s ====\n' "$current"
  # A full disk fails a build with a linker crash far from its cause: say how much is left.
  df -h . | awk 'NR == 2 { print "(disk: " $4 " free of " $2 ")" }'
}
finish_section() {
  if [ -n "$current" ]; then
    summary+=("$(printf '%5ss  %s' "$((SECONDS - section_started))" "$current")")
  fi
}
results=$(mktemp "${TMPDIR:-/tmp}/deskbell-test-results.XXXXXX")
on_exit() {
  local status=$?
  rm -f "$results"
  if [ "$status" -ne 0 ]; then
    printf '\n==== FAILED (exit %s) in: %s ====\n' "$status" "${current:-startup}" >&2
  fi
}
trap on_exit EXIT

echo "deskbell tests: $(cargo --version), $(node --version 2>/dev/null || echo 'no node'), open files $(ulimit -n)"

section "setup (scripts/setup.sh)"
bash scripts/setup.sh

section "PostgreSQL (scripts/postgres.sh)"
PG_URL=$(bash scripts/postgres.sh)
echo "PostgreSQL: $PG_URL"

# The PostgreSQL pass runs the several-node tests (crates/server/tests/cluster.rs) through it.
section "Redis (scripts/redis.sh)"
REDIS_URL=$(bash scripts/redis.sh)
echo "Redis: $REDIS_URL"

section "cargo fmt --all --check"
cargo fmt --all --check

# The app embeds ui/dist at compile time: the UI is built before anything Rust is compiled.
section "UI: type check (svelte-check, tsc), build"
(cd ui && npm run check && npm run build)

section "UI: tests in headless Chromium with mocked IPC"
(cd ui && npm test)

section "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo test --workspace (SQLite)"
env -u DESKBELL_TEST_POSTGRES_URL cargo test --workspace | tee -a "$results"

section "cargo test --workspace (PostgreSQL, Redis)"
DESKBELL_TEST_POSTGRES_URL="$PG_URL" DESKBELL_TEST_REDIS_URL="$REDIS_URL" cargo test --workspace |
  tee -a "$results"

# Several nodes on one PostgreSQL database and one Redis behind nginx (scripts/cluster.sh): a
# write on one node reaches clients of another, sessions end on every node, and a node killed or
# Redis frozen or restarted loses and doubles nothing. It runs the debug server binary that
# `cargo test --workspace` has just built (a `cargo build -p deskbell-server` resolves features
# apart from the workspace's tests and would build the server again).
section "cluster: 3 nodes + PostgreSQL + Redis + nginx (tests/cluster/run.sh)"
CLUSTER_SERVER_BIN="${CARGO_TARGET_DIR:-target}/debug/deskbell-server" bash tests/cluster/run.sh

section "OS integration: notifications and keychain in private D-Bus sessions (tests/os/run.sh)"
bash tests/os/run.sh | tee -a "$results"

section "desktop app end to end: tauri-driver + WebKitWebDriver under Xvfb (tests/e2e/run.sh)"
bash tests/e2e/run.sh

# What users install: the release build packed as a .deb (scripts/package.sh), its contents and
# dependencies checked, installed over an older version of itself (settings and keychain session
# kept) and run in demo mode until Live; removed again afterwards.
section "release package: build the .deb, check it, install and upgrade it (tests/package/run.sh)"
bash tests/package/run.sh

# The throwaway databases of this run (the next run would drop them anyway; PostgreSQL 15 takes
# a checkpoint per DROP DATABASE, so this is not instant).
section "desktop app benchmark, quick mode: checks it runs (bench/app/run.sh --quick)"
bash bench/app/run.sh --quick

section "drop this run's test databases"
bash scripts/postgres.sh --drop-test-databases
finish_section
current=""

printf '\n==== all checks passed in %ss ====\n' "$((SECONDS - started))"
printf '%s\n' "${summary[@]}"
# One closing line over both runs (cargo's own last line is often a crate's empty doc-tests).
awk '/^test result: / {
       for (i = 1; i <= NF; i++) {
         if ($(i) ~ /^passed/) p += $(i - 1)
         if ($(i) ~ /^failed/) f += $(i - 1)
         if ($(i) ~ /^ignored/) s += $(i - 1)
       }
     }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$results"
