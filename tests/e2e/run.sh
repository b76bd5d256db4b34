#!/usr/bin/env bash
# The Deskbell desktop app end to end (tests/e2e/README.md): the real app binary driven over
# WebDriver (tauri-driver + WebKitWebDriver) under Xvfb, against
#   - a demo ticket server run as a separate process (the test kills and restarts it),
#   - a capturing org.freedesktop.Notifications server that is also the tray host
#     (tests/notify-capture: the app's tray icon and menu are read and clicked through it),
#   - an unlocked gnome-keyring (Secret Service),
#   - for cluster.test.mjs, two server nodes behind nginx on PostgreSQL and Redis
#     (scripts/cluster.sh; the test kills each node in turn under the signed-in app),
# all inside a private D-Bus session (tests/os/session.conf: no service activation) with a
# throwaway HOME, so the user's own desktop, keyring and settings are never touched.
#
#   bash tests/e2e/run.sh
#
# Idempotent: installs tauri-driver and the npm packages only when missing or changed, builds
# what is stale, and always cleans up what it started. Screenshots and logs go to
# ci-artifacts/e2e/ (NN-step.png and cluster-NN-step.png, logs/, cluster/ for the nodes and nginx).
#
# Environment knobs: E2E_KEEP_TMP=1 keeps the throwaway HOME and data dirs (path printed);
# E2E_SKIP_BUILD=1 skips the UI and app builds (for quick reruns, or when the caller built them);
# E2E_APP=/path/to/binary drives another build of the app (default target/debug/deskbell, under
# CARGO_TARGET_DIR when that is set, as cargo builds it);
# E2E_SERVER_BIN likewise for the demo server (default target/debug/deskbell-server) and
# E2E_SERVER_ARGS adds flags to its command line; E2E_ARTIFACTS moves the screenshots and logs;
# E2E_SCRIPT runs that Node script instead of the tests (bench/app uses this session);
# E2E_TEST_NAME_PATTERN is passed to node --test-name-pattern; E2E_TESTS lists the test files
# (default "app.test.mjs alerts.test.mjs cluster.test.mjs"; the cluster is started only when
# cluster.test.mjs is in it, a second tauri-driver only when alerts.test.mjs is).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ARTIFACTS="${E2E_ARTIFACTS:-$ROOT/ci-artifacts/e2e}"

log() { echo "e2e: $*" >&2; }

