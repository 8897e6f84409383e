#!/usr/bin/env bash
# Debian's chromium + chromium-driver for the end-to-end browser test (driven by Selenium from PyPI).
# Installs only when missing; without root or apt it says what to install and the test skips itself.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium chromium-driver >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null
  }
  echo "installed $(chromium --version)"
else
  echo "browser test needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
fi
