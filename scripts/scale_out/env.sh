# Sourced by the scale_out scripts (and by you, before `dagster job execute`): where state lives
# and which broker, all on loopback.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DEITA_HOME="$(mkdir -p "${DEITA_HOME:-$REPO/.deita}" && cd "${DEITA_HOME:-$REPO/.deita}" && pwd)"
SCALE_DIR="${DEITA_SCALE_DIR:-$DEITA_HOME/scale_out}"
REDIS_PORT="${DEITA_REDIS_PORT:-6379}"
export DEITA_CELERY_BROKER="${DEITA_CELERY_BROKER:-redis://127.0.0.1:$REDIS_PORT/0}"
# The Dagster instance the run coordinator and the workers share (created by start_workers.sh).
export DAGSTER_HOME="${DAGSTER_HOME:-$DEITA_HOME/dagster}"
export DAGSTER_STORAGE_DIR="${DAGSTER_STORAGE_DIR:-$DAGSTER_HOME/storage}"
# The project's venv first, and this checkout's package (workers reconstruct jobs from it).
export PATH="$REPO/.venv/bin:$PATH"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$SCALE_DIR"
