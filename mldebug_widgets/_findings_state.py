"""Save a session's state as JSON and re-open it on the same model and data.

The state holds everything but the model and the data, which are passed again: how the
model is scored (task, response method, positive class), the sensitive features, the
schema overrides, the shared selection (``focus_row``, ``selected_rows``, ``candidate``),
the findings and ``session.widget_state`` (widget name -> JSON state, filled by widgets and
the dashboard). The data and the model are fingerprinted, so re-opening the state on other
data, or another model, fails with a clear message instead of showing findings of rows
that are not there.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from . import _findings_values as V
from ._findings_io import fingerprint
from .schema import FeatureSchema, FeatureSpec
from .session import DebugSession, bind

FORMAT = "mldebug_widgets.state"
VERSION = 1
_MODEL_ROWS = 256  # rows scored to fingerprint the model


def _model_fingerprint(session: DebugSession) -> str:
    """Hash of the model's scores (rounded) on the first rows: "does it score the same"."""
    scores = session.predict(session.X.iloc[:_MODEL_ROWS], check_finite=False)
    rounded = np.round(np.nan_to_num(scores, nan=-1.0, posinf=1e300, neginf=-1e300), 8)
    return hashlib.sha256(rounded.astype(np.float64).tobytes()).hexdigest()


def schema_overrides(session: DebugSession) -> dict[str, dict[str, Any]]:
    """Return the schema fields that differ from the schema inferred from the bound data.

    Examples
    --------
    >>> import pandas as pd
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1, 2]}), task="regression",
    ...          schema={"a": {"mutable": False}})
    >>> schema_overrides(s)
    {'a': {'mutable': False}}
    """
    inferred = FeatureSchema.infer(session.X)
    out: dict[str, dict[str, Any]] = {}
    for name in session.schema:
        now, then = session.schema[name], inferred[name]
        diff = {f.name: V.plain(V.canon(getattr(now, f.name), what=f"schema of {name}"))
                for f in fields(FeatureSpec)
                if f.name != "name" and getattr(now, f.name) != getattr(then, f.name)}
        if diff:
            out[name] = diff
    return out


def _state(session: DebugSession) -> dict[str, Any]:
    adapter = session.adapter
    sensitive = session.sensitive_features
    in_x = sensitive is not None and all(
        c in session.X.columns and session.X[c].equals(sensitive[c]) for c in sensitive.columns)
    candidate = dict(session.candidate)
    return {
        "format": FORMAT, "version": VERSION,
        "model": {"type": type(session.model).__name__, "task": session.task,
                  "response_method": adapter.response_method,
                  "pos_label": V.canon(adapter.pos_label, what="pos_label"),
                  "fingerprint": _model_fingerprint(session)},
        "data": {"n_rows": len(session.X), "columns": [str(c) for c in session.X.columns],
                 "has_y": session.y is not None, "fingerprint": fingerprint(session.X,
                                                                            session.y)},
        "sensitive": None if sensitive is None else {
            "names": [str(c) for c in sensitive.columns], "in_X": bool(in_x),
            "fingerprint": fingerprint(sensitive)},
        "schema": schema_overrides(session),
        "traits": {"focus_row": V.canon(session.focus_row, what="focus_row"),
                   "selected_rows": V.canon(list(session.selected_rows), what="a selected row"),
                   "candidate": V.canon(candidate, what="the candidate") if candidate else None},
        "findings": [f.to_dict() for f in session.findings],
        "widgets": {str(k): V.canon(v, what=f"widget_state[{k!r}]")
                    for k, v in getattr(session, "widget_state", {}).items()},
    }


def save_state(session: DebugSession, path: str | Path) -> Path:
    """Write the session's state (not the model, not the data) as JSON.

    Parameters
    ----------
    session : DebugSession
        The session to save.
    path : str or Path
        The file to write (its folder must exist); replaced atomically.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist.
    ValueError
        If ``path`` is a folder.
    TypeError
        If a value (e.g. in ``widget_state``) is not JSON.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}), task="regression")
    >>> s.focus_row = 1
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.json"
    >>> load_state(save_state(s, path), lambda df: df["a"] * 1.0,
    ...            pd.DataFrame({"a": [1.0, 2.0]})).focus_row
    1
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass a file name such as {path / 'state.json'}.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist; create it first "
                                "(Path(...).mkdir(parents=True)) or choose another path.")
    text = json.dumps(V.thaw(_state(session)), indent=1, allow_nan=False, ensure_ascii=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def read(path: str | Path) -> dict:
    """Return a state file's content, checked to be a state this version reads."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass the state file written by save_state.")
    if not path.is_file():
        raise FileNotFoundError(f"no state file at {path}; pass the path save_state wrote.")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a JSON state file ({exc}); pass the file "
                         "save_state wrote.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is JSON but not a mldebug_widgets state (no format "
                         f"{FORMAT!r}); pass the file save_state wrote.")
    if not isinstance(state.get("version"), int) or state["version"] > VERSION:
        raise ValueError(f"{path} is a state of version {state.get('version')!r}; this "
                         f"mldebug_widgets reads version {VERSION}: upgrade mldebug_widgets.")
    return state


