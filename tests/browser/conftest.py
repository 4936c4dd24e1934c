"""Browser-test fixtures: Chromium, one Voila and one JupyterLab server per session.

Follows the verified recipe (shared/recipes/browser-testing.md):

* Chromium is Debian's (``/usr/bin/chromium``) or ``$MLDEBUG_CHROMIUM``; without one the
  browser tests are skipped. ``playwright install`` is never needed.
* Voila serves ``notebooks/``; readiness is probed on a static file, never on ``/`` (which
  would start a kernel and run the notebook).
* Pages are "offline": every request that does not go to 127.0.0.1 is aborted (the Voila
  ``lab`` template links Font Awesome from a CDN).
* Page errors and console errors fail the tests, except the known-harmless ones.

Server logs and screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts"
BIN = Path(sys.executable).parent

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_PREFIXES = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
SERVER_START_TIMEOUT = 60  # seconds; both servers are up in about 2 s here

# Console messages that are known to be harmless (see the recipe, "Pitfalls" 4 and 5).
HARMLESS_CONSOLE = (
    "fontawesome",  # Voila's lab template links Font Awesome from a CDN (aborted offline)
    "Unsatisfied version",  # Voila bundles JupyterLab 4.2.5; the labextensions want ^4.6
)


# Every edit is a kernel round-trip, and the machine may be shared: be patient in expect().
expect.set_options(timeout=20_000)

# A cell that raised: Voila (with show_tracebacks) and JupyterLab render it as stderr output.
CELL_ERROR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
CELL_ERROR_TEXT = re.compile(r"Traceback|There was an error when executing cell")


# -- Chromium -------------------------------------------------------------------------------
def find_chromium() -> str | None:
    """Return the Chromium to drive: ``$MLDEBUG_CHROMIUM``, Debian's, or one on the PATH."""
    explicit = os.environ.get("MLDEBUG_CHROMIUM")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise pytest.UsageError(f"MLDEBUG_CHROMIUM={explicit!r} is not an executable file.")
        return explicit
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("No Chromium found for the browser tests. Install Debian's "
                    "(sudo apt-get install chromium) or set MLDEBUG_CHROMIUM to a "
                    "Chrome/Chromium binary; `playwright install` is not needed.")
    return path


@pytest.fixture(scope="session")
def jupyter_dirs(tmp_path_factory) -> dict[str, str]:
    """Environment that keeps Jupyter's and Chromium's files out of the home directory."""
    base = tmp_path_factory.mktemp("jupyter-home")
    dirs = {
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",  # labextensions/kernels stay found in sys.prefix
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "IPYTHONDIR": base / "ipython",
        "XDG_CONFIG_HOME": base / "xdg-config",
        "XDG_CACHE_HOME": base / "xdg-cache",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {key: str(path) for key, path in dirs.items()}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_executable, jupyter_dirs):
    """pytest-playwright's launch arguments plus our Chromium and its flags."""
    env = {**os.environ, "XDG_CONFIG_HOME": jupyter_dirs["XDG_CONFIG_HOME"],
           "XDG_CACHE_HOME": jupyter_dirs["XDG_CACHE_HOME"]}
    return {**browser_type_launch_args, "executable_path": chromium_executable,
            "args": CHROMIUM_ARGS, "env": env}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A viewport large enough for the whole editor in the screenshots."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1100}}


# -- pages ----------------------------------------------------------------------------------
class PageErrors:
    """Uncaught page errors and console errors of one page, minus the harmless ones."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.ignored: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._on_console)

    def _on_console(self, msg) -> None:
        if msg.type != "error":
            return
        text = msg.text
        url = (msg.location or {}).get("url", "")
        external = bool(url) and not url.startswith(LOCAL_PREFIXES)
        if any(s.lower() in text.lower() for s in HARMLESS_CONSOLE) or (
                external and text.startswith("Failed to load resource")):
            self.ignored.append(text)
        else:
            self.errors.append(f"console.error: {text} (at {url})")

    def check(self) -> None:
        """Fail if there was any error; the list is cleared so later checks see new ones."""
        errors, self.errors = self.errors, []
        assert not errors, "errors in the page:\n" + "\n".join(errors)


def go_offline(page) -> None:
    """Abort every request that does not go to the local servers."""
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith(LOCAL_PREFIXES) else route.abort())


def wait_rendered(page, locator, timeout: float) -> None:
    """Wait until ``locator`` is attached; fail at once, with the traceback, if a cell raised."""
    error = page.locator(CELL_ERROR).filter(has_text=CELL_ERROR_TEXT)
    expect(locator.or_(error).first).to_be_attached(timeout=timeout)
    if error.count():
        pytest.fail("a notebook cell raised:\n" + "\n".join(error.all_inner_texts()),
                    pytrace=False)


@pytest.fixture(scope="session")
def rendered():
    """``rendered(page, locator, timeout_ms)``: wait for a widget, failing fast on errors."""
    return wait_rendered


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """``test-artifacts/``: where the tests save their screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def new_offline_page(browser, browser_context_args):
    """Factory for a page that outlives one test: ``page, errors = new_offline_page()``.

    Each call opens a new browser context; close it with ``page.context.close()`` (contexts
    still open are closed at the end of the session).
    """
    contexts = []

    def new() -> tuple:
        context = browser.new_context(**browser_context_args)
        contexts.append(context)
        page = context.new_page()
        go_offline(page)
        return page, PageErrors(page)

    yield new
    for context in contexts:
        try:
            context.close()
        except Exception:  # already closed by its user
            pass


