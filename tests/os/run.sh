#!/usr/bin/env bash
# OS integration tests of the client core, against real desktop services in private D-Bus
# session buses (tests/os/session.conf: no service activation, so nothing starts behind a
# test's back and the user's own desktop session is never touched):
#   1. notifications: notify-rust against a capturing org.freedesktop.Notifications server
#      that the test itself owns, and its ActionInvoked coming back to the core;
#   2. keychain: the Secret Service store against an unlocked gnome-keyring (in a throwaway
#      HOME), cross-checked with libsecret's secret-tool;
#   3. no secret service on the bus: the store falls back to memory with the plain message.
# Needs the Debian packages dbus, gnome-keyring and libsecret-tools (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in dbus-run-session gnome-keyring-daemon secret-tool; do
  if ! command -v "$tool" >/dev/null; then
    echo "os tests: $tool not found: run scripts/setup.sh (packages dbus gnome-keyring libsecret-tools)" >&2
    exit 1
  fi
done

# Build outside the bus sessions, so each session only lives for its tests.
cargo test -p deskbell-client --test os_notifications --test os_keychain --no-run

bus=(dbus-run-session --config-file=tests/os/session.conf --)

echo "--- notifications (capturing notification server)"
# Known flake, not yet understood: this test has once hung for good in CI (every wait in it has a
# deadline, yet no worker thread was left to fire them; a blocking thread sat in notify-rust's
# wait_for_response). A hang is cut after 5 minutes, said loudly, and the test run once more in a
# fresh bus session; a failure is a failure as always.
status=0
timeout --signal=KILL 300 "${bus[@]}" cargo test -p deskbell-client --test os_notifications -- --include-ignored || status=$?
if [ "$status" -eq 137 ]; then
  echo "os tests: os_notifications HUNG (killed after 300 s); running it once more" >&2
  timeout --signal=KILL 300 "${bus[@]}" cargo test -p deskbell-client --test os_notifications -- --include-ignored
elif [ "$status" -ne 0 ]; then
  exit "$status"
fi

echo "--- keychain (gnome-keyring, unlocked)"
# rustup and cargo must not follow HOME into the throwaway one.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
home=$(mktemp -d "${TMPDIR:-/tmp}/deskbell-os-home.XXXXXX")
trap 'rm -rf "$home"' EXIT
HOME="$home" XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run" \
  "${bus[@]}" bash -euo pipefail -c '
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    # The password creates and unlocks the login keyring (an empty one creates none); the
    # daemon lives on the private bus and ends with it.
    eval "$(printf "deskbell-os-test" | gnome-keyring-daemon --unlock --components=secrets)"
    export GNOME_KEYRING_CONTROL
    cargo test -p deskbell-client --test os_keychain -- --include-ignored --exact \
      keychain_round_trip_against_gnome_keyring
  '

echo "--- no secret service on the bus"
"${bus[@]}" cargo test -p deskbell-client --test os_keychain -- --include-ignored --exact \
  without_a_secret_service_the_message_is_the_plain_one
