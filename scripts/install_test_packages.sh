#!/usr/bin/env bash
# Debian packages the tests need (scripts/apt-packages.txt): installed when missing and when running
# as root (CI); otherwise listed, and the tests that need them skip naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
while read -r pkg; do
  [ -n "$pkg" ] && ! dpkg -s "$pkg" >/dev/null 2>&1 && missing+=("$pkg")
done < <(grep -v '^#' scripts/apt-packages.txt)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  }
  echo "installed: ${missing[*]}"
else
  echo "not root: not installing ${missing[*]} (apt-get install ${missing[*]}); tests needing them skip" >&2
fi
