#!/usr/bin/env bash
# Installs what building and testing Deskbell needs on Debian 12. Idempotent, and quick when
# everything is already there (then it installs nothing and touches no network).
#
#   bash scripts/setup.sh               build deps, PostgreSQL, Redis, nginx, npm packages of the
#                                       Node tests
#   bash scripts/setup.sh --build-only  only what `cargo build` needs (used by run-demo.sh)
#
# Needs root or sudo only when a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    -h | --help) echo "usage: bash scripts/setup.sh [--build-only]"; exit 0 ;;
    *) echo "setup: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "setup: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root (or sudo) to run: $*"
    exit 1
  fi
}

# --- Debian packages --------------------------------------------------------------------------
# The desktop app (Tauri 2 on WebKitGTK) needs these to build.
APT_PACKAGES=(build-essential pkg-config file libssl-dev libwebkit2gtk-4.1-dev
  libjavascriptcoregtk-4.1-dev libsoup-3.0-dev libgtk-3-dev libayatana-appindicator3-dev
  librsvg2-dev libxdo-dev)
if [ "$build_only" -eq 0 ]; then
  # PostgreSQL for the second test run; a D-Bus session bus and gnome-keyring for the OS
  # integration tests (notifications, keychain) in a private session.
  APT_PACKAGES+=(postgresql postgresql-client dbus dbus-x11 gnome-keyring libsecret-tools)
  # The app's end-to-end tests (Xvfb + tauri-driver + WebKitWebDriver) and the UI's tests
  # (headless Chromium).
  APT_PACKAGES+=(xvfb xauth webkit2gtk-driver chromium)
  # bench/app's window watch (never shown blank): xev and xprop (x11-utils), xwd (x11-apps).
  APT_PACKAGES+=(x11-utils x11-apps)
  # The several-node topology and its tests (scripts/cluster.sh, tests/cluster): Redis for the
  # cross-node fan-out, nginx as the websocket-aware load balancer (Debian 12's `nginx` has the
  # proxy, upstream and map modules it uses; `nginx-light` is only a transitional package for
  # it there), curl to wait on health checks. The packages' own services
  # are not relied on (no systemd here): the scripts start their own, unprivileged, on loopback.
  APT_PACKAGES+=(redis-server redis-tools nginx curl)
  # The release package's checks (tests/package/run.sh): dpkg-dev's dpkg-shlibdeps (from
  # build-essential) and desktop-file-validate; xdg-utils is one of the package's Depends, so
  # that installing it here needs nothing from the network.
  APT_PACKAGES+=(dpkg-dev desktop-file-utils xdg-utils)
fi

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt_opts=(-q -o DPkg::Lock::Timeout=300)
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
fi

# --- Toolchains that are expected to be there already ---------------------------------------
required_tools=(cargo node npm)
for tool in "${required_tools[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    case "$tool" in
      cargo) log "cargo is required: install Rust (stable, 1.85 or newer), e.g. with rustup" ;;
      *) log "$tool is required: install Node.js 20 or newer (with npm)" ;;
    esac
    exit 1
  fi
done

# --- npm packages of the Node test fixtures ---------------------------------------------------
# Reinstalled only when package.json / package-lock.json (or the Node major version) changed.
npm_install() {
  local dir=$1
  [ -f "$dir/package.json" ] || return 0
  local stamp="$dir/node_modules/.deskbell-setup-stamp" want
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
  log "installing npm packages in $dir"
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
  else
    (cd "$dir" && npm install --ignore-scripts --no-audit --no-fund)
  fi
  echo "$want" >"$stamp"
}

if [ "$build_only" -eq 0 ]; then
  # tests/node: the official socket.io-client against the server (part of `cargo test`).
  # tests/node-server: the reference Node socket.io server the client is proven against.
  # bench/fanout: the reference Node socket.io server of the fan-out benchmark.
  # ui: the desktop app's UI (Svelte, Vite) and its Chromium tests.
  # tests/e2e: webdriverio for the end-to-end tests of the real app.
  for dir in tests/node tests/node-server bench/fanout ui tests/e2e; do
    npm_install "$dir"
  done
fi

if [ "$build_only" -eq 1 ]; then
  # Building the app needs the UI's packages (its build output is embedded in the binary).
  npm_install ui
fi

log "ready"
