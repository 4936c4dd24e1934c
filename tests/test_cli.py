"""Publishing: the app directory (write_app / load_app), serve() and the CLI.

The app's files must bind back to an equal session (same data and dtypes, schema, binding and
predictions); the CLI must refuse pickles without ``--trust`` (a pickle that touches a file
when loaded proves the file was never loaded), name a wrong column clearly, and serve a skops
model on a CSV with Voila listening on 127.0.0.1 only, culling idle kernels and cleaning up.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import joblib
import numpy as np
import pandas as pd
import psutil
import pytest
import skops.io as sio
from _helpers import fingerprint
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import mldebug_widgets as mdw
from mldebug_widgets import _app, cli
from mldebug_widgets.serve import load_app, serve, write_app

ROOT = pathlib.Path(__file__).resolve().parents[1]
BINS = {"AGE": [0, 30, 200]}
LOCAL = re.compile(r"(?:href|src)=[\"'](?!https?://127\.0\.0\.1)(?:https?:)?//", re.I)
CELL_FAILED = ("Traceback", "There was an error when executing cell")


@pytest.fixture(scope="module")
def credit():
    data = mdw.datasets.load_credit(n_rows=2_000, random_state=1)
    return data, mdw.datasets.demo_model(data)


@pytest.fixture(scope="module")
def credit_session(credit):
    data, model = credit
    return mdw.bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                    schema=mdw.datasets.CREDIT_SCHEMA)


def _http(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=600) as response:
        assert response.status == 200
        return response.read().decode()


# -- the app directory -------------------------------------------------------------------------
@pytest.mark.parametrize("data_format", ["csv", "parquet"])
def test_app_binds_back_to_an_equal_session(credit, credit_session, tmp_path, data_format):
    if data_format == "parquet":
        pytest.importorskip("pyarrow")
    data, model = credit
    before = fingerprint(data.X, data.y, model)
    notebook = write_app(credit_session, directory=tmp_path, bins=BINS, data_format=data_format)
    assert fingerprint(data.X, data.y, model) == before  # nothing of the user's was touched
    assert (tmp_path / f"X.{data_format}").exists()
    loaded = load_app(tmp_path)
    pd.testing.assert_frame_equal(loaded.X, credit_session.X, check_exact=True)
    pd.testing.assert_series_equal(loaded.y, credit_session.y, check_exact=True)
    pd.testing.assert_frame_equal(loaded.sensitive_features, credit_session.sensitive_features)
    assert loaded.schema == credit_session.schema  # CREDIT_SCHEMA's overrides came back
    assert loaded.schema["SEX"].kind == "categorical" and not loaded.schema["AGE"].mutable
    assert (loaded.task, loaded.output_names) == (credit_session.task, credit_session.output_names)
    np.testing.assert_array_equal(loaded.predictions(), model.predict_proba(data.X)[:, [1]])
    source = json.loads(notebook.read_text())["cells"][1]["source"]
    assert "mdw.Dashboard(session, bins={'AGE': [0, 30, 200]}, aggregates_only=False)" in source


def test_csv_keeps_every_dtype_and_missing_value(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({
        "x": rng.normal(size=n) * 10.0 ** rng.integers(-12, 12, n),  # full float precision
        "i": rng.integers(-5, 5, n),
        "b": rng.random(n) > 0.5,
        "s": rng.choice(["a", "NA", "None", "7", "x, y", "1.0"], n).astype(object),
        "c": pd.Categorical(rng.choice(["1", "2", "x"], n)),  # digits as string categories
        "ci": pd.Categorical(rng.choice([1, 2, 3], n), ordered=True),
        "ni": pd.array(rng.integers(0, 3, n), dtype="Int64"),
        "nb": pd.array(rng.random(n) > 0.5, dtype="boolean"),
        "d": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="h"),
        7: rng.random(n),  # a non-string column name
    }, index=pd.Index(rng.permutation(1_000)[:n] + 5, name="ID"))
    frame.loc[frame.index[:5], "x"] = np.nan
    frame.loc[frame.index[3:6], "s"] = np.nan
    frame.loc[frame.index[2:4], ["ni", "nb"]] = pd.NA
    frame.loc[frame.index[1:3], "c"] = np.nan
    spec = _app._save_frame(frame, tmp_path, "X", "csv")
    pd.testing.assert_frame_equal(_app._load_frame(spec, tmp_path), frame, check_exact=True)


def test_app_notebook_shows_the_options_and_escapes_the_title(credit_session, tmp_path):
    notebook = write_app(credit_session, directory=tmp_path, aggregates_only=True,
                         title="<Credit> & co", data_format="csv")
    cells = json.loads(notebook.read_text())["cells"]
    assert cells[0]["source"] == "# &lt;Credit&gt; &amp; co"
    assert cells[1]["source"].endswith("mdw.Dashboard(session, bins=None, aggregates_only=True)")


def test_sensitive_values_outside_X_are_saved(credit, tmp_path):
    data, model = credit
    region = pd.Series(np.where(data.X["AGE"] < 40, "young", "old"), index=data.X.index,
                       name="region")
    session = mdw.bind(model, data.X, data.y, sensitive_features=region)
    write_app(session, directory=tmp_path, data_format="csv")
    assert isinstance(json.loads((tmp_path / "manifest.json").read_text())["sensitive"], dict)
    pd.testing.assert_frame_equal(load_app(tmp_path).sensitive_features,
                                  session.sensitive_features)


def test_write_app_refuses_what_skops_cannot_save(tmp_path):
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    with pytest.raises(TypeError, match="cannot be saved with skops"):
        write_app(lambda df: df["a"] * 2, X, task="regression", directory=tmp_path)


def test_a_session_comes_without_data(credit, credit_session, tmp_path):
    data, _ = credit
    with pytest.raises(TypeError, match=r"do not pass \['X'\]"):
        write_app(credit_session, data.X, directory=tmp_path)
    with pytest.raises(ValueError, match=r"bins given for \['LIMIT_BAL'\]"):
        write_app(credit_session, directory=tmp_path, bins={"LIMIT_BAL": [0, 1e5, 1e7]})
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_load_app_refuses_a_model_file_with_new_types(credit_session, tmp_path):
    write_app(credit_session, directory=tmp_path, data_format="csv")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["model"]["trusted"] = manifest["model"]["trusted"][:-1]  # as if a type appeared
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not there when the app was written"):
        load_app(tmp_path)


def test_serve_checks_its_port_before_writing(credit_session, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(ValueError, match="port must be"):
        serve(credit_session, port=70_000)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="is in use.*port=0"):
            serve(credit_session, port=taken.getsockname()[1])
    assert not list(tmp_path.iterdir())  # no app directory left behind


# -- model files -------------------------------------------------------------------------------
class TouchOnLoad:
    """Unpickling this creates ``path``: the proof that a pickle was (or was not) loaded."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _serve_args(model: pathlib.Path, data: pathlib.Path, *extra: str) -> list[str]:
    return ["serve", str(model), str(data), "--target", "DEFAULT", *extra]


