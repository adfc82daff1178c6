#!/usr/bin/env bash
# A real streaming replica of the local PostgreSQL 15 (Debian packaging) on port 5433, for the replica tests and
# bench/replicas.py:   .ci/replica.sh [start]   |   .ci/replica.sh teardown
# Idempotent: if something already answers on the port, it is reused. No replication slot: a replica left behind
# cannot make the primary keep WAL forever.
set -euo pipefail

BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
HBA=${PG_HBA:-/etc/postgresql/15/main/pg_hba.conf}
PORT=${REPLICA_PORT:-5433}
DIR=${REPLICA_DIR:-/tmp/gatehouse-replica-$PORT}
PRIMARY_HOST=127.0.0.1
PRIMARY_PORT=${PRIMARY_PORT:-5432}

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

ready() {
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"
}

start() {
  if ready; then
    echo "replica: reusing the server on port $PORT"
    return 0
  fi
  if ! grep -Eq '^\s*host\s+replication\s+all\s+127\.0\.0\.1/32\s+trust' "$HBA"; then
    echo "host replication all 127.0.0.1/32 trust" >>"$HBA"
    psql -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -qAtc "SELECT pg_reload_conf()" >/dev/null
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  chown postgres:postgres "$DIR"
  chmod 700 "$DIR"
  as_postgres "$BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$DIR/data" -R -X stream -c fast
  # Debian keeps the configuration outside the data directory: the replica gets its own, minimal.
  as_postgres tee "$DIR/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '/tmp'
max_connections = 100
hot_standby = on
shared_buffers = 64MB
EOF
  as_postgres tee "$DIR/data/pg_hba.conf" >/dev/null <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
  as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 -o "-p $PORT -k /tmp" start >/dev/null
  for _ in $(seq 1 100); do
    if ready && [ "$(psql -h 127.0.0.1 -p "$PORT" -U postgres -qAtc 'SELECT pg_is_in_recovery()')" = t ]; then
      echo "replica: streaming from $PRIMARY_HOST:$PRIMARY_PORT on port $PORT ($DIR)"
      return 0
    fi
    sleep 0.1
  done
  echo "replica: not ready, see $DIR/log" >&2
  exit 1
}

teardown() {
  if [ -d "$DIR/data" ]; then
    as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
  echo "replica: stopped"
}

case "${1:-start}" in
  start) start ;;
  teardown) teardown ;;
  *) echo "usage: $0 [start|teardown]" >&2; exit 2 ;;
esac
