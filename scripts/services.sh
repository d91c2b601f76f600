#!/usr/bin/env bash
# Start the local servers the tests need, if they are not running: PostgreSQL, Redis,
# RabbitMQ. Idempotent; prints one line per service. Used by `make services` and .ci/run.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name seconds
  for _ in $(seq 1 "$3"); do listening "$1" && return 0; sleep 1; done
  echo "error: $2 did not start listening on port $1; see its log" >&2; return 1
}

if ! listening 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_port 5432 PostgreSQL 30
fi
echo "PostgreSQL on 127.0.0.1:5432"

if ! listening 6379; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis 30
fi
echo "Redis on 127.0.0.1:6379"

if ! listening 5672; then
  rabbitmq-server -detached
  wait_port 5672 RabbitMQ 90
fi
echo "RabbitMQ on 127.0.0.1:5672"