# ==============================================================================================
# Part 2: inside the private D-Bus session (run by part 1 below through dbus-run-session).
# ==============================================================================================
if [ "${1:-}" = "--in-session" ]; then
  : "${E2E_TMP:?}" "${E2E_APP:?}" "${E2E_NOTIFY_CAPTURE:?}" "${E2E_TESTS:?}"
  pids=()          # background processes started here, killed in reverse order
  groups=()        # process groups (tauri-driver, WebKitWebDriver and the app)
  server_pidfile="$E2E_TMP/server.pid"
  logs="$ARTIFACTS/logs"

  cleanup() {
    local status=$?
    set +e
    for pg in "${groups[@]}"; do
      kill -TERM -- "-$pg" 2>/dev/null
    done
    if [ -s "$server_pidfile" ]; then
      kill -TERM "$(cat "$server_pidfile")" 2>/dev/null
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      kill -TERM "${pids[i]}" 2>/dev/null
    done
    # Give them a moment to go, then insist.
    for _ in $(seq 30); do
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      for pg in "${groups[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.1
    done
    for pg in "${groups[@]}"; do kill -KILL -- "-$pg" 2>/dev/null; done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    [ ! -s "$server_pidfile" ] || kill -KILL "$(cat "$server_pidfile")" 2>/dev/null
    if [ -n "${GNOME_KEYRING_PID:-}" ]; then kill -TERM "$GNOME_KEYRING_PID" 2>/dev/null; fi
    exit "$status"
  }
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  # Waits until a command succeeds: wait_for WHAT SECONDS CMD...
  wait_for() {
    local what=$1 secs=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "timed out after ${secs}s waiting for $what"
        return 1
      fi
      sleep 0.2
    done
  }

  free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  }

  mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$logs"
  chmod 700 "$XDG_RUNTIME_DIR"

  # --- gnome-keyring: the password creates and unlocks the login keyring --------------------
  eval "$(printf 'deskbell-os-test' | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL
  wait_for "the Secret Service on the bus" 15 \
    gdbus call --session --dest org.freedesktop.secrets \
    --object-path /org/freedesktop/secrets --method org.freedesktop.DBus.Peer.Ping
  log "gnome-keyring unlocked (Secret Service on the private bus)"

  # --- the capturing notification server, also the tray host --------------------------------
  notify_ready="$E2E_TMP/notify-capture.url"
  export E2E_NOTIFY_RECORD="$E2E_TMP/notifications.jsonl"
  "$E2E_NOTIFY_CAPTURE" --record "$E2E_NOTIFY_RECORD" \
    --ready-file "$notify_ready" --tray-host >"$logs/notify-capture.log" 2>&1 &
  pids+=($!)
  wait_for "deskbell-notify-capture" 15 test -s "$notify_ready"
  E2E_NOTIFY_URL=$(cat "$notify_ready")
  export E2E_NOTIFY_URL
  log "notification capture at $E2E_NOTIFY_URL (records to $E2E_NOTIFY_RECORD)"

  # --- the demo server, a separate process (no --simulate: the test makes the traffic) --------
  server_port=$(free_port)
  export E2E_SERVER_URL="http://127.0.0.1:$server_port"
  export E2E_SERVER_DATA="$E2E_TMP/server-data"
  export E2E_SERVER_PIDFILE="$server_pidfile"
  export E2E_SERVER_LOG="$logs/server.log"
  mkdir -p "$E2E_SERVER_DATA"
  # shellcheck disable=SC2086 # E2E_SERVER_ARGS is a list of flags
  "$E2E_SERVER_BIN" demo --bind "127.0.0.1:$server_port" --data-dir "$E2E_SERVER_DATA" ${E2E_SERVER_ARGS:-} \
    >>"$E2E_SERVER_LOG" 2>&1 &
  echo $! >"$server_pidfile"
  wait_for "the demo server at $E2E_SERVER_URL/health" 60 curl -sf "$E2E_SERVER_URL/health"
  log "demo server at $E2E_SERVER_URL (pid $(cat "$server_pidfile"), data $E2E_SERVER_DATA)"

  # --- X: Xvfb picks a free display and tells us which ----------------------------------------
  display_file="$E2E_TMP/display"
  : >"$display_file"
  # Wide enough for two apps side by side (alerts.test.mjs): a window another one covers is
  # "fully obscured" to GTK, and WebKit then renders no frame, so WebDriver's screenshots and
  # scripts wait until something changes on the page.
  Xvfb -displayfd 3 -screen 0 "${E2E_SCREEN:-2600x900x24}" -nolisten tcp 3>"$display_file" \
    >"$logs/xvfb.log" 2>&1 &
  pids+=($!)
  wait_for "Xvfb" 15 grep -q '[0-9]' "$display_file"
  export DISPLAY=":$(tr -dc '0-9' <"$display_file")"
  log "Xvfb on $DISPLAY"

  # --- tauri-driver (it starts WebKitWebDriver, which starts the app per session) -------------
  driver_port=$(free_port)
  native_port=$(free_port)
  while [ "$native_port" = "$driver_port" ]; do native_port=$(free_port); done
  export E2E_DRIVER_PORT=$driver_port
  # Its own process group, so that WebKitWebDriver and the app go with it.
  NO_AT_BRIDGE=1 setsid "$TAURI_DRIVER" --port "$driver_port" --native-port "$native_port" \
    --native-driver "$(command -v WebKitWebDriver)" >"$logs/tauri-driver.log" 2>&1 &
  groups+=($!)
  wait_for "tauri-driver on port $driver_port" 30 \
    curl -sf "http://127.0.0.1:$driver_port/status"
  log "tauri-driver on port $driver_port (WebKitWebDriver on $native_port)"

  # --- a second tauri-driver for a second app (alerts.test.mjs: two members at once) ---------
  # Its app gets a profile of its own (DESKBELL_CONFIG_DIR: settings, window state, its own
  # single-instance name) and its own HOME/XDG dirs (WebKit's data); the bus, the keyring, the
  # notification capture and the display are shared, as two users' apps share a desktop in
  # nothing but a test.
  if [[ " $E2E_TESTS " == *" alerts.test.mjs "* ]]; then
    driver2_port=$(free_port)
    native2_port=$(free_port)
    while [ "$driver2_port" = "$driver_port" ] || [ "$native2_port" = "$native_port" ] ||
      [ "$native2_port" = "$driver2_port" ]; do
      driver2_port=$(free_port)
      native2_port=$(free_port)
    done
    second="$E2E_TMP/second"
    mkdir -p "$second/home/.local/share" "$second/home/.config" "$second/home/.cache" "$second/profile"
    export E2E_DRIVER2_PORT=$driver2_port
    HOME="$second/home" XDG_DATA_HOME="$second/home/.local/share" \
      XDG_CONFIG_HOME="$second/home/.config" XDG_CACHE_HOME="$second/home/.cache" \
      DESKBELL_CONFIG_DIR="$second/profile" NO_AT_BRIDGE=1 \
      setsid "$TAURI_DRIVER" --port "$driver2_port" --native-port "$native2_port" \
      --native-driver "$(command -v WebKitWebDriver)" >"$logs/tauri-driver-2.log" 2>&1 &
    groups+=($!)
    wait_for "the second tauri-driver on port $driver2_port" 30 \
      curl -sf "http://127.0.0.1:$driver2_port/status"
    log "second tauri-driver on port $driver2_port (WebKitWebDriver on $native2_port)"
  fi

  # --- the tests ------------------------------------------------------------------------------
  export E2E_SHOTS="$ARTIFACTS"
  # No accessibility bus on the private session: keep GTK from asking for one.
  export NO_AT_BRIDGE=1
  if [ -n "${E2E_SCRIPT:-}" ]; then
    node "$E2E_SCRIPT"
    exit $?
  fi
  node_args=(--test --test-concurrency=1 --test-reporter=spec)
  if [ -n "${E2E_TEST_NAME_PATTERN:-}" ]; then
    node_args+=(--test-name-pattern="$E2E_TEST_NAME_PATTERN")
  fi
  # shellcheck disable=SC2086 # E2E_TESTS is a list of files
  (cd "$ROOT/tests/e2e" && node "${node_args[@]}" $E2E_TESTS)
  exit $?
