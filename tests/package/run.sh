#!/usr/bin/env bash
# The installed app is what CI proves: builds the release .deb (scripts/package.sh), then
#   1. its control data: name, the workspace's version, this machine's architecture, the
#      Depends the app needs (WebKitGTK, GTK, the tray's appindicator, xdg-utils for links);
#   2. its contents: the binary (the release build, byte for byte), the desktop entry (valid,
#      per desktop-file-validate) and the icons, and nothing outside /usr;
#   3. its dependencies: every shared library the binary links (dpkg-shlibdeps) and the one it
#      loads at run time (the tray's libayatana-appindicator3) comes from a package the
#      Depends pull in, so installing the .deb on a bare Debian brings all it needs;
#   4. in the real app, under Xvfb in tests/e2e/run.sh's private session
#      (tests/e2e/package.test.mjs): the package repacked as an older version installs, signs
#      in and saves a setting; the built package installs over it and the app resumes the
#      keychain session with the setting kept; the packaged binary runs the demo until Live.
# The package is removed again at the end.
#
#   bash tests/package/run.sh             (as root: it installs the package system-wide)
#
# PACKAGE_DEB=/path/to.deb checks that package instead of building one. It refuses to run where
# a deskbell package is already installed (it would replace and then remove it).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

log() { echo "package: $*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

if [ "$(id -u)" -ne 0 ]; then
  fail "installing the package needs root: run it as root (CI does), e.g. sudo -E bash $0"
fi
if [ "$(dpkg-query -W -f '${db:Status-Status}' deskbell 2>/dev/null || true)" = installed ]; then
  fail "a deskbell package is installed already ($(dpkg-query -W -f '${Version}' deskbell)); this test would replace and remove it: remove it first (dpkg -r deskbell)"
fi
for tool in dpkg-deb dpkg-shlibdeps apt-cache desktop-file-validate; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/setup.sh"
done

deb="${PACKAGE_DEB:-$(bash scripts/package.sh)}"
[ -f "$deb" ] || fail "no package at $deb"
deb=$(realpath "$deb")
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
binary="$TARGET_DIR/release/deskbell"
version=$(cargo pkgid -p deskbell | sed 's/.*[#@]//')

work=$(mktemp -d "${TMPDIR:-/tmp}/deskbell-package.XXXXXX")
installed_here=0
cleanup() {
  local status=$?
  set +e
  if [ "$installed_here" -eq 1 ] || dpkg-query -W deskbell >/dev/null 2>&1; then
    log "removing the package again (dpkg --purge deskbell)"
    dpkg --purge deskbell >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
log "checking $deb ($(du -h "$deb" | cut -f1))"

# --- 1. control data ---------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = deskbell ] || fail "Package is '$(field Package)', not deskbell"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', the workspace's is $version"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] ||
  fail "Architecture is '$(field Architecture)', this machine's is $(dpkg --print-architecture)"
[ -n "$(field Description)" ] || fail "no Description"
depends=$(field Depends)
declared=()
IFS=',' read -ra parts <<<"$depends"
for part in "${parts[@]}"; do
  name=$(echo "$part" | sed 's/(.*//; s/|.*//' | tr -d ' ')
  [ -z "$name" ] || declared+=("$name")
done
for needed in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1 xdg-utils; do
  printf '%s\n' "${declared[@]}" | grep -qx "$needed" || fail "Depends ($depends) lacks $needed"
done
log "control: deskbell $version $(field Architecture), Depends: $depends"

# --- 2. contents -------------------------------------------------------------------------------
dpkg-deb -x "$deb" "$work/root"
listing=$(dpkg-deb -c "$deb")
# (dpkg-deb lists paths with or without a leading ./, depending on how the archive was made)
outside=$(echo "$listing" | awk '{print $6}' | sed 's|^\./||' | grep -v -E '^(usr(/.*)?)?$' || true)
[ -z "$outside" ] || fail "files outside /usr: $outside"
echo "$listing" | grep -qE '^-rwxr-xr-x .* (\./)?usr/bin/deskbell$' || fail "no executable ./usr/bin/deskbell in: $listing"
# The Tauri CLI marks the packaged binary with its bundle type (a fixed-size marker the app reads
# at run time): apart from that, it is the release build byte for byte.
expected="$work/deskbell.expected"
perl -0777 -pe 's/__TAURI_BUNDLE_TYPE_VAR_UNK/__TAURI_BUNDLE_TYPE_VAR_DEB/' "$binary" >"$expected"
cmp -s "$work/root/usr/bin/deskbell" "$expected" ||
  fail "usr/bin/deskbell is not the release build at $binary (marked as a deb)"
desktop="$work/root/usr/share/applications/Deskbell.desktop"
[ -f "$desktop" ] || fail "no desktop entry ./usr/share/applications/Deskbell.desktop"
desktop-file-validate "$desktop" || fail "the desktop entry does not validate"
grep -qx 'Exec=deskbell' "$desktop" || fail "the desktop entry does not run deskbell: $(cat "$desktop")"
grep -qx 'Name=Deskbell' "$desktop" || fail "the desktop entry is not named Deskbell"
icon=$(sed -n 's/^Icon=//p' "$desktop")
for size in 32x32 128x128 256x256@2 512x512; do
  [ -f "$work/root/usr/share/icons/hicolor/$size/apps/$icon.png" ] ||
    fail "no $size icon named $icon (the desktop entry's Icon)"
done
log "contents: $(echo "$listing" | grep -c '^-') files, the release binary, a valid desktop entry, icons"

# --- 3. every library the binary needs comes with the Depends ------------------------------------
mkdir -p "$work/shlibs/debian"
: >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e "$work/root/usr/bin/deskbell" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || fail "dpkg-shlibdeps found no libraries (not a dynamic executable?)"
# What installing the package pulls in: the Depends and everything they depend on.
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${declared[@]}" | grep -v '^ ' | sort -u >"$work/closure"
missing=()
IFS=',' read -ra libs <<<"$shlibs"
for lib in "${libs[@]}"; do
  name=$(echo "$lib" | sed 's/(.*//; s/|.*//' | tr -d ' ')
  grep -qx "$name" "$work/closure" || missing+=("$name")
done
# Loaded at run time (dlopen) rather than linked: not in dpkg-shlibdeps' view.
for soname in libayatana-appindicator3.so.1; do
  grep -qa "$soname" "$work/root/usr/bin/deskbell" || fail "the binary does not name $soname any more: update this list"
  owner=$(dpkg -S "*/$soname" 2>/dev/null | head -1 | cut -d: -f1)
  [ -n "$owner" ] || fail "no installed package has $soname"
  grep -qx "$owner" "$work/closure" || missing+=("$owner (for $soname)")
done
[ ${#missing[@]} -eq 0 ] || fail "the Depends do not bring: ${missing[*]} (the binary needs: $shlibs)"
log "dependencies: the $(echo "$shlibs" | tr ',' '\n' | wc -l) linked and the dlopened libraries all come with the Depends"

# --- 4. install over an older version, in the real app --------------------------------------------
old_version="${version}~older"
dpkg-deb -R "$deb" "$work/old"
sed -i "s/^Version: .*/Version: $old_version/" "$work/old/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/old" "$work/deskbell_${old_version}.deb" >/dev/null
dpkg --compare-versions "$old_version" lt "$version" || fail "$old_version does not sort before $version"

# The e2e runner's notification capture and tray host (debug; the test suite built it already).
cargo build -p deskbell-notify-capture
installed_here=1
E2E_APP="$binary" \
  E2E_SERVER_BIN="$TARGET_DIR/release/deskbell-server" \
  E2E_PACKAGE_OLD="$work/deskbell_${old_version}.deb" E2E_PACKAGE_OLD_VERSION="$old_version" \
  E2E_PACKAGE_NEW="$deb" E2E_PACKAGE_NEW_VERSION="$version" E2E_PACKAGE_BINARY="$expected" \
  E2E_TESTS="package.test.mjs" E2E_SKIP_BUILD=1 E2E_ARTIFACTS="$ROOT/ci-artifacts/package" \
  bash tests/e2e/run.sh
log "passed: $deb"
