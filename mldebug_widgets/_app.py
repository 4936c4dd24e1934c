"""The app directory of a served model: model (skops), data, manifest and Voila notebook.

:func:`write_app` writes it, :func:`load_app` (called by the app notebook) binds it again;
:func:`mldebug_widgets.serve.serve` runs Voila on it. The directory holds ``model.skops``, the
data (parquet, or CSV with each column's dtype in the manifest, so a round trip is exact),
``manifest.json`` (binding options and schema overrides), ``dashboard.ipynb`` and a Voila
template (``lab`` without its CDN links) under ``share/jupyter``.
"""

from __future__ import annotations

import html
import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .schema import FeatureSchema, FeatureSpec
from .session import DebugSession, bind

__all__ = ["load_app", "write_app"]

NOTEBOOK = "dashboard.ipynb"
MANIFEST = "manifest.json"
STATE = "state.json"
TEMPLATE = "mldebug"  # the Voila template written into the app (lab without CDN links)
_TEMPLATE_DIR = Path("share", "jupyter", "voila", "templates", TEMPLATE)
_CDN_LINK = ('<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@fortawesome/'
             'fontawesome-free@^5/css/{}" type="text/css" />')
_INDEX = f"""{{%- extends 'lab/index.html.j2' -%}}
{{#- Voila's lab template without its Font Awesome links to a CDN: the page stays offline. -#}}
{{%- block notebook_css -%}}
{{%- filter replace('{_CDN_LINK.format("all.min.css")}', '')
    | replace('{_CDN_LINK.format("v4-shims.min.css")}', '') -%}}
{{{{ super() }}}}
{{%- endfilter -%}}
{{%- endblock notebook_css -%}}
"""
_SPEC_FIELDS = [f.name for f in fields(FeatureSpec) if f.name != "name"]


def write_app(session_or_model: Any, X: Any = None, y: Any = None, *, directory: str | Path,
              sensitive_features: Any = None, schema: Any = None, task: str = "auto",
              response_method: str = "auto", pos_label: Any = None, bins: dict | None = None,
              aggregates_only: bool = False, title: str = "Model debugging dashboard",
              data_format: Literal["auto", "parquet", "csv"] = "auto") -> Path:
    """Write a Voila app of a model and its data into ``directory``; return the notebook.

    The directory gets ``model.skops``, the data (``X``, ``y`` and the sensitive features as
    parquet, or as CSV with their dtypes in ``manifest.json``), ``manifest.json`` (binding
    options and schema overrides) and ``dashboard.ipynb``, which calls :func:`load_app` and
    shows ``mdw.Dashboard(session, bins=..., aggregates_only=...)``.

    A session's findings, selection and stored panel settings (``Dashboard.store_state``)
    go along in ``state.json``, so the published dashboard shows what was marked, unless
    ``aggregates_only`` (findings can hold raw rows).

    Parameters
    ----------
    session_or_model : DebugSession or estimator
        A session (its model, data, schema and binding are saved), or a model to bind with
        ``X``, ``y`` and the keyword arguments below, as :func:`~mldebug_widgets.bind` does.
    X, y : DataFrame and array-like, default=None
        The data, only with a model.
    directory : str or Path
        Where to write; created if needed.
    sensitive_features, schema, task, response_method, pos_label : optional
        As for :func:`~mldebug_widgets.bind`, only with a model.
    bins : dict, default=None
        Bin edges (or a number of quantile bins) per sensitive feature, for the dashboard's
        fairness groups, e.g. ``{"AGE": [0, 30, 200]}``.
    aggregates_only : bool, default=False
        Show aggregates only (no raw rows) in the dashboard, for sharing.
    title : str, default="Model debugging dashboard"
        The page's heading.
    data_format : {"auto", "parquet", "csv"}, default="auto"
        "auto" writes parquet when pyarrow is installed, CSV otherwise.

    Returns
    -------
    pathlib.Path
        The app notebook, ``directory / "dashboard.ipynb"``.

    Raises
    ------
    TypeError
        If the model cannot be saved with skops (a lambda, a class defined in ``__main__``)
        or a session is passed together with data or binding options.
    ValueError
        If ``bins`` names a feature that is not a sensitive feature of the session.

    See Also
    --------
    mldebug_widgets.serve.serve : write the app into a temporary directory and run Voila.

    Examples
    --------
    >>> import tempfile
    >>> from mldebug_widgets import datasets
    >>> data = datasets.load_credit(n_rows=300)
    >>> model = datasets.demo_model(data, kind="logistic")
    >>> app = write_app(model, data.X, data.y, directory=tempfile.mkdtemp(),
    ...                 sensitive_features=["SEX", "AGE"], bins={"AGE": [0, 30, 200]})
    >>> app.name, (app.parent / "model.skops").exists()
    ('dashboard.ipynb', True)
    """
    session = _as_session(session_or_model, X, y, sensitive_features=sensitive_features,
                          schema=schema, task=task, response_method=response_method,
                          pos_label=pos_label)
    if data_format not in ("auto", "parquet", "csv"):
        raise ValueError(f"data_format must be 'auto', 'parquet' or 'csv', got {data_format!r}.")
    if data_format == "auto":
        data_format = "parquet" if _has_pyarrow() else "csv"
    sensitive = [] if session.sensitive_features is None else list(session.sensitive_features)
    unknown = sorted(set(bins or {}) - set(sensitive), key=str)
    if unknown:
        raise ValueError(f"bins given for {unknown}, which are not sensitive features of the "
                         f"session ({sensitive}); bind them with sensitive_features=[...].")
    bins = _jsonable(bins)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "version": 1,
        "model": _save_model(session.model, directory / "model.skops"),
        "X": _save_frame(session.X, directory, "X", data_format),
        "y": None if session.y is None else {
            **_save_frame(session.y.to_frame("y"), directory, "y", data_format),
            "name": _jsonable(session.y.name)},
        "sensitive": _save_sensitive(session, directory, data_format),
        "bind": {"task": session.task, "response_method": session.adapter.response_method,
                 "pos_label": _jsonable(session.adapter.pos_label)},
        "schema": _schema_overrides(session.schema, FeatureSchema.infer(session.X)),
    }
    carried = not aggregates_only and isinstance(session_or_model, DebugSession) and bool(
        len(session.findings) or session.widget_state or session.selected_rows)
    if carried:
        from ._findings_state import save_state

        save_state(session, directory / STATE)
    manifest["state"] = STATE if carried else None
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
    template = directory / _TEMPLATE_DIR
    template.mkdir(parents=True, exist_ok=True)
    (template / "conf.json").write_text(json.dumps({"base_template": "lab"}))
    (template / "index.html.j2").write_text(_INDEX)
    notebook = directory / NOTEBOOK
    notebook.write_text(_notebook(title, bins, bool(aggregates_only), carried))
    return notebook


