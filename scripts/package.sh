#!/usr/bin/env bash
# Builds the release app and its Debian package, and prints the package's path:
#   target/release/bundle/deb/Deskbell_<version>_amd64.deb (the version is the workspace's)
#
#   bash scripts/package.sh
#
# The release build is the one everything else uses too (bench/app/run.sh, scripts/run-demo.sh):
# `cargo build --release -p deskbell -p deskbell-server --features deskbell/custom-protocol`,
# the feature `tauri build` would turn on, so the package holds the binary the benchmark
# measures and nothing is compiled twice. The package itself is made by the Tauri CLI pinned in
# ui/package.json (`tauri bundle`: it packs an existing build). Its contents, dependencies and
# an install over an older version are checked by tests/package/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { echo "package: $*" >&2; }

bash scripts/setup.sh --build-only
log "building the UI (ui/dist, embedded in the app)"
(cd ui && npm run build >&2)
log "building the app and the server (release; the first build takes several minutes)"
cargo build --release -p deskbell -p deskbell-server --features deskbell/custom-protocol >&2

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
out="$TARGET_DIR/release/bundle/deb"
rm -rf "$out"
log "packing the .deb (version from the workspace's Cargo.toml; tauri.conf.json names none)"
# --ci: never prompt. Run from src-tauri so that the CLI finds tauri.conf.json at once.
(cd src-tauri && "$ROOT/ui/node_modules/.bin/tauri" bundle --bundles deb --ci >&2)
debs=("$out"/*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
  log "expected one .deb in $out, found: ${debs[*]}"
  exit 1
fi
log "built ${debs[0]}"
echo "${debs[0]}"
