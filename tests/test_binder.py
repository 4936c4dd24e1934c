"""``binder/`` installs into a fresh venv, every notebook runs there, and the Voila URL works.

What Binder (repo2docker) does, without Docker: a new venv, ``pip install -r
binder/requirements.txt`` from the repository root (``.`` in it installs this package), then
``binder/postBuild``. In that venv:

* every course notebook is executed headless with nbclient by the venv's own Python, so the
  kernel is the venv's and ``mldebug_widgets`` is the copy installed there, not the checkout;
* a JupyterLab server of the venv, under Binder's base URL, renders
  ``voila/render/notebooks/dashboard.ipynb`` through Voila's server extension: the URL the
  README's Voila badge opens.

It downloads the whole stack when pip's cache is cold (minutes), so it is marked ``notebook``
with the other notebook runs: deselect with ``-m "not notebook"``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
APP = "dashboard.ipynb"  # rendered through Voila below, as the Binder badge does
BASE_URL = "/user/binder/"  # Binder serves each user under a prefix like this one
RUNNER = """\
import json, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

report = {}
for path in map(Path, sys.argv[1:]):
    start = time.monotonic()
    # a kernel that dies before its first reply never ran a cell: two runners start kernels
    # side by side and may race for the same ports; such a start is tried once more
    for attempt in range(2):
        nb = nbformat.read(path, as_version=4)
        try:
            NotebookClient(nb, timeout=900, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            failure = None
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"[-3000:]
        if failure is None or "Kernel died before replying to kernel_info" not in failure:
            break
    outputs = [f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
               for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
               for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    report[path.name] = {"seconds": round(time.monotonic() - start, 1), "failure": failure,
                         "errors": outputs}
probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    "import sys, mldebug_widgets\\nprint(sys.prefix)\\nprint(mldebug_widgets.__file__)")])
NotebookClient(probe, timeout=120, kernel_name="python3",  # where the notebooks run
               resources={"metadata": {"path": str(path.parent)}}).execute()
report["kernel"] = probe.cells[0].outputs[0]["text"].split()
print(json.dumps(report))
"""


def _run(cmd: list, env: dict, what: str, timeout: float = 1_800) -> str:
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    print(f"{what}: {time.monotonic() - start:.1f} s")
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-5000:]}", pytrace=False)
    return result.stdout


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    """A fresh venv with binder/requirements.txt installed and binder/postBuild run."""
    base = tmp_path_factory.mktemp("binder")
    venv = base / "venv"
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "JUPYTER_PATH")}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(base / name.lower())
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1",
               JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    _run([sys.executable, "-m", "venv", str(venv)], env, "venv")
    # --no-compile: byte-compiling the whole stack costs more than the imports it saves
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
          "--disable-pip-version-check", "-r", "binder/requirements.txt"], env, "pip install")
    _run(["bash", "binder/postBuild"], env, "postBuild")  # fails unless Voila's extension is on
    return venv, env


def test_the_widget_extensions_are_installed(binder_env):
    venv, _env = binder_env
    labextensions = venv / "share" / "jupyter" / "labextensions"
    for extension in ("bqplot", "@jupyter-widgets/jupyterlab-manager", "@voila-dashboards"):
        assert (labextensions / extension).is_dir(), f"{extension} is not installed"


def test_every_notebook_runs_in_the_binder_env(binder_env):
    venv, env = binder_env
    notebooks = [str(p) for p in NOTEBOOKS if p.name != APP]
    assert len(notebooks) >= 5  # 00_start_here and the four widget notebooks at least
    # two runners side by side: the kernels are single-threaded, the machine has two cores
    start = time.monotonic()
    runners = [subprocess.Popen([str(venv / "bin" / "python"), "-c", RUNNER, *part], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)
               for part in (notebooks[0::2], notebooks[1::2]) if part]
    report = {}
    for runner in runners:
        out, err = runner.communicate(timeout=3_600)
        assert runner.returncode == 0, f"the runner failed:\n{out[-3000:]}\n{err[-5000:]}"
        part = json.loads(out.strip().splitlines()[-1])
        prefix, package = part.pop("kernel")
        assert Path(prefix).resolve() == venv.resolve()  # the kernel is the fresh venv's
        assert Path(package).resolve().is_relative_to(venv.resolve())  # so is the package
        report.update(part)
    print(f"notebooks: {time.monotonic() - start:.1f} s")
    for name, result in report.items():
        print(f"  {name}: {result['seconds']} s")
    failed = {name: r for name, r in report.items() if r["failure"] or r["errors"]}
    assert not failed, json.dumps(failed, indent=1)
    assert sorted(report) == sorted(Path(p).name for p in notebooks)


def test_voila_renders_the_dashboard_under_binder_url(binder_env, tmp_path):
    venv, env = binder_env
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [str(venv / "bin" / "jupyter-lab"), "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", f"--ServerApp.base_url={BASE_URL}",
           f"--ServerApp.root_dir={ROOT}", "--LabApp.extension_manager=readonly",
           "--VoilaConfiguration.show_tracebacks=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # jupyter-server refuses root without it
    log = tmp_path / "jupyterlab.log"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    server_url = f"http://127.0.0.1:{port}{BASE_URL}"
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            try:
                with opener.open(f"{server_url}api/status", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        start = time.monotonic()
        with opener.open(f"{server_url}voila/render/notebooks/{APP}", timeout=900) as response:
            assert response.status == 200
            page = response.read().decode()
        print(f"voila/render/notebooks/{APP}: {time.monotonic() - start:.1f} s")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "application/vnd.jupyter.widget-view+json" in page
    assert "Traceback" not in page and "There was an error" not in page, page[-3000:]
    assert f"{BASE_URL}voila/" in page  # the page's assets are under Binder's prefix
