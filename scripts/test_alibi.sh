#!/usr/bin/env bash
# The alibi extra's tests, in their own environment: alibi pins numpy<2 and pandas<3, while the
# main suite runs on the latest numpy and pandas. Makes .venv-alibi on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv-alibi/bin/python ]; then
  "$python" -m venv .venv-alibi
fi
.venv-alibi/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
# click: alibi 0.9.6 imports spaCy, which needs it but does not always get it
.venv-alibi/bin/python -m pip install -q --disable-pip-version-check -e ".[alibi]" \
  "numpy<2" "pandas<3" click pytest hypothesis
exec .venv-alibi/bin/python -m pytest -q -p no:cacheprovider -o addopts="" \
  tests/test_alibi.py tests/test_sensitivity.py -k "alibi"
