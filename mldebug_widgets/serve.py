"""Publish a model as a Voila dashboard on 127.0.0.1.

:func:`serve` saves the model (skops) and the data (parquet, or CSV without pyarrow) into a
private temporary directory, writes an app notebook that loads them and shows
``mdw.Dashboard(session)``, and runs Voila on 127.0.0.1 in a subprocess. :func:`write_app`
writes the same directory without starting anything (to publish it on another server), and
:func:`load_app` is what the app notebook calls.

The page makes no request beyond 127.0.0.1: the app uses Voila's ``lab`` template without its
two Font Awesome links to a CDN (Voila's own bundle already carries the icons). Kernels left
idle and disconnected are culled; Voila lets a page send widget messages only, not code.
"""

from __future__ import annotations

import atexit
import html
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Literal

from ._app import TEMPLATE, load_app, write_app

__all__ = ["VoilaServer", "load_app", "serve", "write_app"]

HOST = "127.0.0.1"

class VoilaServer:
    """A Voila dashboard running on 127.0.0.1 in a subprocess; made by :func:`serve`.

    Parameters
    ----------
    process : subprocess.Popen
        The Voila process.
    url : str
        Where the dashboard is, ``http://127.0.0.1:<port>/``.
    directory : Path
        The app directory (model, data, notebook and ``voila.log``).
    remove_directory : bool, default=True
        Delete ``directory`` in :meth:`stop`.

    Attributes
    ----------
    url : str
        The dashboard's address.
    process : subprocess.Popen
        The Voila process (its kernels are its children).
    directory : pathlib.Path
        The app directory.
    log : pathlib.Path
        Voila's output.

    Examples
    --------
    :func:`serve` makes one; here a stand-in process shows the handle's life cycle:

    >>> import subprocess, sys, tempfile
    >>> process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    >>> server = VoilaServer(process, "http://127.0.0.1:8866/", Path(tempfile.mkdtemp()))
    >>> server.running
    True
    >>> server.stop()
    >>> server.running, server.directory.exists()
    (False, False)
    """

    def __init__(self, process: subprocess.Popen, url: str, directory: Path, *,
                 remove_directory: bool = True):
        self.process, self.url, self.directory = process, url, Path(directory)
        self.log = self.directory / "voila.log"
        self._remove = remove_directory
        atexit.register(self.stop)

    @property
    def running(self) -> bool:
        """Whether the Voila process is alive."""
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Stop Voila (SIGTERM: it shuts its kernels down) and delete the app directory.

        Parameters
        ----------
        timeout : float, default=20.0
            Seconds to wait before killing the process.
        """
        atexit.unregister(self.stop)
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> VoilaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"VoilaServer({self.url!r}, {state}, pid={self.process.pid})"

    def _repr_html_(self) -> str:
        url = html.escape(self.url)
        return f'Dashboard: <a href="{url}" target="_blank">{url}</a> ({html.escape(repr(self))})'


PREHEAT_REFILL_DELAY = 5.0
"""Seconds Voila waits, after a page takes the pre-heated kernel, before starting the next."""
PREHEAT_OPTIONS = ("--preheat_kernel=True", "--pool_size=1",
                   f"--VoilaKernelManager.fill_delay={PREHEAT_REFILL_DELAY:g}")
"""Voila's options for a pool of one pre-heated kernel (as ``scripts/demo.sh`` serves)."""