@pytest.fixture(scope="module")
def credit_csv(credit, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "credit.csv"
    credit[0].frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".pkl", ".joblib", ".pickle"])
def test_pickle_is_refused_without_trust(tmp_path, credit_csv, capsys, suffix):
    marker = tmp_path / "loaded"
    path = tmp_path / f"model{suffix}"
    joblib.dump(TouchOnLoad(marker), path)
    assert cli.main(_serve_args(path, credit_csv)) == 2
    err = capsys.readouterr().err
    assert "runs whatever code it contains" in err and "--trust" in err
    assert f'skops.io.dump(joblib.load("{path}"), "model.skops")' in err
    assert not marker.exists()  # refused before loading
    # with --trust it is loaded (the marker appears) and then fails to bind: not a model
    assert cli.main(_serve_args(path, credit_csv, "--trust")) == 2
    assert marker.exists()
    assert "cannot be bound" in capsys.readouterr().err


def test_trusted_pickle_loads_the_model(credit, tmp_path):
    data, model = credit
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = cli.load_model(tmp_path / "model.joblib", trust=True)
    np.testing.assert_array_equal(loaded.predict_proba(data.X), model.predict_proba(data.X))


def test_skops_with_sklearn_types_loads_without_trust(credit, tmp_path):
    data, model = credit
    sio.dump(model, tmp_path / "model.skops")
    assert sio.get_untrusted_types(file=tmp_path / "model.skops")  # not skops' defaults alone
    loaded = cli.load_model(tmp_path / "model.skops")
    np.testing.assert_array_equal(loaded.predict_proba(data.X), model.predict_proba(data.X))


