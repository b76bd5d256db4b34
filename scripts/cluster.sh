#!/usr/bin/env bash
# Several Deskbell server nodes serving the same companies, on loopback, from Debian packages:
#
#   PostgreSQL (scripts/postgres.sh, its own database)    the shared store and event log
#   Redis      (scripts/redis.sh, its own dir and port)    cross-node fan-out, cluster rate limit
#   N nodes    deskbell-server demo, ports P+1..P+N        each with its own data dir and log
#   nginx      on port P, in front of the nodes             the URL the app signs in to
#
#   bash scripts/cluster.sh                 build (release), start, print the URL; Ctrl-C stops all
#   bash scripts/cluster.sh --background    start, write the state file, return (tests use this)
#   bash scripts/cluster.sh --stop          stop what --background (or a foreground run) started
#   bash scripts/cluster.sh --start-node K  start node K again (after a kill or a drain)
#
# Options: --nodes N (3), --port P (8090: the balancer; nodes on P+1..P+N), --redis-port R (6391),
#   --simulate (demo traffic on every node), --state-dir DIR (.state/cluster), --log-dir DIR
#   (STATE/logs), --database NAME (deskbell_cluster), --fresh-db (drop and recreate it first),
#   --server-bin PATH (skip the build and run that binary); arguments after `--` go to every
#   node (e.g. `-- --writes-per-minute 0`).
#
# The state file STATE/cluster.env (shell variables: URLs, ports, pids, paths) says what runs;
# STATE/node-K.exit appears when node K has exited, with its exit status (128+N: signal N).
# Needs root or sudo only where scripts/postgres.sh does (to start PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

NODES=3
PORT=8090
REDIS_PORT=6391
SIMULATE=0
STATE=""
LOG_DIR=""
DB=deskbell_cluster
FRESH_DB=0
SERVER_BIN=""
MODE=foreground
START_NODE=""
NODE_ARGS=()
READY_TIMEOUT=60

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:?--nodes needs a number}; shift 2 ;;
    --port) PORT=${2:?--port needs a port}; shift 2 ;;
    --redis-port) REDIS_PORT=${2:?--redis-port needs a port}; shift 2 ;;
    --simulate) SIMULATE=1; shift ;;
    --state-dir) STATE=${2:?--state-dir needs a directory}; shift 2 ;;
    --log-dir) LOG_DIR=${2:?--log-dir needs a directory}; shift 2 ;;
    --database) DB=${2:?--database needs a name}; shift 2 ;;
    --fresh-db) FRESH_DB=1; shift ;;
    --server-bin) SERVER_BIN=${2:?--server-bin needs a path}; shift 2 ;;
    --background) MODE=background; shift ;;
    --stop) MODE=stop; shift ;;
    --start-node) MODE=start-node; START_NODE=${2:?--start-node needs a node number}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; NODE_ARGS=("$@"); break ;;
    *) usage; die "unknown argument: $1" ;;
  esac
done

[[ "$NODES" =~ ^[1-9][0-9]?$ ]] || die "--nodes takes 1..99, not $NODES"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1024 ] || [ $((PORT + NODES)) -gt 65535 ]; then
  die "--port takes an unprivileged port with room for $NODES nodes after it, not $PORT"
fi
[[ "$DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "--database takes a plain lowercase name, not $DB"
case "$DB" in deskbell_test_*) die "deskbell_test_* databases are dropped by scripts/postgres.sh: pick another name" ;; esac

STATE=${STATE:-$ROOT/.state/cluster}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
STATE_FILE="$STATE/cluster.env"

# ---------------------------------------------------------------------------------------------
# stopping: nginx first (no new requests reach a node that is going), then the nodes (SIGTERM:
# each closes its sockets and finishes in-flight requests), then Redis.

# Waits up to $1 seconds for the pids after it to exit, then kills what is left.
term_and_wait() {
  local secs=$1 pid
  shift
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + secs))
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "pid $pid did not stop within ${secs}s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
  done
}

