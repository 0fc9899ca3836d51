#!/usr/bin/env bash
# Installs and starts the engines scaleplane's integration and chaos tests need, on Debian
# bookworm, as root: Docker (docker.io), etcd (etcd-server, etcd-client), PostgreSQL 15,
# debootstrap (for `npm run images`), openssl and redis-server (the cache tests and bench start
# their own redis-server processes; the package's own service is stopped below).
#
# Idempotent and fast when everything is present: packages are installed only when missing,
# the Debian etcd/postgresql services (which would hold 2379/2380/5432) are stopped and
# disabled, and dockerd is started in the background only when `docker info` fails.
# Works without systemd (CI containers): every service operation tolerates failure and falls
# back to pidfiles.
set -euo pipefail

log() { printf '[setup-engines] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts dockerd)"
[ -r /etc/debian_version ] || die "expects Debian bookworm (no /etc/debian_version)"

# --- 1. packages -------------------------------------------------------------------------
# package name -> a command (or file) whose presence proves it is installed
declare -A PROBE=(
  [docker.io]="dockerd"
  [etcd-server]="etcd"
  [etcd-client]="etcdctl"
  [postgresql]="/usr/lib/postgresql/15/bin/initdb"
  [debootstrap]="debootstrap"
  [openssl]="openssl"
  [redis-server]="/usr/bin/redis-server"
  [prometheus]="/usr/bin/prometheus"
)
installed() {
  local pkg="$1" probe="${PROBE[$1]}"
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || return 1
  if [[ "$probe" == /* ]]; then [ -x "$probe" ]; else command -v "$probe" >/dev/null 2>&1; fi
}
missing=()
for pkg in docker.io etcd-server etcd-client postgresql debootstrap openssl redis-server prometheus; do
  installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  # policy-rc.d 101 = "do not start services from maintainer scripts" (no systemd in CI anyway;
  # on a systemd host this keeps etcd/postgresql from grabbing 2379/5432 in the first place).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
  for pkg in "${missing[@]}"; do installed "$pkg" || die "package $pkg did not install"; done
else
  log "packages present: docker.io etcd-server etcd-client postgresql debootstrap openssl redis-server prometheus"
fi

# --- 2. stop the distribution's etcd and postgresql services ------------------------------
stop_service() {
  local svc="$1"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
  if command -v update-rc.d >/dev/null 2>&1; then update-rc.d "$svc" disable >/dev/null 2>&1 || true; fi
}
# kill a daemon by its pidfile only if the pid really is that program
kill_pidfile() {
  local pidfile="$1" comm="$2" pid
  [ -r "$pidfile" ] || return 0
  pid="$(head -n1 "$pidfile" | tr -dc '0-9')"
  [ -n "$pid" ] || return 0
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]; then
    log "stopping $comm (pid $pid from $pidfile)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}
stop_service etcd
kill_pidfile /run/etcd.pid etcd
kill_pidfile /var/run/etcd/etcd.pid etcd
stop_service postgresql
stop_service redis-server
kill_pidfile /run/redis/redis-server.pid redis-server
# Debian's prometheus service (9090): tests and the metrics bench start their own on free ports
stop_service prometheus
stop_service prometheus-node-exporter
if command -v pg_lsclusters >/dev/null 2>&1; then
  # the package's own clusters (e.g. 15/main on 5432): stop them and do not auto-start them
  while read -r ver name _port status _rest; do
    [ -n "$ver" ] || continue
    if [ "$status" = "online" ]; then pg_ctlcluster "$ver" "$name" stop -m fast >/dev/null 2>&1 || true; fi
    conf="/etc/postgresql/$ver/$name/start.conf"
    if [ -w "$conf" ]; then echo manual >"$conf"; fi
  done < <(pg_lsclusters --no-header 2>/dev/null || true)
fi
for pidfile in /var/run/postgresql/*.pid; do
  if [ -e "$pidfile" ]; then kill_pidfile "$pidfile" postgres; fi
done

# --- 3. dockerd --------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  log "dockerd is running"
else
  log "starting dockerd"
  mkdir -p /var/log
  setsid dockerd >/var/log/scaleplane-dockerd.log 2>&1 </dev/null &
  echo $! >/run/scaleplane-dockerd.pid
  for _ in $(seq 1 150); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$(cat /run/scaleplane-dockerd.pid)" 2>/dev/null || { tail -n 30 /var/log/scaleplane-dockerd.log >&2; die "dockerd exited"; }
    sleep 0.2
  done
  docker info >/dev/null 2>&1 || { tail -n 30 /var/log/scaleplane-dockerd.log >&2; die "dockerd did not answer within 30 s"; }
  log "dockerd answers (pid $(cat /run/scaleplane-dockerd.pid), log /var/log/scaleplane-dockerd.log)"
fi

log "ready: docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p'), postgres $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}')"
