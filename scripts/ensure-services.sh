#!/usr/bin/env bash
# The suite needs PostgreSQL and Redis on 127.0.0.1. Start them when they are installed but down.
set -uo pipefail
PGHOST=${PGHOST:-127.0.0.1}; PGPORT=${PGPORT:-5432}
REDIS_PORT=${TEST_REDIS_PORT:-6379}

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1 || true
  for _ in $(seq 20); do pg_up && break; sleep 0.5; done
fi
if ! pg_up; then
  echo "PostgreSQL is not reachable on $PGHOST:$PGPORT; start it (e.g. pg_ctlcluster 15 main start) or set PGHOST/PGPORT" >&2
  exit 1
fi

if ! redis_up && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
  for _ in $(seq 20); do redis_up && break; sleep 0.25; done
fi
if ! redis_up; then
  echo "Redis is not reachable on 127.0.0.1:$REDIS_PORT; start it (redis-server --daemonize yes) or set TEST_REDIS_PORT" >&2
  exit 1
fi
echo "PostgreSQL and Redis are up"
