#!/usr/bin/env bash
# Serve the demo dashboard (notebooks/dashboard.ipynb) with Voila on 127.0.0.1.
# Installs the package into .venv first. Set PORT to change the port (default 8866).
# Voila keeps one kernel that has already run the notebook (pre-heated), so a page opens in
# the time the browser takes to draw it; the first page after start waits for that kernel.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_venv.sh

port=${PORT:-8866}
echo "Serving the demo dashboard at http://127.0.0.1:${port}/ (Ctrl-C stops it)"
exec .venv/bin/voila notebooks/dashboard.ipynb --no-browser --port="${port}" \
  --Voila.ip=127.0.0.1 \
  --MappingKernelManager.cull_idle_timeout=900 --MappingKernelManager.cull_interval=60 \
  --preheat_kernel=True --pool_size=1 --VoilaKernelManager.fill_delay=5