def load_app(directory: str | Path) -> DebugSession:
    """Bind the model and data that :func:`write_app` saved in ``directory``.

    The model is loaded with skops, trusting exactly the types recorded when it was written
    (the directory is the app's own); a file naming any other type is refused.

    Parameters
    ----------
    directory : str or Path
        A directory written by :func:`write_app` (the app notebook passes its own).

    Returns
    -------
    DebugSession
        Bound as the saved session was: same data, dtypes, schema and binding options, with
        its findings, selection and widget state when the app carries them.

    Raises
    ------
    ValueError
        If the model file names types that were not recorded when the app was written.

    Examples
    --------
    >>> import tempfile
    >>> from mldebug_widgets import datasets
    >>> data = datasets.load_credit(n_rows=300)
    >>> model = datasets.demo_model(data, kind="logistic")
    >>> app = write_app(model, data.X, data.y, directory=tempfile.mkdtemp())
    >>> load_app(app.parent)
    DebugSession(Pipeline, task='binary', rows=300, features=23)
    """
    import skops.io as sio

    directory = Path(directory)
    manifest = json.loads((directory / MANIFEST).read_text())
    path = directory / manifest["model"]["file"]
    recorded = manifest["model"]["trusted"]
    unexpected = sorted(set(sio.get_untrusted_types(file=path)) - set(recorded))
    if unexpected:
        raise ValueError(f"{path} names types that were not there when the app was written: "
                         f"{unexpected}. Write the app again with write_app().")
    model = sio.load(path, trusted=recorded)
    X = _load_frame(manifest["X"], directory)  # noqa: N806
    y = None
    if manifest["y"] is not None:
        y = _load_frame(manifest["y"], directory).iloc[:, 0].rename(manifest["y"]["name"])
    sensitive = manifest["sensitive"]
    if isinstance(sensitive, dict):
        sensitive = _load_frame(sensitive, directory)
    schema = {name: {k: tuple(v) if k in ("categories", "quantiles") else v
                     for k, v in changes.items()}
              for name, changes in manifest["schema"].items()}
    session = bind(model, X, y, sensitive_features=sensitive, schema=schema, **manifest["bind"])
    if manifest.get("state"):  # written with this model and data: no fingerprints to check
        from ._findings_state import read, restore

        restore(session, read(directory / manifest["state"]))
    return session


# -- helpers ---------------------------------------------------------------------------------
def _as_session(session_or_model: Any, X: Any, y: Any, **options: Any) -> DebugSession:
    if not isinstance(session_or_model, DebugSession):
        return bind(session_or_model, X, y, **options)
    given = [name for name, value in {"X": X, "y": y, **options}.items()
             if value is not None and not (isinstance(value, str) and value == "auto")]
    if given:
        raise TypeError(f"a DebugSession carries its data and binding; do not pass {given} "
                        f"with it (or pass the model instead of the session).")
    return session_or_model


def _save_model(model: Any, path: Path) -> dict:
    import skops.io as sio

    try:
        sio.dump(model, path)
        types = sio.get_untrusted_types(file=path)
        loaded = sio.load(path, trusted=types)
    except Exception as exc:
        raise TypeError(f"the model ({type(model).__name__}) cannot be saved with skops for the "
                        f"app: {exc}. Serve a fitted scikit-learn estimator or Pipeline, or a "
                        f"model whose classes and functions live in an importable module "
                        f"(not a lambda).") from exc
    local = [t for t in types if t.startswith("__main__.")]
    if local or type(loaded) is not type(model):
        raise TypeError(f"the model uses {local or [type(model).__name__]} defined in __main__ "
                        f"(the notebook or script): the app's kernel cannot import them. Move "
                        f"them to a module on the kernel's path.")
    return {"file": path.name, "trusted": sorted(types)}


