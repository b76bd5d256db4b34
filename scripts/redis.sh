#!/usr/bin/env bash
# Makes sure an unprivileged Redis answers on 127.0.0.1 for the Deskbell servers' cross-node
# fan-out and cluster-wide rate limit, and prints its URL (stdout gets only the URL; messages go
# to stderr), like scripts/postgres.sh:
#
#   export DESKBELL_REDIS_URL=$(bash scripts/redis.sh)
#   bash scripts/redis.sh --stop        stop it (nothing is kept: it runs with --save '')
#
# Idempotent: a Redis already answering on the port is reused as it is. Not the Debian service
# (no systemd is assumed, and the packaged one listens on 6379 with persistence on): our own
# redis-server, daemonized, with its directory, pid file and log in a state dir.
#
# Env: DESKBELL_REDIS_PORT (default 6390, not 6379, so a system Redis is left alone);
#      DESKBELL_REDIS_DIR (default .state/redis in the repo; scripts/cluster.sh gives each
#      cluster its own).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${DESKBELL_REDIS_PORT:-6390}"
DIR="${DESKBELL_REDIS_DIR:-$PWD/.state/redis}"
URL="redis://127.0.0.1:${PORT}"
READY_TIMEOUT=20

log() { echo "redis: $*" >&2; }
die() { log "$*"; exit 1; }

stop=0
case "${1:-}" in
  "") ;;
  --stop) stop=1 ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
  *) die "unknown argument: $1 (usage: bash scripts/redis.sh [--stop])" ;;
esac

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed: run scripts/setup.sh first"
done

ping() { [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = "PONG" ]; }
pidfile="$DIR/redis.pid"
pid_alive() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [ "$stop" -eq 1 ]; then
  if pid_alive; then
    pid=$(cat "$pidfile")
    # SIGCONT first: a Redis paused with SIGSTOP (the cluster tests do that) would never
    # handle the SIGTERM.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + READY_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "pid $pid still there after ${READY_TIMEOUT}s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
    rm -f "$pidfile"
    log "stopped (pid $pid, port $PORT)"
  elif ping; then
    # Answering, but not ours (no pid file in $DIR): not ours to stop either.
    die "a Redis answers on port $PORT but $pidfile does not name it: not stopping it"
  else
    log "not running on port $PORT"
  fi
  exit 0
fi

if ping; then
  pid_alive || log "reusing the Redis already answering on port $PORT (not started here)"
  echo "$URL"
  exit 0
fi

mkdir -p "$DIR"
chmod 700 "$DIR"
# A pid file left by a Redis that is gone (machine restarted, kill -9) is not a reason to stop.
if [ -s "$pidfile" ] && ! pid_alive; then rm -f "$pidfile"; fi
pid_alive && die "pid $(cat "$pidfile") from $pidfile is alive but does not answer on port $PORT"

# Loopback only, no password (nothing but local processes reach it); --save '' and no AOF: the
# event log in the database is the source of truth, Redis only carries fan-out and counters, so
# there is nothing worth persisting and a restart must start empty.
redis-server --port "$PORT" --bind 127.0.0.1 --protected-mode yes \
  --save '' --appendonly no --dir "$DIR" \
  --daemonize yes --pidfile "$pidfile" --logfile "$DIR/redis.log" >&2 ||
  die "redis-server did not start; see $DIR/redis.log"

deadline=$((SECONDS + READY_TIMEOUT))
until ping; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "not ready on 127.0.0.1:$PORT after ${READY_TIMEOUT}s; end of its log:"
    tail -n 20 "$DIR/redis.log" >&2 || true
    exit 1
  fi
  sleep 0.1
done
log "ready on 127.0.0.1:$PORT (pid $(cat "$pidfile" 2>/dev/null || echo '?'), dir $DIR)"
echo "$URL"
