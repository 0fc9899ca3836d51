#!/bin/sh
# Runs redis-server as the redis user with auth from REDIS_PASSWORD_FILE (required unless
# REDIS_ALLOW_NO_AUTH=1): the password goes into /etc/redis/generated/auth.conf (mode 0400,
# owned by redis), never onto the command line. Extra arguments are passed to redis-server.
set -eu
conf=/etc/redis/generated/auth.conf
: >"$conf"
if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
  [ -r "$REDIS_PASSWORD_FILE" ] || { echo "scaleplane-redis: cannot read REDIS_PASSWORD_FILE=$REDIS_PASSWORD_FILE" >&2; exit 1; }
  pw="$(tr -d '\r\n' <"$REDIS_PASSWORD_FILE")"
  [ -n "$pw" ] || { echo "scaleplane-redis: $REDIS_PASSWORD_FILE is empty" >&2; exit 1; }
  printf 'requirepass "%s"\n' "$pw" >"$conf"
  # redis-cli in the healthcheck reads REDISCLI_AUTH from this file
  printf '%s' "$pw" >/etc/redis/generated/cli-auth
  chmod 0400 /etc/redis/generated/cli-auth
elif [ "${REDIS_ALLOW_NO_AUTH:-0}" != "1" ]; then
  echo "scaleplane-redis: set REDIS_PASSWORD_FILE (auth is required; REDIS_ALLOW_NO_AUTH=1 to run without)" >&2
  exit 1
fi
chown redis:redis "$conf"
chmod 0400 "$conf"
exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$conf" --dir /var/lib/redis "$@"
