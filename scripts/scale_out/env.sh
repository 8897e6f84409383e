# Sourced by the scale_out scripts: where state lives and which broker, all on loopback.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DEITA_HOME="$(mkdir -p "${DEITA_HOME:-$REPO/.deita}" && cd "${DEITA_HOME:-$REPO/.deita}" && pwd)"
SCALE_DIR="${DEITA_SCALE_DIR:-$DEITA_HOME/scale_out}"
REDIS_PORT="${DEITA_REDIS_PORT:-6379}"
export DEITA_CELERY_BROKER="${DEITA_CELERY_BROKER:-redis://127.0.0.1:$REDIS_PORT/0}"
# The project's venv first, and this checkout's package (workers reconstruct jobs from it).
export PATH="$REPO/.venv/bin:$PATH"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$SCALE_DIR"
