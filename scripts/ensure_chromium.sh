#!/usr/bin/env bash
# Make sure the distribution's headless Chromium is present for the browser tests.
# Playwright drives it through executable_path; we never download a browser of our own.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure_chromium: Chromium is missing and this user cannot install packages;" \
         "the browser tests will be skipped (install the 'chromium' package to run them)." >&2
    exit 0
  fi
fi
echo "ensure_chromium: installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
