# Sourced by the quickstart scripts: make .venv (with $PYTHON, default python3) if needed and
# install the package into it, with the extras given as the first argument (e.g. "[test]").
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${1:-}"
