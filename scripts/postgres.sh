#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with a `deskbell` role (password
# `deskbell`) that may create databases: every PostgreSQL test creates its own throwaway database.
# Idempotent. Uses the Debian cluster on port 5432 (creating one if there is none) and starts it
# with pg_ctlcluster, so it works without systemd. Messages go to stderr; stdout gets only the URL
# the tests take as DESKBELL_TEST_POSTGRES_URL:
#
#   export DESKBELL_TEST_POSTGRES_URL=$(bash scripts/postgres.sh)
#
#   bash scripts/postgres.sh --drop-test-databases   only drop idle deskbell_test_* databases
#
# Needs root or sudo (to start the server and act as the `postgres` superuser).
set -euo pipefail

PORT="${DESKBELL_PG_PORT:-5432}" # another port only for trying this script beside a live server
URL="postgres://deskbell:deskbell@127.0.0.1:${PORT}/postgres"
SOCKET_DIR=/var/run/postgresql
READY_TIMEOUT=60

log() { echo "postgres: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# psql as the `postgres` superuser over the local socket (peer authentication). Runs from / so
# that psql does not complain about a working directory the postgres user may not read.
super_psql() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- psql -X -h "$SOCKET_DIR" -p "$PORT" -d postgres "$@")
  else
    (cd / && sudo -u postgres psql -X -h "$SOCKET_DIR" -p "$PORT" -d postgres "$@")
  fi
}

ready() { pg_isready -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1; }

# Leftover databases of earlier test runs: drop those nobody is connected to. With a minimum age
# (seconds since creation) so that a test suite running at the same time keeps its fresh ones.
drop_test_databases() {
  local min_age=$1
  super_psql -q -v ON_ERROR_STOP=0 >/dev/null 2>&1 <<SQL || log "could not drop some old test databases"
SELECT format('DROP DATABASE IF EXISTS %I', d.datname)
FROM pg_database d
WHERE d.datname LIKE 'deskbell\_test\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)
  AND (pg_stat_file('base/' || d.oid || '/PG_VERSION')).modification
      < now() - make_interval(secs => $min_age)
\gexec
SQL
}

if [ "${1:-}" = "--drop-test-databases" ]; then
  drop_test_databases 0
  exit 0
elif [ $# -gt 0 ]; then
  die "unknown argument: $1 (usage: bash scripts/postgres.sh [--drop-test-databases])"
fi

for tool in pg_lsclusters pg_ctlcluster pg_isready psql; do
  command -v "$tool" >/dev/null 2>&1 || die "PostgreSQL is not installed: run scripts/setup.sh first"
done

# --- Start the server ---------------------------------------------------------------------------
# Prints "VERSION NAME STATUS DATADIR" of the Debian cluster that uses $PORT, if there is one.
cluster_on_port() {
  pg_lsclusters -h 2>/dev/null | awk -v port="$PORT" '$3 == port { print $1, $2, $4, $6; exit }'
}

if ! ready; then
  read -r version name status datadir < <(cluster_on_port || true) || true
  if [ -z "${version:-}" ]; then
    version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
      sort -V | tail -n 1)
    [ -n "$version" ] || die "no PostgreSQL server version found in /usr/lib/postgresql"
    name=main
    if [ -d "/etc/postgresql/$version/main" ]; then
      name=deskbell # `main` exists but uses another port: leave it alone.
    fi
    log "creating cluster $version/$name on port $PORT"
    as_root pg_createcluster -p "$PORT" "$version" "$name" >&2
    read -r version name status datadir < <(cluster_on_port) ||
      die "cluster $version/$name was not created"
  fi

  # /var/run is a tmpfs on most systems: the socket directory is gone after a reboot.
  as_root install -d -o postgres -g postgres -m 2775 "$SOCKET_DIR"

  case "$status" in
    online*)
      log "cluster $version/$name is running but does not answer on 127.0.0.1:$PORT yet"
      ;;
    *)
      # A machine restored from a snapshot can keep a postmaster.pid whose process is gone or
      # whose pid now belongs to something else; PostgreSQL then refuses to start.
      pidfile="$datadir/postmaster.pid"
      if as_root test -f "$pidfile"; then
        pid=$(as_root head -n 1 "$pidfile" || true)
        if [ -z "$pid" ] || ! ps -p "$pid" -o comm= 2>/dev/null | grep -q postgres; then
          log "removing stale $pidfile"
          as_root rm -f "$pidfile"
        fi
      fi
      log "starting cluster $version/$name"
      as_root pg_ctlcluster "$version" "$name" start >&2 ||
        log "pg_ctlcluster start failed; waiting in case it is starting anyway"
      ;;
  esac

  deadline=$((SECONDS + READY_TIMEOUT))
  until ready; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "not ready on 127.0.0.1:$PORT after ${READY_TIMEOUT}s; end of the server log:"
      as_root tail -n 40 "/var/log/postgresql/postgresql-$version-$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  log "cluster $version/$name is ready on 127.0.0.1:$PORT"
fi

# --- Role -----------------------------------------------------------------------------------
super_psql -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deskbell') THEN
    CREATE ROLE deskbell LOGIN CREATEDB PASSWORD 'deskbell';
  ELSIF NOT EXISTS (
    SELECT FROM pg_roles WHERE rolname = 'deskbell' AND rolcanlogin AND rolcreatedb
  ) THEN
    ALTER ROLE deskbell LOGIN CREATEDB;
  END IF;
END
$$;
SQL

drop_test_databases 600

# Check the URL itself: TCP on 127.0.0.1, password authentication, the CREATEDB right.
out=$(PGCONNECT_TIMEOUT=10 psql -X -q -At "$URL" \
  -c "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>&1) || {
  # Most likely the password differs (it is only set when the role is created): reset it.
  log "cannot log in as deskbell ($out); resetting its password"
  super_psql -q -v ON_ERROR_STOP=1 -c "ALTER ROLE deskbell LOGIN CREATEDB PASSWORD 'deskbell'" >/dev/null
  out=$(PGCONNECT_TIMEOUT=10 psql -X -q -At "$URL" \
    -c "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>&1) ||
    die "cannot log in with $URL: $out"
}
[ "$out" = "t" ] || die "role deskbell lacks CREATEDB"

echo "$URL"
