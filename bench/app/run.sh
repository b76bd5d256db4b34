#!/usr/bin/env bash
# Desktop app benchmark (bench/app/README.md): the real app under Xvfb, in tests/e2e/run.sh's
# private session, measured by bench/app/bench.mjs.
#
#   bash bench/app/run.sh          # release build; 1 000 and 10 000 tickets, bursts of 1 000;
#                                  # writes bench/app/REPORT.md and bench/app/results.json
#   bash bench/app/run.sh --quick  # debug build, 200 tickets, bursts of 100: a check that the
#                                  # benchmark works (CI runs it); writes to ci-artifacts/bench-app
#
# BENCH_APP_SIZES, BENCH_APP_BURST, BENCH_APP_IDLE_SECONDS, BENCH_APP_SETTLE_SECONDS and
# BENCH_APP_WRITERS and BENCH_APP_ROUNDS override the defaults of either mode. Screenshots and logs always go to
# ci-artifacts/bench-app/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

mode=full
case "${1:-}" in
  "") ;;
  --quick) mode=quick ;;
  -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
  *) echo "bench/app: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

bash scripts/setup.sh --build-only
echo "bench/app: building the UI" >&2
(cd ui && npm run build)

if [ "$mode" = quick ]; then
  cargo build -p deskbell -p deskbell-server -p deskbell-notify-capture
  profile=debug
  export BENCH_APP_OUT="${BENCH_APP_OUT:-$ROOT/ci-artifacts/bench-app}"
  export BENCH_APP_SIZES="${BENCH_APP_SIZES:-200}" BENCH_APP_BURST="${BENCH_APP_BURST:-100}"
  export BENCH_APP_IDLE_SECONDS="${BENCH_APP_IDLE_SECONDS:-3}" BENCH_APP_ROUNDS="${BENCH_APP_ROUNDS:-2}"
  export BENCH_APP_SETTLE_SECONDS="${BENCH_APP_SETTLE_SECONDS:-5}"
else
  echo "bench/app: building the app and the server (release; the first build takes several minutes)" >&2
  # The build scripts/package.sh packs (the feature `tauri build` turns on): the report measures
  # what users install, and the two share one build.
  cargo build --release -p deskbell -p deskbell-server --features deskbell/custom-protocol
  cargo build -p deskbell-notify-capture
  profile=release
  export BENCH_APP_OUT="${BENCH_APP_OUT:-$ROOT/bench/app}"
  # The report measures what the app does by default: the e2e runner leaves compositing to the
  # app, which turns it off where rendering would be in software (src-tauri/src/rendering.rs).
  export E2E_WEBKIT_COMPOSITING="${E2E_WEBKIT_COMPOSITING:-1}"
  # The screen the report names (bench.mjs): one app, as a desktop has it.
  export E2E_SCREEN="${E2E_SCREEN:-1400x900x24}"
fi

E2E_APP="$ROOT/target/$profile/deskbell" \
  E2E_SERVER_BIN="$ROOT/target/$profile/deskbell-server" \
  E2E_SERVER_ARGS="--writes-per-minute 0" \
  E2E_ARTIFACTS="$ROOT/ci-artifacts/bench-app" \
  E2E_SKIP_BUILD=1 \
  E2E_SCRIPT="$ROOT/bench/app/bench.mjs" \
  BENCH_APP_PROFILE=$profile \
  bash tests/e2e/run.sh