def test_skops_with_other_code_needs_trust(tmp_path, credit_csv, capsys, monkeypatch):
    module = tmp_path / "userfeatures.py"
    module.write_text("def double(X):\n    return X * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from userfeatures import double

    model = make_pipeline(FunctionTransformer(double))
    sio.dump(model, tmp_path / "model.skops")
    assert cli.main(_serve_args(tmp_path / "model.skops", credit_csv)) == 2
    assert "['userfeatures.double']" in capsys.readouterr().err
    loaded = cli.load_model(tmp_path / "model.skops", trust=True)
    assert loaded.steps[0][1].func is double


@pytest.mark.parametrize(("name", "safe"), [
    ("sklearn.tree._tree.Tree", True),
    ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
    ("numpy.dtype", True),
    ("numpy.float32", True),
    ("numpy.log1p", True),  # a ufunc
    ("numpy.random.mtrand.RandomState", True),
    ("numpy.load", False),  # a function that reads files
    ("sklearn.utils.validation.check_array", False),  # a function
    ("sklearn.base.np", False),  # a module
    ("sklearn.nothing.Here", False),
    ("os.system", False),
    ("builtins.eval", False),
    ("scipy.sparse.csr_matrix", False),
])
def test_safe_type_policy(name, safe):
    assert cli._is_safe_type(name) is safe


def test_clear_errors_for_bad_input(tmp_path, credit_csv, capsys):
    model = tmp_path / "model.skops"
    sio.dump(mdw.datasets.demo_model(mdw.datasets.load_credit(n_rows=300), kind="logistic"),
             model)
    assert cli.main(["serve", str(model), str(credit_csv), "--target", "DEFALT"]) == 2
    err = capsys.readouterr().err
    assert "--target 'DEFALT' is not a column of credit.csv" in err
    assert "LIMIT_BAL" in err and "DEFAULT" in err  # the columns are listed
    assert cli.main(_serve_args(model, credit_csv, "--sensitive", "GENDER")) == 2
    assert "--sensitive 'GENDER' is not a column" in capsys.readouterr().err
    assert cli.main(_serve_args(tmp_path / "model.onnx", credit_csv)) == 2
    assert "unknown model format" in capsys.readouterr().err
    assert cli.main(_serve_args(tmp_path / "missing.skops", credit_csv)) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "data.xlsx").write_bytes(b"")
    assert cli.main(_serve_args(model, tmp_path / "data.xlsx")) == 2
    assert "unknown data format" in capsys.readouterr().err
    assert cli.main(["demo", "--rows", "10"]) == 2
    assert "--rows must be at least 100" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", str(model), str(credit_csv)])  # --target is required
    assert exit_.value.code == 2


def test_demo_builds_its_session_and_reports_a_taken_port(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["demo", "--rows", "200", "--port", str(port)]) == 1
    captured = capsys.readouterr()
    assert "Generating 200 rows" in captured.out
    assert f"port {port} on 127.0.0.1 is in use" in captured.err


# -- serving -----------------------------------------------------------------------------------
def _kernels(voila: psutil.Process) -> list[psutil.Process]:
    return [p for p in voila.children(recursive=True)
            if "ipykernel_launcher" in " ".join(p.cmdline())]


def _listening(processes: list[psutil.Process]) -> list[tuple[str, int]]:
    return [conn.laddr[:2] for p in processes for conn in p.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN]


