#!/usr/bin/env bash
# Start the celery broker: Debian's redis-server on 127.0.0.1 only, no persistence (tasks are
# re-runnable; the data lives in the store). Port: $DEITA_REDIS_PORT (default 6379).
set -euo pipefail
. "$(dirname "$0")/env.sh"
command -v redis-server >/dev/null || { echo "redis-server not installed (apt-get install redis-server)" >&2; exit 1; }
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes --save "" --appendonly no \
  --daemonize yes --dir "$SCALE_DIR" --pidfile "$SCALE_DIR/redis.pid" --logfile "$SCALE_DIR/redis.log"
for _ in $(seq 100); do
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && {
    echo "export DEITA_CELERY_BROKER=$DEITA_CELERY_BROKER"
    exit 0
  }
  sleep 0.1
done
echo "redis did not answer on 127.0.0.1:$REDIS_PORT (see $SCALE_DIR/redis.log)" >&2
exit 1
