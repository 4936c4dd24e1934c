#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: make .venv, install the package with its test
# extra, install Debian's Chromium for the browser tests when it is missing (as root), lint,
# then run pytest. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser"`.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_venv.sh "[test]"

if [ -z "${MLDEBUG_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "No Chromium found: the browser tests will be skipped. Install it" \
         "(sudo apt-get install chromium) or point MLDEBUG_CHROMIUM at a Chrome binary." >&2
  fi
fi

# keep Jupyter's and Chromium's files inside the checkout
state="$PWD/.jupyter-test"
mkdir -p "$state"
export JUPYTER_CONFIG_DIR="$state/config" JUPYTER_RUNTIME_DIR="$state/runtime"
export JUPYTER_DATA_DIR="$state/data" IPYTHONDIR="$state/ipython"
export XDG_CONFIG_HOME="$state/xdg-config" XDG_CACHE_HOME="$state/xdg-cache"
export JUPYTER_PLATFORM_DIRS=1 PYDEVD_DISABLE_FILE_VALIDATION=1

.venv/bin/python -m ruff check .
# the alibi extra's tests run in their own environment (numpy<2, pandas<3); skip with
# MLDEBUG_SKIP_ALIBI=1 (its first run downloads ~300 MB)
if [ "${MLDEBUG_SKIP_ALIBI:-0}" != 1 ]; then
  bash scripts/test_alibi.sh
fi
exec .venv/bin/python -m pytest "$@"