@pytest.fixture
def offline(page):
    """pytest-playwright's page, with requests to anything but 127.0.0.1 aborted."""
    go_offline(page)
    return page


@pytest.fixture
def page_errors(offline) -> PageErrors:
    """Errors of the ``offline`` page; call ``.check()`` at the end of the test."""
    return PageErrors(offline)


# -- servers --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A Jupyter server process with its log file; stopped with SIGTERM (kernels too)."""

    def __init__(self, name: str, cmd: list[str], *, cwd: Path, env: dict[str, str],
                 probe: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.name, self.log = name, ARTIFACTS / f"{name}.log"
        self._log_file = open(self.log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_until_up(probe)

    def _wait_until_up(self, url: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"{self.name} exited with {self.proc.returncode} while starting; "
                            f"log:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.name} did not answer {url} within {SERVER_START_TIMEOUT} s; "
                    f"log:\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_file.close()


def _server_env(jupyter_dirs: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **jupyter_dirs, "JUPYTER_PLATFORM_DIRS": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the kernel is the venv's python
    # two shared cores: OpenMP fan-out in the kernels only adds contention (same results)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture(scope="session")
def voila_url(chromium_executable, jupyter_dirs) -> Iterator[str]:
    """Base URL of one Voila serving ``notebooks/``: open ``<url>voila/render/<nb>``."""
    port = free_port()
    cmd = [str(BIN / "voila"), str(NOTEBOOKS), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", "--VoilaConfiguration.show_tracebacks=True",
           "--MappingKernelManager.cull_idle_timeout=60",
           "--MappingKernelManager.cull_interval=10"]
    server = Server("voila", cmd, cwd=ROOT, env=_server_env(jupyter_dirs),
                    probe=f"http://127.0.0.1:{port}/voila/static/voila.js")
    yield f"http://127.0.0.1:{port}/"
    server.stop()


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """The root directory of the JupyterLab server: put notebooks to open here."""
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="session")
def lab_url(chromium_executable, jupyter_dirs, lab_root, tmp_path_factory) -> Iterator[str]:
    """Base URL of one JupyterLab (no token, read-only extension manager, no news)."""
    state = tmp_path_factory.mktemp("lab-state")
    settings = state / "settings"
    # no "get notified about Jupyter news?" toast over the notebook
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port()
    cmd = [str(BIN / "jupyter-lab"), "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", f"--ServerApp.root_dir={lab_root}",
           "--LabApp.extension_manager=readonly",
           f"--LabApp.workspaces_dir={state / 'workspaces'}",
           f"--LabApp.user_settings_dir={settings}",
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # jupyter-server refuses to run as root without it
    server = Server("jupyterlab", cmd, cwd=lab_root, env=_server_env(jupyter_dirs),
                    probe=f"http://127.0.0.1:{port}/api/status")
    yield f"http://127.0.0.1:{port}/"
    server.stop()


@pytest.fixture(scope="session")
def credit_future():
    """The dashboard's data and model, built in a thread while Voila runs the notebook."""
    import mldebug_widgets as mdw

    def build():
        data = mdw.datasets.load_credit()
        return data, mdw.datasets.demo_model(data)

    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(build)


@pytest.fixture(scope="session")
def credit_scores(credit_future):
    """Data, model, and per row: P(DEFAULT = 1) and the log-loss residual."""
    data, model = credit_future.result()
    p = model.predict_proba(data.X)[:, 1]
    truth = data.y.to_numpy() == 1
    eps = np.finfo(np.float64).eps
    clipped = np.clip(p, eps, 1 - eps)
    logloss = -np.log(np.where(truth, clipped, 1 - clipped))  # as scikit-learn's log_loss
    return data, model, p, logloss