fi

# ==============================================================================================
# Part 1: prerequisites and builds, then the session.
# ==============================================================================================
started=$SECONDS
export E2E_TESTS="${E2E_TESTS:-app.test.mjs alerts.test.mjs cluster.test.mjs}"
# cluster.test.mjs needs a cluster (started below); E2E_SCRIPT (bench/app) runs no test file.
with_cluster=0
if [ -z "${E2E_SCRIPT:-}" ] && [[ " $E2E_TESTS " == *" cluster.test.mjs "* ]]; then
  with_cluster=1
fi
missing=()
for tool in dbus-run-session gnome-keyring-daemon secret-tool gdbus Xvfb WebKitWebDriver \
  node npm cargo curl setsid; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "$with_cluster" -eq 1 ]; then
  for tool in nginx redis-server redis-cli psql; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "missing: ${missing[*]} — run scripts/setup.sh (Debian packages dbus gnome-keyring"
  log "libsecret-tools xvfb xauth webkit2gtk-driver, and for cluster.test.mjs postgresql"
  log "redis-server nginx; Node.js 20+)"
  exit 1
fi

export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"

# Xvfb has no GPU, so WebKit's accelerated compositing renders through Mesa's software
# rasterizer, which has crashed the web process here (a segfault in swrast_dri.so in the middle
# of a run). The app runs with compositing off unless E2E_WEBKIT_COMPOSITING=1 (bench/app's full
# run turns it on: its report measures the default a desktop gets).
if [ "${E2E_WEBKIT_COMPOSITING:-0}" != 1 ]; then
  export WEBKIT_DISABLE_COMPOSITING_MODE=1
fi

# --- tauri-driver -----------------------------------------------------------------------------
TAURI_DRIVER=$(command -v tauri-driver || true)
[ -n "$TAURI_DRIVER" ] || [ ! -x "$CARGO_HOME/bin/tauri-driver" ] || TAURI_DRIVER="$CARGO_HOME/bin/tauri-driver"
if [ -z "$TAURI_DRIVER" ]; then
  log "installing tauri-driver (cargo install tauri-driver --version ^2 --locked)"
  cargo install tauri-driver --version '^2' --locked
  TAURI_DRIVER="$CARGO_HOME/bin/tauri-driver"
fi
export TAURI_DRIVER

# --- npm packages (reinstalled only when package.json / the lock / Node's major changed) -----
npm_install() {
  local dir=$1
  local stamp="$dir/node_modules/.deskbell-e2e-stamp" want
  want=$(
    {
      cat "$dir/package.json"
      [ ! -f "$dir/package-lock.json" ] || cat "$dir/package-lock.json"
      node -p 'process.versions.node.split(".")[0]'
    } | sha256sum | cut -d' ' -f1
  )
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  # Installed already (by hand, or by another script) and matching the lock: keep it — `npm ci`
  # would wipe node_modules under whoever is using it.
  if [ -d "$dir/node_modules" ] && (cd "$dir" && npm ls --depth=0 >/dev/null 2>&1); then
    echo "$want" >"$stamp"
    return 0
  fi
  log "installing npm packages in $dir"
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
  else
    (cd "$dir" && npm install --ignore-scripts --no-audit --no-fund)
  fi
  echo "$want" >"$stamp"
}

