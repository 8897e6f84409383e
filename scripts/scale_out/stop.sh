#!/usr/bin/env bash
# Stop the workers and the broker these scripts started (by their pid files, nothing else).
set -uo pipefail
. "$(dirname "$0")/env.sh"
stop_pid() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$1"
}
for pidfile in "$SCALE_DIR"/worker*.pid; do [ -e "$pidfile" ] && stop_pid "$pidfile"; done
stop_pid "$SCALE_DIR/redis.pid"
echo "stopped"
