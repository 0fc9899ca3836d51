#!/bin/bash
# Entrypoint of scaleplane/postgres:15 (a shard node).
#
# First start (no $PGDATA/PG_VERSION): initdb as the postgres user with the superuser
# $POSTGRES_USER and its password (from $POSTGRES_PASSWORD_FILE, else $POSTGRES_PASSWORD; one is
# required), creates $POSTGRES_DB, and writes pg_hba.conf: scram-sha-256 password auth for every
# TCP client, peer auth on the local socket (pg_isready, maintenance). Later starts reuse the data.
#
# Then runs postgres in the foreground on $PGPORT (all interfaces; the platform publishes the
# port on 127.0.0.1 only). SIGTERM (docker stop, Kubernetes) becomes PostgreSQL's fast shutdown
# (SIGINT: sessions are ended, a checkpoint is written, the server exits 0) instead of its smart
# shutdown, which would wait for every client to disconnect and be killed at the grace period.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${PGPORT:=5432}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA PGPORT

fail() {
  echo "scaleplane-postgres: $*" >&2
  exit 1
}

# Runs a command as the postgres user (exec'd in place: no extra process in between).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

[[ "$PGPORT" =~ ^[0-9]+$ ]] && [ "$PGPORT" -ge 1 ] && [ "$PGPORT" -le 65535 ] || fail "PGPORT must be a port number (1..65535); got '$PGPORT'"
[[ "$POSTGRES_USER" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || fail "POSTGRES_USER must be a PostgreSQL identifier (letters, digits, _); got '$POSTGRES_USER'"
[[ "$POSTGRES_DB" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || fail "POSTGRES_DB must be a PostgreSQL identifier (letters, digits, _); got '$POSTGRES_DB'"

if [ "$(id -u)" = 0 ]; then
  # the volume arrives owned by root: hand the data directory (not the mount root) to postgres
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp /tmp/pgpass.XXXXXX)
  trap 'rm -f "$pwfile"' EXIT
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    [ -r "$POSTGRES_PASSWORD_FILE" ] || fail "POSTGRES_PASSWORD_FILE=$POSTGRES_PASSWORD_FILE is not a readable file"
    head -n 1 "$POSTGRES_PASSWORD_FILE" | tr -d '\r\n' >"$pwfile"
  elif [ -n "${POSTGRES_PASSWORD:-}" ]; then
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  else
    fail "no password: set POSTGRES_PASSWORD_FILE (a file holding the password; preferred) or POSTGRES_PASSWORD"
  fi
  [ -s "$pwfile" ] || fail "the password is empty (POSTGRES_PASSWORD_FILE / POSTGRES_PASSWORD)"
  if [ "$(id -u)" = 0 ]; then chown postgres "$pwfile"; fi
  echo "scaleplane-postgres: initialising $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
  as_postgres "$PG_BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  if [ "$POSTGRES_DB" != postgres ]; then
    # single-user mode: no server, no socket, nothing reachable before the data is ready
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | as_postgres "$PG_BIN/postgres" --single -D "$PGDATA" -j postgres >/dev/null
  fi
  {
    echo "# written by scaleplane-postgres on first start"
    echo "local all all peer map=local"
    echo "host  all all 0.0.0.0/0 scram-sha-256"
    echo "host  all all ::/0      scram-sha-256"
  } >"$PGDATA/pg_hba.conf"
  # root (docker exec) and postgres may connect on the local socket as $POSTGRES_USER
  {
    echo "local root $POSTGRES_USER"
    echo "local postgres $POSTGRES_USER"
    echo "local postgres postgres"
  } >>"$PGDATA/pg_ident.conf"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDATA/pg_hba.conf" "$PGDATA/pg_ident.conf"; fi
  echo "scaleplane-postgres: initialised"
fi

# a simple command in the background (not a function: that would fork a subshell, and $pid would
# be the subshell, which ignores SIGINT) so $pid is postgres itself
server=("$PG_BIN/postgres" -D "$PGDATA" -p "$PGPORT" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@")
if [ "$(id -u)" = 0 ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups -- "${server[@]}" &
else
  "${server[@]}" &
fi
pid=$!
stop() { kill -INT "$pid" 2>/dev/null || true; }
trap stop TERM INT
# `wait` returns early when a trapped signal arrives: wait again until postgres has exited;
# bash keeps the exit status of a reaped child, so the final `wait` reports postgres' own
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || true
done
wait "$pid"
