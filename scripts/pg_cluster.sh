#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests and `make cluster`: initdb in a
# temporary directory owned by the `postgres` OS user, on a free loopback
# port, trust authentication on loopback only.
#
#   scripts/pg_cluster.sh start STATE_DIR   # prints the base URL; writes STATE_DIR/url and STATE_DIR/datadir
#   scripts/pg_cluster.sh stop STATE_DIR
#
# STATE_DIR is ours (any user may own it); the data directory lives under
# /tmp so the postgres user can reach it whatever STATE_DIR's permissions.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg_cluster.sh start|stop STATE_DIR}
state=${2:?usage: pg_cluster.sh start|stop STATE_DIR}
mkdir -p "$state"

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres "$@"
  fi
}

stop() {
  [ -f "$state/datadir" ] || return 0
  local data
  data=$(cat "$state/datadir")
  if [ -d "$data" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$(dirname "$data")"
  fi
  rm -f "$state/datadir" "$state/url" "$state/port"
}

case "$cmd" in
  start)
    stop
    if [ ! -x "$PGBIN/initdb" ]; then
      echo "pg_cluster: $PGBIN/initdb not found (apt-get install postgresql-15)" >&2
      exit 1
    fi
    base=$(mktemp -d /tmp/restd-pg-XXXXXX)
    chmod 755 "$base"
    data="$base/data"
    chown postgres: "$base" 2>/dev/null || true
    as_postgres "$PGBIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C.UTF-8 --auth=trust >"$base/initdb.log" 2>&1 ||
      { cat "$base/initdb.log" >&2; exit 1; }
    # A free port: ask the kernel, then hand it to PostgreSQL.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # fsync stays on: the durability tests need real commits. Enough
    # connections for several nodes with their pools plus the tests' own.
    as_postgres "$PGBIN/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$base -c max_connections=300" \
      start >/dev/null || { cat "$base/server.log" >&2; exit 1; }
    echo "$data" >"$state/datadir"
    echo "$port" >"$state/port"
    echo "postgresql://postgres@127.0.0.1:$port" >"$state/url"
    cat "$state/url"
    ;;
  stop) stop ;;
  *) echo "usage: pg_cluster.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