def _data_mismatch(state: dict, session: DebugSession) -> str:
    data = state["data"]
    if data["n_rows"] != len(session.X):
        return f"it was saved with {data['n_rows']} rows, X has {len(session.X)}"
    columns = [str(c) for c in session.X.columns]
    if data["columns"] != columns:
        extra = sorted(set(columns) - set(data["columns"]))
        lacking = sorted(set(data["columns"]) - set(columns))
        return (f"the columns differ (X has extra {extra}, lacks {lacking})" if extra or lacking
                else "the columns are in another order")
    if data["has_y"] != (session.y is not None):
        return "it was saved with labels: pass y" if data["has_y"] else \
            "it was saved without labels: pass y=None"
    return "the values, dtypes, index or labels differ"


def load_state(path: str | Path, model: Any, X: Any, y: Any = None, *,
               sensitive_features: Any = None, allow_model_change: bool = False) -> DebugSession:
    """Re-open a saved session state on the model and the data it was saved with.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`save_state`.
    model : estimator or callable
        The model (checked: it must score the first rows as the saved one did).
    X, y
        The data the state was saved with (checked by fingerprint).
    sensitive_features : default=None
        Needed only if the sensitive features were not columns of ``X``.
    allow_model_change : bool, default=False
        Accept a model that scores differently (the findings keep the numbers recorded
        with the old model).

    Returns
    -------
    DebugSession
        Bound with the saved options, schema, selection, findings and widget state.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a state file, other data, or another model; the message says what differs.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> X = pd.DataFrame({"a": [1.0, 2.0]}, index=["p", "q"])
    >>> s = bind(lambda df: df["a"] * 1.0, X, task="regression")
    >>> s.selected_rows = ("q",)
    >>> path = save_state(s, pathlib.Path(tempfile.mkdtemp()) / "state.json")
    >>> load_state(path, lambda df: df["a"] * 1.0, X).selected_rows
    ('q',)
    >>> load_state(path, lambda df: df["a"] * 1.0, X + 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: this state was saved on other data: the values, dtypes, index or labels ...
    """
    state = read(path)
    sensitive = state["sensitive"]
    if sensitive is not None and sensitive_features is None:
        if not sensitive["in_X"]:
            raise ValueError(f"the state's sensitive features {sensitive['names']} were not "
                             "columns of X; pass them again: load_state(..., "
                             "sensitive_features=<values aligned with X>).")
        sensitive_features = sensitive["names"]
    saved = state["model"]
    method = saved["response_method"]
    session = bind(model, X, y, sensitive_features=sensitive_features, task=saved["task"],
                   response_method="auto" if method == "callable" else method,
                   pos_label=V.unthaw(saved["pos_label"]),
                   schema={k: {f: V.unthaw(v) for f, v in changes.items()}
                           for k, changes in state["schema"].items()})
    if fingerprint(session.X, session.y) != state["data"]["fingerprint"]:
        raise ValueError(f"this state was saved on other data: {_data_mismatch(state, session)}"
                         ". Pass the X and y it was saved with.")
    if sensitive is not None and fingerprint(session.sensitive_features) != \
            sensitive["fingerprint"]:
        raise ValueError("the sensitive features differ from those the state was saved with; "
                         "pass the same values.")
    if not allow_model_change and _model_fingerprint(session) != saved["fingerprint"]:
        raise ValueError(f"the model scores the data differently from the {saved['type']} the "
                         "state was saved with; pass that model, or allow_model_change=True "
                         "to open the state anyway (findings keep their recorded numbers).")
    return restore(session, state)


def restore(session: DebugSession, state: dict) -> DebugSession:
    """Put a read state's findings, widget state and selection on a bound session.

    The session must be bound to the model and data the state was saved with (checked by
    :func:`load_state`; the app directory of :func:`~mldebug_widgets.serve.write_app` holds
    both, written together).
    """
    from .findings import Finding

    for record in state["findings"]:
        session.findings.add(Finding.from_dict(record))
    session.widget_state = {k: V.plain(V.unthaw(v)) for k, v in state["widgets"].items()}
    traits = state["traits"]
    selected = V.unthaw(traits["selected_rows"])
    if selected:
        positions = session.X.index.get_indexer(list(selected))
        if (positions < 0).any():
            raise ValueError("the state selects rows that are not in X; pass the data it was "
                             "saved with.")
    session.selected_rows = tuple(selected)
    focus = V.unthaw(traits["focus_row"])
    if focus is not None:
        session.position(focus)
        session.focus_row = focus
    if traits["candidate"]:
        candidate = V.plain(V.unthaw(traits["candidate"]))
        values = {k: np.nan if v is None else v for k, v in candidate["values"].items()}
        session.candidate = {**candidate, "values": values}
    return session