stop_cluster() {
  if [ ! -f "$STATE_FILE" ]; then
    log "no cluster state in $STATE: nothing to stop"
    return 0
  fi
  # shellcheck disable=SC1090 # written by this script
  source "$STATE_FILE"
  if [ -n "${CLUSTER_NGINX_PID:-}" ]; then term_and_wait 10 "$CLUSTER_NGINX_PID"; fi
  # shellcheck disable=SC2086 # a list of pids
  term_and_wait 20 ${CLUSTER_NODE_PIDS:-}
  DESKBELL_REDIS_PORT=$CLUSTER_REDIS_PORT DESKBELL_REDIS_DIR=$CLUSTER_REDIS_DIR \
    bash "$ROOT/scripts/redis.sh" --stop || true
  rm -f "$STATE_FILE"
  log "stopped (logs in $CLUSTER_LOG_DIR)"
}

if [ "$MODE" = stop ]; then
  stop_cluster
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# helpers

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_healthy WHAT URL PID LOG: until URL/health answers 200, failing early when PID is gone.
wait_healthy() {
  local what=$1 url=$2 pid=$3 logfile=$4
  local deadline=$((SECONDS + READY_TIMEOUT))
  until curl -sf -m 2 "$url/health" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$what (pid $pid) exited before $url/health answered; end of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$what: no healthy answer from $url/health within ${READY_TIMEOUT}s; end of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# start_node K: node K on port PORT+K with its own data dir and log; sets node_pid (the server's
# own pid: signals go straight to it).
#
# A watcher subshell starts the node and waits for it, then writes its exit status to
# STATE/node-K.exit and a line to its log: once --background or --start-node has returned, the
# node's parent is gone and nothing else could learn how it ended (the drain test checks that a
# SIGTERM ends it with 0). The watcher also reaps it, so a killed node leaves no zombie that
# `kill -0` would take for a live one.
CORES=$(nproc 2>/dev/null || echo 2)

start_node() {
  local k=$1 port=$((PORT + $1))
  # nginx is the only hop in front of the nodes: they take the client address from its
  # X-Forwarded-For (per-address sign-in and connect throttling), never from a client's own.
  local args=(--redis-url "$REDIS_URL" --trusted-proxy 127.0.0.1 --node-name "node-$k")
  [ "$SIMULATE" -eq 0 ] || args+=(--simulate)
  port_in_use "$port" && die "port $port (node-$k) is taken: stop what runs there or pick --port"
  mkdir -p "$STATE/node-$k"
  local logfile="$LOG_DIR/node-$k.log"
  local exit_file="$STATE/node-$k.exit" pid_file="$STATE/node-$k.pid"
  rm -f "$exit_file" "$pid_file"
  echo "---- $(date -Is) starting node-$k on 127.0.0.1:$port" >>"$logfile"
  (
    trap - EXIT INT TERM # this script's cleanup is not the watcher's
    # The database URL goes by environment, not argv: it holds a password, and argv is public.
    # All nodes share this machine's cores: each runtime gets its share of them (bench/cluster:
    # two nodes of one worker per core each preempt each other, 0.77× of one node's rate at
    # 10 000 clients; one worker each, about one node's). A TOKIO_WORKER_THREADS set by the
    # caller wins.
    TOKIO_WORKER_THREADS=${TOKIO_WORKER_THREADS:-$(((CORES + NODES - 1) / NODES))} \
      DESKBELL_DATABASE_URL=$DATABASE_URL RUST_LOG=${RUST_LOG:-info} NO_COLOR=1 \
      "$SERVER_BIN" demo --bind "127.0.0.1:$port" --data-dir "$STATE/node-$k" \
      "${args[@]}" ${NODE_ARGS[@]+"${NODE_ARGS[@]}"} </dev/null >>"$logfile" 2>&1 &
    server=$!
    echo "$server" >"$pid_file.tmp" && mv "$pid_file.tmp" "$pid_file"
    status=0
    wait "$server" || status=$?
    echo "---- $(date -Is) node-$k (pid $server) exited with status $status" >>"$logfile"
    echo "$status" >"$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"
    # Not this script's stdout: a caller reading it ($(cluster.sh --background)) would wait for
    # the watcher, i.e. for the node to end.
  ) </dev/null >/dev/null 2>&1 &
  local deadline=$((SECONDS + 10))
  until [ -s "$pid_file" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "node-$k: its watcher wrote no pid to $pid_file within 10 s"
    sleep 0.05
  done
  node_pid=$(cat "$pid_file")
}

write_state() {
  {
    printf 'CLUSTER_URL=%q\n' "http://127.0.0.1:$PORT"
    printf 'CLUSTER_PORT=%q\n' "$PORT"
    printf 'CLUSTER_NODES=%q\n' "$NODES"
    printf 'CLUSTER_NODE_PORTS=%q\n' "${node_ports[*]}"
    printf 'CLUSTER_NODE_URLS=%q\n' "${node_urls[*]}"
    printf 'CLUSTER_NODE_PIDS=%q\n' "${node_pids[*]}"
    printf 'CLUSTER_NGINX_PID=%q\n' "${nginx_pid:-}"
    printf 'CLUSTER_NGINX_PREFIX=%q\n' "$STATE/nginx"
    printf 'CLUSTER_NGINX_CONF=%q\n' "$STATE/nginx/nginx.conf"
    printf 'CLUSTER_REDIS_URL=%q\n' "$REDIS_URL"
    printf 'CLUSTER_REDIS_PORT=%q\n' "$REDIS_PORT"
    printf 'CLUSTER_REDIS_DIR=%q\n' "$STATE/redis"
    printf 'CLUSTER_REDIS_PIDFILE=%q\n' "$STATE/redis/redis.pid"
    printf 'CLUSTER_DATABASE_URL=%q\n' "$DATABASE_URL"
    printf 'CLUSTER_SERVER_BIN=%q\n' "$SERVER_BIN"
    printf 'CLUSTER_SIMULATE=%q\n' "$SIMULATE"
    printf 'CLUSTER_NODE_ARGS=%q\n' "${NODE_ARGS[*]+"${NODE_ARGS[*]}"}"
    printf 'CLUSTER_LOG_DIR=%q\n' "$LOG_DIR"
    printf 'CLUSTER_STATE_DIR=%q\n' "$STATE"
  } >"$STATE_FILE.tmp"
  mv "$STATE_FILE.tmp" "$STATE_FILE"
}

# ---------------------------------------------------------------------------------------------
# --start-node K: one node of a running cluster, again, with the settings it was started with.
if [ "$MODE" = start-node ]; then
  [ -f "$STATE_FILE" ] || die "no cluster state in $STATE: start the cluster first"
  # shellcheck disable=SC1090 # written by this script
  source "$STATE_FILE"
  PORT=$CLUSTER_PORT NODES=$CLUSTER_NODES REDIS_PORT=$CLUSTER_REDIS_PORT SIMULATE=$CLUSTER_SIMULATE
  REDIS_URL=$CLUSTER_REDIS_URL DATABASE_URL=$CLUSTER_DATABASE_URL SERVER_BIN=$CLUSTER_SERVER_BIN
  LOG_DIR=$CLUSTER_LOG_DIR nginx_pid=$CLUSTER_NGINX_PID
  read -r -a NODE_ARGS <<<"$CLUSTER_NODE_ARGS"
  read -r -a node_ports <<<"$CLUSTER_NODE_PORTS"
  read -r -a node_urls <<<"$CLUSTER_NODE_URLS"
  read -r -a node_pids <<<"$CLUSTER_NODE_PIDS"
  if ! [[ "$START_NODE" =~ ^[0-9]+$ ]] || [ "$START_NODE" -lt 1 ] || [ "$START_NODE" -gt "$NODES" ]; then
    die "--start-node takes 1..$NODES, not $START_NODE"
  fi
  i=$((START_NODE - 1))
  if kill -0 "${node_pids[i]}" 2>/dev/null; then
    die "node-$START_NODE is running (pid ${node_pids[i]})"
  fi
  start_node "$START_NODE"
  wait_healthy "node-$START_NODE" "${node_urls[i]}" "$node_pid" "$LOG_DIR/node-$START_NODE.log"
  node_pids[i]=$node_pid
  write_state
  log "node-$START_NODE is back on ${node_urls[i]} (pid $node_pid)"
  echo "$node_pid"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# start

for tool in curl nginx redis-server psql; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed: run scripts/setup.sh first"
done
if [ -f "$STATE_FILE" ]; then
  # shellcheck disable=SC1090 # written by this script
  (source "$STATE_FILE" && for p in $CLUSTER_NODE_PIDS $CLUSTER_NGINX_PID; do kill -0 "$p" 2>/dev/null && exit 1; done; exit 0) ||
    die "a cluster from $STATE is still running: bash scripts/cluster.sh --stop${STATE:+ --state-dir $STATE}"
  rm -f "$STATE_FILE"
fi
for p in "$PORT" $(seq $((PORT + 1)) $((PORT + NODES))); do
  port_in_use "$p" && die "port $p is taken: stop what runs there or pick another --port"
done

LOG_DIR=${LOG_DIR:-$STATE/logs}
mkdir -p "$LOG_DIR"
LOG_DIR=$(cd "$LOG_DIR" && pwd)

# Everything started from here is stopped again if the start fails half way, or (foreground)
# on Ctrl-C / SIGTERM: no orphaned node, nginx or Redis.
node_pids=()
node_ports=()
node_urls=()
nginx_pid=""
REDIS_URL=""
DATABASE_URL=""
started_ok=0
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$MODE" = foreground ] || [ "$started_ok" -eq 0 ]; then
    if [ -n "$REDIS_URL" ]; then
      write_state 2>/dev/null || true
      stop_cluster
    fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the server binary --------------------------------------------------------------------------
if [ -z "$SERVER_BIN" ]; then
  log "building deskbell-server (release)"
  cargo build --release -p deskbell-server >&2
  SERVER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/deskbell-server"
fi
[ -x "$SERVER_BIN" ] || die "$SERVER_BIN is not an executable"
SERVER_BIN=$(cd "$(dirname "$SERVER_BIN")" && pwd)/$(basename "$SERVER_BIN")

# --- PostgreSQL: the shared database, one of its own for the cluster ----------------------------
PG_URL=$(bash scripts/postgres.sh)
DATABASE_URL="${PG_URL%/*}/$DB"
if [ "$FRESH_DB" -eq 1 ]; then
  log "dropping database $DB"
  psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >&2
fi
if [ "$(psql -X -q -At "$PG_URL" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  log "creating database $DB"
  psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE \"$DB\"" >&2
fi

# --- Redis: its own, in the state dir -----------------------------------------------------------
REDIS_URL=$(DESKBELL_REDIS_PORT=$REDIS_PORT DESKBELL_REDIS_DIR=$STATE/redis bash scripts/redis.sh)

# --- the nodes ----------------------------------------------------------------------------------
for k in $(seq 1 "$NODES"); do
  node_ports+=($((PORT + k)))
  node_urls+=("http://127.0.0.1:$((PORT + k))")
done
# node-1 alone first: the first node on a fresh database applies the migrations, creates the
# signing key and seeds the demo; the others then find all of it there instead of racing for it.
start_node 1
node_pids+=("$node_pid")
write_state
wait_healthy node-1 "${node_urls[0]}" "$node_pid" "$LOG_DIR/node-1.log"
log "node-1 ready on ${node_urls[0]} (pid $node_pid)"
for k in $(seq 2 "$NODES"); do
  start_node "$k"
  node_pids+=("$node_pid")
done
write_state
for k in $(seq 2 "$NODES"); do
  wait_healthy "node-$k" "${node_urls[k - 1]}" "${node_pids[k - 1]}" "$LOG_DIR/node-$k.log"
  log "node-$k ready on ${node_urls[k - 1]} (pid ${node_pids[k - 1]})"
done

# --- nginx, the load balancer -------------------------------------------------------------------
NGX=$STATE/nginx
mkdir -p "$NGX/tmp" "$NGX/logs"
{
  echo "# The nodes behind the balancer (written by scripts/cluster.sh). To add one: start it with"
  echo "# the same --database-url and --redis-url, add its line here, then"
  echo "#   nginx -p $NGX -c $NGX/nginx.conf -s reload"
  for port in "${node_ports[@]}"; do
    # Passive health: one failed connect or timeout takes a node out for 5 s, after which one
    # request tries it again. A killed node is thus skipped within one request.
    echo "server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"
  done
} >"$NGX/upstream.conf"
# When started as root, nginx's workers would switch to `nobody`, who cannot write the temp
# files in a state dir under a private home: they keep the starting user (loopback only).
worker_user=""
[ "$(id -u)" -ne 0 ] || worker_user="user $(id -un);"
cat >"$NGX/nginx.conf" <<NGINX
# Deskbell's load balancer (written by scripts/cluster.sh; edit upstream.conf to add nodes).
$worker_user
worker_processes 1;
daemon off;           # a child of scripts/cluster.sh, which stops it with the nodes
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log info;

events {
    worker_connections 4096;  # two per open socket (client side and node side)
}

http {
    access_log $NGX/logs/access.log;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    # Attachments are up to 10 MiB (--max-attachment-bytes) plus the multipart framing.
    client_max_body_size 11m;

    # A websocket upgrade is passed on as one; any other request keeps the upstream keepalive.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }

    # No sticky sessions. The Deskbell client (app, CLI) speaks Socket.IO over websocket only:
    # one TCP connection, so one node, for the whole life of a socket, and any node can take the
    # next one (the event log in PostgreSQL replays from lastSeq; Redis fans out live events).
    # Socket.IO long-polling would need stickiness (its session lives on the node that made it:
    # another node answers "Session ID unknown"), i.e. \`hash \$remote_addr consistent;\` here,
    # which pins every client behind one NAT to one node. Polling clients (the npm
    # socket.io-client's default) must therefore use transports: ['websocket'] with this
    # balancer. least_conn rather than round robin: sockets are long-lived, so a node that
    # comes back after a restart gets the next connections instead of an equal share of requests.
    upstream deskbell {
        least_conn;
        include $NGX/upstream.conf;
        keepalive 32;
    }

    server {
        listen 127.0.0.1:$PORT;

        location / {
            proxy_pass http://deskbell;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            # nginx is the only hop in front of the nodes: it sets the client address itself
            # (not \$proxy_add_x_forwarded_for, which would keep whatever a client sent and let it
            # pick the address its sign-ins are throttled under). The nodes trust 127.0.0.1.
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
            # A live socket is never silent longer than the Engine.IO ping interval (25 s by
            # default, --ping-interval-secs): 60 s without a byte means the node is gone.
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_connect_timeout 2s;
            # A node that refuses or times out is skipped for the next one. A POST that reached
            # a node is never sent to a second one (nginx retries non-idempotent requests only
            # when they were not sent): a write is done at most once.
            proxy_next_upstream error timeout;
            proxy_next_upstream_timeout 10s;
            # Socket.IO frames and event bursts go through as they come.
            proxy_buffering off;
        }
    }
}
NGINX
nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" 2>&1 | grep -v '^$' >&2 || true
nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" >/dev/null 2>&1 || die "nginx refuses $NGX/nginx.conf (see above)"
nginx -p "$NGX" -c "$NGX/nginx.conf" </dev/null >>"$LOG_DIR/nginx.log" 2>&1 &
nginx_pid=$!
write_state
wait_healthy nginx "http://127.0.0.1:$PORT" "$nginx_pid" "$NGX/logs/error.log"
started_ok=1

cat >&2 <<EOF

Deskbell cluster: $NODES node(s) behind nginx, PostgreSQL database $DB, Redis $REDIS_URL
  sign in to      http://127.0.0.1:$PORT
  as              agent1@acme.test (also agent2@acme.test, admin@acme.test, admin@globex.test)
  password        deskbell-demo
  nodes           ${node_urls[*]}
  logs            $LOG_DIR (nginx: $NGX/logs, Redis: $STATE/redis/redis.log)
  state           $STATE_FILE
EOF

if [ "$MODE" = background ]; then
  log "running in the background; stop with: bash scripts/cluster.sh --stop --state-dir $STATE"
  echo "http://127.0.0.1:$PORT"
  exit 0
fi
log "Ctrl-C stops it all"
echo "http://127.0.0.1:$PORT"
# Until Ctrl-C / SIGTERM (the traps stop everything), or until every node and nginx are gone.
wait
log "every node and nginx have exited"