npm_install tests/e2e
if [ "${E2E_SKIP_BUILD:-0}" != 1 ]; then

  # --- the UI, then the app that embeds it -----------------------------------------------------
  if [ ! -f ui/package.json ]; then
    log "ui/package.json not found: the UI is not there yet"
    exit 1
  fi
  npm_install ui
  log "building the UI (ui/dist)"
  (cd ui && npm run build)

  log "building the app, the demo server and the notification capture"
  cargo build -p deskbell -p deskbell-server -p deskbell-notify-capture
fi

# Where `cargo build` put them: CARGO_TARGET_DIR (relative to the workspace, as cargo takes it) when
# set, else target/.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
E2E_APP="${E2E_APP:-$TARGET_DIR/debug/deskbell}"
E2E_SERVER_BIN="${E2E_SERVER_BIN:-$TARGET_DIR/debug/deskbell-server}"
E2E_NOTIFY_CAPTURE="$TARGET_DIR/debug/deskbell-notify-capture"
for bin in "$E2E_APP" "$E2E_SERVER_BIN" "$E2E_NOTIFY_CAPTURE"; do
  [ -x "$bin" ] || { log "$bin is missing (build failed?)"; exit 1; }
done
export E2E_APP E2E_SERVER_BIN E2E_NOTIFY_CAPTURE
log "ready after $((SECONDS - started))s"

# --- a throwaway HOME; rustup/cargo keep the real ones ----------------------------------------
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS/logs"
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/deskbell-e2e.XXXXXX")
export E2E_TMP
cluster_state="$E2E_TMP/cluster"
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup_outer() {
  local status=$?
  set +e
  # The cluster goes whatever happened (a no-op when it was never started).
  if [ -f "$cluster_state/cluster.env" ]; then
    bash scripts/cluster.sh --stop --state-dir "$cluster_state" >&2
    cp -r "$cluster_state/nginx/logs" "$ARTIFACTS/cluster/nginx" 2>/dev/null
    cp "$cluster_state/nginx/nginx.conf" "$cluster_state/nginx/upstream.conf" "$ARTIFACTS/cluster/nginx/" 2>/dev/null
    cp "$cluster_state/redis/redis.log" "$ARTIFACTS/cluster/redis.log" 2>/dev/null
  fi
  if [ "${E2E_KEEP_TMP:-0}" = 1 ]; then
    log "kept $E2E_TMP"
  else
    rm -rf "$E2E_TMP"
  fi
  log "finished in $((SECONDS - started))s (status $status); screenshots and logs in $ARTIFACTS"
  exit "$status"
}
trap cleanup_outer EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- two nodes behind nginx, for cluster.test.mjs -----------------------------------------------
# The e2e's own server binary; a database of its own, fresh each run (not deskbell_test_*:
# scripts/postgres.sh drops those); ports away from a developer's cluster (8090…) and from
# tests/cluster (18090…, 16391…): the first free block of 3 from 28090 on, Redis from 26391 on.
if [ "$with_cluster" -eq 1 ]; then
  port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  base=""
  for candidate in $(seq 28090 100 29990); do
    free=1
    for p in $(seq "$candidate" $((candidate + 2))); do port_in_use "$p" && { free=0; break; }; done
    if [ "$free" -eq 1 ]; then base=$candidate; break; fi
  done
  [ -n "$base" ] || { log "no free block of ports between 28090 and 29992 for the cluster"; exit 1; }
  redis_port=""
  for candidate in $(seq 26391 26420); do
    port_in_use "$candidate" || { redis_port=$candidate; break; }
  done
  [ -n "$redis_port" ] || { log "no free port for the cluster's Redis between 26391 and 26420"; exit 1; }
  mkdir -p "$ARTIFACTS/cluster"
  cluster_started=$SECONDS
  E2E_CLUSTER_URL=$(bash scripts/cluster.sh --background --nodes 2 --port "$base" \
    --redis-port "$redis_port" --state-dir "$cluster_state" --log-dir "$ARTIFACTS/cluster" \
    --database deskbell_e2e_cluster --fresh-db --server-bin "$E2E_SERVER_BIN")
  export E2E_CLUSTER_URL E2E_CLUSTER_STATE="$cluster_state" E2E_CLUSTER_SCRIPT="$ROOT/scripts/cluster.sh"
  log "cluster at $E2E_CLUSTER_URL after $((SECONDS - cluster_started))s (logs in $ARTIFACTS/cluster)"
fi

status=0
HOME="$E2E_TMP/home" XDG_DATA_HOME="$E2E_TMP/home/.local/share" \
  XDG_CONFIG_HOME="$E2E_TMP/home/.config" XDG_CACHE_HOME="$E2E_TMP/home/.cache" \
  XDG_RUNTIME_DIR="$E2E_TMP/run" \
  dbus-run-session --config-file="$ROOT/tests/os/session.conf" -- \
  bash "$ROOT/tests/e2e/run.sh" --in-session || status=$?
exit "$status"
