#!/usr/bin/env bash
# Start N dagster-celery workers (default 2) for $DEITA_CELERY_BROKER, each one process running one
# step at a time on one CPU thread, so N workers use N cores and comparisons across N are fair.
set -euo pipefail
. "$(dirname "$0")/env.sh"
N="${1:-2}"
# Create the Dagster instance (sqlite storage, migrations) once, before N processes race to do it.
python -c 'import dagster as dg; from deita_assets.app.instance import prepare_dagster_home as p
p(); dg.DagsterInstance.get().get_runs(limit=1); print("dagster instance", dg.DagsterInstance.get().root_directory)'
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
for i in $(seq "$N"); do
  log="$SCALE_DIR/worker$i.log"
  : > "$log"
  nohup celery -A dagster_celery.app -b "$DEITA_CELERY_BROKER" --result-backend "$DEITA_CELERY_BROKER" \
    worker -Q dagster --pool=solo --concurrency=1 --prefetch-multiplier=1 -n "deita$i@%h" \
    --without-gossip --without-mingle -l INFO >"$log" 2>&1 &
  echo $! > "$SCALE_DIR/worker$i.pid"
done
for i in $(seq "$N"); do
  for _ in $(seq 600); do
    grep -q " ready\." "$SCALE_DIR/worker$i.log" && break
    kill -0 "$(cat "$SCALE_DIR/worker$i.pid")" 2>/dev/null || { cat "$SCALE_DIR/worker$i.log" >&2; exit 1; }
    sleep 0.2
  done
  grep -q " ready\." "$SCALE_DIR/worker$i.log" || { echo "worker $i not ready" >&2; exit 1; }
  echo "worker $i ready (pid $(cat "$SCALE_DIR/worker$i.pid"), log $SCALE_DIR/worker$i.log)"
done