def _save_sensitive(session: DebugSession, directory: Path, data_format: str) -> Any:
    sensitive = session.sensitive_features
    if sensitive is None:
        return None
    names = list(sensitive.columns)
    if all(n in session.X.columns for n in names) and sensitive.equals(session.X[names]):
        return [_jsonable(n) for n in names]
    return _save_frame(sensitive, directory, "sensitive", data_format)


def _save_frame(frame: pd.DataFrame, directory: Path, stem: str, data_format: str) -> dict:
    """Write ``frame`` with positional column names; the manifest keeps names and dtypes."""
    stored = frame.set_axis([f"c{i}" for i in range(frame.shape[1])], axis=1)
    stored.index = stored.index.rename("index")
    columns = [dict(name=_jsonable(name), **_dtype_info(frame.iloc[:, i]))
               for i, name in enumerate(frame.columns)]
    spec = {"file": f"{stem}.{data_format}", "format": data_format, "columns": columns,
            "index": dict(name=_jsonable(frame.index.name), **_dtype_info(frame.index))}
    if data_format == "parquet":
        stored.to_parquet(directory / spec["file"])
    else:
        stored.to_csv(directory / spec["file"])
    return spec


def _dtype_info(values: pd.Series | pd.Index) -> dict:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return {"dtype": "category", "ordered": bool(dtype.ordered),
                "categories": [_jsonable(c) for c in dtype.categories]}
    return {"dtype": str(dtype)}


def _load_frame(spec: dict, directory: Path) -> pd.DataFrame:
    path = directory / spec["file"]
    if spec["format"] == "parquet":
        frame = pd.read_parquet(path)
    else:  # every cell as text, then each column back to its recorded dtype
        frame = pd.read_csv(path, dtype=object, keep_default_na=False, na_values=[""],
                            index_col=0)
        frame = pd.DataFrame({key: _from_text(frame[key], meta) for key, meta
                              in zip(frame.columns, spec["columns"], strict=True)},
                             index=pd.Index(_from_text(frame.index.to_series(), spec["index"])))
    frame.columns = [c["name"] for c in spec["columns"]]
    frame.index.name = spec["index"]["name"]
    return frame


def _from_text(text: pd.Series, meta: dict) -> pd.Series:
    dtype = meta["dtype"]
    values = text.to_numpy(dtype=object)
    if dtype == "category":
        lookup = {str(c): c for c in meta["categories"]}
        codes = [lookup.get(v, v) for v in values]
        return pd.Series(pd.Categorical(codes, categories=meta["categories"],
                                        ordered=meta["ordered"]), index=text.index)
    if dtype in ("bool", "boolean"):
        values = np.array([{"True": True, "False": False}.get(v, v) for v in values],
                          dtype=object)
    elif dtype.startswith("datetime64"):
        return pd.Series(pd.to_datetime(values), index=text.index).astype(dtype)
    elif dtype[:1] in ("I", "U", "F"):  # nullable Int64, UInt8, Float64...
        return pd.Series(pd.to_numeric(values), index=text.index).astype(dtype)
    return pd.Series(values, index=text.index).astype(dtype)  # float() is exact on repr text


def _schema_overrides(schema: FeatureSchema, inferred: FeatureSchema) -> dict:
    """Return the fields of ``schema`` that differ from those inferred from the data."""
    changes = {}
    for name in schema:
        diff = {f: _jsonable(getattr(schema[name], f)) for f in _SPEC_FIELDS
                if getattr(schema[name], f) != getattr(inferred[name], f)}
        if diff:
            changes[name] = diff
    return changes


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"{value!r} ({type(value).__name__}) cannot be written to the app's "
                    f"manifest; use str, int, float or bool names and values.")


def _notebook(title: str, bins: Any, aggregates_only: bool, state: bool = False) -> str:
    # nbformat 4.5 written by hand: importing nbformat costs seconds (its schema validators)
    dashboard = f"mdw.Dashboard(session, bins={bins!r}, aggregates_only={aggregates_only!r})"
    code = ("import mldebug_widgets as mdw\n"
            "from mldebug_widgets.serve import load_app\n\n"
            "session = load_app(\".\")  # the model and data saved beside this notebook\n")
    code += (f"dashboard = {dashboard}\n"
             "dashboard.apply_state()  # the panels as they were when the app was written\n"
             "dashboard") if state else dashboard
    cells = [{"cell_type": "markdown", "id": "title", "metadata": {},
              "source": f"# {html.escape(title)}"},
             {"cell_type": "code", "id": "dashboard", "metadata": {}, "execution_count": None,
              "outputs": [], "source": code}]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return json.dumps({"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4,
                       "nbformat_minor": 5}, indent=1)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