def _other_addresses() -> list[str]:
    return [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")]


def test_cli_serves_a_skops_model_on_127_0_0_1(credit, credit_csv, tmp_path):
    data, model = credit
    sio.dump(model, tmp_path / "model.skops")
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1", "OMP_NUM_THREADS": "1",
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    cmd = [sys.executable, "-m", "mldebug_widgets.cli", *_serve_args(
        tmp_path / "model.skops", credit_csv, "--sensitive", "SEX", "AGE", "--index", "ID",
        "--port", "0", "--cull-idle-timeout", "3", "--aggregates-only", "--no-preheat")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    try:
        lines = []
        for line in proc.stdout:  # the URL is printed once Voila answers
            lines.append(line)
            if (found := re.search(r"http://127\.0\.0\.1:(\d+)/", line)):
                break
        else:
            pytest.fail(f"no URL printed; stdout {lines}, stderr {proc.stderr.read()}")
        url, port = found.group(0), int(found.group(1))
        voila = psutil.Process(proc.pid).children()[0]
        app_dir = pathlib.Path(next(a for a in voila.cmdline() if a.endswith(".ipynb"))).parent
        assert oct(app_dir.stat().st_mode & 0o777) == "0o700"  # private to the user
        app = json.loads((app_dir / "dashboard.ipynb").read_text())["cells"][1]["source"]
        assert app.endswith("mdw.Dashboard(session, bins=None, aggregates_only=True)")

        page = _http(url)  # runs the app notebook in a kernel
        assert "application/vnd.jupyter.widget-view+json" in page
        assert not any(text in page for text in CELL_FAILED), page[-3_000:]
        assert "fontawesome" not in page and not LOCAL.search(page)  # nothing from a CDN
        files = sorted(p.name for p in app_dir.iterdir() if p.is_file())
        assert {"model.skops", "manifest.json", "dashboard.ipynb"} <= set(files)
        for name in files:
            with pytest.raises(urllib.error.HTTPError):  # the app's files are not served
                _http(f"{url}voila/files/{name}")

        kernels = _kernels(voila)
        assert len(kernels) == 1
        sockets = _listening([voila, *kernels])
        assert ("127.0.0.1", port) in sockets
        assert {host for host, _ in sockets} == {"127.0.0.1"}  # Voila and kernel: loopback only
        for address in _other_addresses():
            with socket.socket() as sock:
                sock.settimeout(2)
                assert sock.connect_ex((address, port)) != 0, f"reachable on {address}"

        # no page is connected: the idle kernel is culled (timeout 3 s, checked every second)
        gone, alive = psutil.wait_procs(kernels, timeout=120)
        assert gone and not alive, "the idle kernel was not culled"

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0
        assert "Stopping the dashboard" in proc.stdout.read()
        assert not voila.is_running() or voila.status() == psutil.STATUS_ZOMBIE
        assert not app_dir.exists()  # the model and data copies are deleted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for(condition, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s for {what}")
        time.sleep(0.5)


def test_serve_keeps_one_preheated_kernel_that_is_never_culled(credit_session):
    with serve(credit_session, port=0, cull_idle_timeout=2, cull_interval=1) as server:
        voila = psutil.Process(server.process.pid)

        def log() -> str:
            return server.log.read_text(errors="replace")

        _wait_for(lambda: "is filled with 1 kernel" in log(), "the pool to run the app")
        pooled = _kernels(voila)
        assert len(pooled) == 1  # one kernel, the app already run in it, no page yet
        time.sleep(4)  # twice the idle timeout: a kernel waiting in the pool is not culled
        assert pooled[0].is_running()

        page = _http(server.url)  # served by the pre-heated kernel, not a new one
        assert "Using pre-heated kernel" in log()
        assert "application/vnd.jupyter.widget-view+json" in page
        assert not any(text in page for text in CELL_FAILED), page[-3_000:]

        # the page's kernel (nothing connected: the request was plain HTTP) is culled when
        # idle, and the pool refills (serve.PREHEAT_REFILL_DELAY s after it was taken)
        gone, alive = psutil.wait_procs(pooled, timeout=120)
        assert gone and not alive, "the used kernel was not culled"
        _wait_for(lambda: log().count("is filled with 1 kernel") == 2, "the pool to refill")
        refill = _kernels(voila)
        assert len(refill) == 1 and refill[0].pid != pooled[0].pid


def test_the_app_carries_findings_selection_and_panel_settings(credit, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    data, model = credit
    session = mdw.bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                       schema=mdw.datasets.CREDIT_SCHEMA)
    dash = mdw.Dashboard(session, bins=BINS)
    rows = tuple(data.X.index[10:35])
    session.selected_rows = rows
    session.findings.add_cohort(list(rows), note="brushed")
    session.findings.add_row(data.X.index[3], note="an odd row")
    dash.slicer.threshold = 0.3
    dash.store_state()
    notebook = write_app(session, directory=tmp_path / "app", bins=BINS, data_format="csv")
    assert (tmp_path / "app" / "state.json").exists()
    loaded = load_app(tmp_path / "app")
    assert [f.to_dict() for f in loaded.findings] == [f.to_dict() for f in session.findings]
    assert len(loaded.findings) == 2 and loaded.selected_rows == rows

    # the app notebook itself, run in a kernel: its dashboard has the stored threshold
    nb = nbformat.reads(notebook.read_text(), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "print(len(session.findings), dashboard.slicer.threshold, len(session.selected_rows))"))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path / "app")}}).execute()
    assert nb.cells[-1].outputs[0]["text"].split() == ["2", "0.3", str(len(rows))]

    # shared with aggregates only: no row-level finding goes along
    write_app(session, directory=tmp_path / "shared", aggregates_only=True, data_format="csv")
    assert not (tmp_path / "shared" / "state.json").exists()
    assert len(load_app(tmp_path / "shared").findings) == 0
    # a bare model has nothing to carry
    write_app(model, data.X, data.y, directory=tmp_path / "bare", data_format="csv")
    assert json.loads((tmp_path / "bare" / "manifest.json").read_text())["state"] is None
