#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with a `deskbell` role that may create
# databases (each test creates its own). Idempotent. Prints the admin URL the tests use.
set -euo pipefail

URL="postgres://deskbell:deskbell@127.0.0.1:5432/postgres"
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

wait_ready() {
  local deadline=$((SECONDS + 60))
  until pg_isready -q -h 127.0.0.1 -p 5432; do
    if [ $SECONDS -ge $deadline ]; then
      echo "postgres: not ready after 60 s" >&2
      tail -n 30 /var/log/postgresql/postgresql-*-main.log >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    echo "postgres: creating cluster $version/main"
    as_root pg_createcluster "$version" main
  fi
  echo "postgres: starting cluster $version/main"
  as_root pg_ctlcluster "$version" main start || true
  wait_ready
fi

as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deskbell') THEN
    CREATE ROLE deskbell LOGIN PASSWORD 'deskbell' CREATEDB;
  ELSE
    ALTER ROLE deskbell LOGIN PASSWORD 'deskbell' CREATEDB;
  END IF;
END
$$;
SQL

# Throwaway databases of earlier test runs.
as_postgres psql -q -At -d postgres -c \
  "SELECT datname FROM pg_database WHERE datname LIKE 'deskbell\_test\_%'" |
  while read -r db; do as_postgres psql -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null; done

psql "$URL" -q -At -c 'SELECT 1' >/dev/null
echo "$URL"