def serve(session_or_model: Any, X: Any = None, y: Any = None, *, port: int = 8866,
          aggregates_only: bool = False, bins: dict | None = None,
          title: str = "Model debugging dashboard", theme: Literal["light", "dark"] = "light",
          cull_idle_timeout: int = 600, cull_interval: int = 60, show_tracebacks: bool = False,
          preheat: bool = True, timeout: float = 120.0, **bind_options: Any) -> VoilaServer:
    """Serve a model (or a session) as a Voila dashboard on 127.0.0.1 only.

    Writes the app (:func:`write_app`) into a private temporary directory and starts Voila on
    it in a subprocess, bound to 127.0.0.1, with no browser opened; returns once the server
    answers. Kernels idle for ``cull_idle_timeout`` seconds with no page connected are shut
    down. :meth:`VoilaServer.stop` (or the end of this Python process) stops it all.

    With ``preheat`` (the default) Voila keeps one kernel that has already run the app: a
    page opens in the time the browser takes to draw it, not the time to start a kernel,
    import, load the model and build the dashboard. The next kernel is started
    :data:`PREHEAT_REFILL_DELAY` seconds after one is taken, so it does not compete with the
    page being drawn. It costs one more kernel's memory (the data and model twice).

    Parameters
    ----------
    session_or_model : DebugSession or estimator
        What to publish, as for :func:`write_app`.
    X, y : DataFrame and array-like, default=None
        The data, only with a model.
    port : int, default=8866
        The port on 127.0.0.1; 0 picks a free one.
    aggregates_only : bool, default=False
        Show aggregates only (no raw rows), for sharing.
    bins : dict, default=None
        Bin edges per sensitive feature for the fairness groups, e.g. ``{"AGE": [0, 30, 200]}``.
    title : str, default="Model debugging dashboard"
        The page's heading.
    theme : {"light", "dark"}, default="light"
        Voila's theme.
    cull_idle_timeout, cull_interval : int, default=600 and 60
        Seconds of idleness after which a disconnected kernel is shut down, and how often to
        check.
    show_tracebacks : bool, default=False
        Show Python tracebacks in the page when a cell fails (for debugging the app).
    preheat : bool, default=True
        Keep one kernel that has already run the app (faster page opens, one kernel's
        memory more); pre-heated kernels waiting for a page are never culled.
    timeout : float, default=120.0
        Seconds to wait for Voila to answer (it starts in 2-10 s).
    **bind_options
        ``sensitive_features``, ``schema``, ``task``, ``response_method``, ``pos_label`` as
        for :func:`~mldebug_widgets.bind` (with a model only).

    Returns
    -------
    VoilaServer
        ``.url``, ``.process``, ``.stop()``.

    Raises
    ------
    ValueError
        For a bad port or theme.
    OSError
        If the port is taken, or Voila does not start (the message holds its log).

    Examples
    --------
    >>> from mldebug_widgets import datasets
    >>> data = datasets.load_credit(n_rows=300)
    >>> model = datasets.demo_model(data, kind="logistic")
    >>> with serve(model, data.X, data.y, port=0, sensitive_features=["SEX"]) as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer in 0..65535 (0 picks a free one), got {port!r}.")
    if theme not in ("light", "dark"):
        raise ValueError(f"theme must be 'light' or 'dark', got {theme!r}.")
    port = port or _free_port()
    _check_port_free(port)
    directory = Path(tempfile.mkdtemp(prefix="mldebug-serve-"))  # mode 0700: the user's only
    try:
        notebook = write_app(session_or_model, X, y, directory=directory, bins=bins,
                             aggregates_only=aggregates_only, title=title, **bind_options)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    cmd = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
           f"--Voila.ip={HOST}", "--Voila.port_retries=0", f"--template={TEMPLATE}",
           f"--theme={theme}", "--VoilaConfiguration.file_allowlist=[]",
           f"--VoilaConfiguration.show_tracebacks={bool(show_tracebacks)}",
           f"--MappingKernelManager.cull_idle_timeout={int(cull_idle_timeout)}",
           f"--MappingKernelManager.cull_interval={int(cull_interval)}",
           *(PREHEAT_OPTIONS if preheat else ())]
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(directory / "share" / "jupyter"), env.get("JUPYTER_PATH")) if p)
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent),
                                              env.get("PATH")) if p)
    with open(directory / "voila.log", "wb") as log:
        process = subprocess.Popen(cmd, cwd=directory, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # Ctrl-C in a terminal: we stop it
    server = VoilaServer(process, f"http://{HOST}:{port}/", directory)
    _wait_until_up(server, f"http://{HOST}:{port}/voila/static/voila.js", timeout)
    return server


# -- helpers ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            raise OSError(f"port {port} on {HOST} is in use (another dashboard?): pass port=0 "
                          f"(--port 0) for a free one, or stop the other server.") from None


def _wait_until_up(server: VoilaServer, probe: str, timeout: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.running:
        try:
            with opener.open(probe, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    state = "exited" if not server.running else f"did not answer within {timeout:g} s"
    tail = "\n".join(server.log.read_text(errors="replace").splitlines()[-30:])
    server.stop()
    raise OSError(f"Voila {state}; its log ends with:\n{tail}")
