"""Export of parsed rules as Python: :func:`to_python` and :func:`rules_to_pytest`.

:func:`to_python` emits a condition tree as a Python expression over the primitives of
``_rules_ops`` (only literals via ``repr``, operators of the fixed grammar and primitive
names; rule text never becomes code), and :func:`rules_to_pytest` writes a standalone pytest
file (one test per rule) that embeds the primitives' source verbatim, so the export evaluates
exactly as :func:`~mldebug_widgets.analysis._rules_eval.condition_mask` does.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np

from . import _rules_ops
from ._rules import _CMP, _FUNCS, Node, parse_rules

_ARITH = ("+", "-", "*", "/")


def _literal(name: str, value: Any, types: tuple, *, none: bool = True) -> str:
    """Return ``repr(value)`` for a plain literal of ``types`` (or None), else raise."""
    value = value.item() if isinstance(value, np.generic) else value
    if not (value is None and none) and type(value) not in types or (
            isinstance(value, float) and not np.isfinite(value)):
        raise TypeError(f"{name} must be one of {[t.__name__ for t in types]}"
                        f"{' or None' if none else ''}; got {value!r}.")
    return repr(value)


def to_python(node: Node) -> str:
    """Emit the condition as a Python expression over the primitives (for pytest export).

    Only literals (via ``repr``), operators of the fixed grammar and primitive names are
    emitted; rule text never becomes code.

    Examples
    --------
    >>> to_python(parse_rules("AGE < 21 and prediction > 0.5 -> flag 'x'")[0].condition)
    "_and(_cmp('<', _feature(env, 'AGE'), 21), _cmp('>', _pred(env, None), 0.5))"
    """
    args = [to_python(child) for child in node.children]
    if node.kind in ("num", "str"):
        return _literal("a literal", node.value, (int, float, bool, str), none=False)
    if node.kind == "feature":
        return f"_feature(env, {str(node.value)!r})"
    if node.kind in ("prediction", "label"):
        cls = _literal("a class", node.value, (int, float, bool, str))
        return f"_pred(env, {cls})" if node.kind == "prediction" else "_label(env)"
    if node.kind in ("cmp", "arith", "call") and node.value not in _CMP + _ARITH + tuple(_FUNCS):
        raise ValueError(f"unknown operator {node.value!r}")
    if node.kind in ("cmp", "arith", "call"):
        return f"_{node.kind}({node.value!r}, {', '.join(args)})"
    if node.kind == "in":
        values = [_literal("a literal", v, (int, float, bool, str), none=False)
                  for v in node.value]
        return f"_isin({args[0]}, ({', '.join(values)},))"
    if node.kind not in ("neg", "missing", "not", "and", "or"):
        raise ValueError(f"unknown node {node.kind!r}")
    return f"_{node.kind}({', '.join(args)})"


_EXPORTED = ("_values", "_is_text", "_missing", "_neg", "_arith", "_cmp", "_isin", "_not",
             "_and", "_or", "_call", "_prediction")
_HEADER = '''"""Model assertions exported by mldebug_widgets.analysis.rules_to_pytest.

Each test evaluates one rule on the data with the model's predictions and fails when it
fires on more than MAX_SHARE of the rows (a clip rule fires where the prediction lies outside
its bounds). Set MODEL_PATH and DATA_PATH (or the environment variables MLDEBUG_MODEL and
MLDEBUG_DATA). Needs numpy, pandas, pytest and joblib (or skops for a .skops model).
"""

import os

import numpy as np
import pandas as pd
import pytest

'''
_FIXTURES = '''
def _load_model(path):
    if str(path).endswith(".skops"):
        import skops.io

        return skops.io.load(path, trusted=SKOPS_TRUSTED)
    import joblib

    return joblib.load(path)


@pytest.fixture(scope="module")
def env():
    path = str(DATA_PATH)
    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(
        path, index_col=INDEX_COL)
    model = _load_model(MODEL_PATH)
    X = frame.drop(columns=[TARGET]) if TARGET is not None else frame
    names = getattr(model, "feature_names_in_", None)
    X_model = X if names is None else X[[str(n) for n in names]]
    classes = getattr(model, "classes_", None)
    probability, task = False, "regression"
    if classes is None:
        scores, outputs = np.asarray(model.predict(X_model), float).reshape(len(X), 1), None
    else:
        classes = list(classes)
        method = next(m for m in ("predict_proba", "decision_function", "predict")
                      if hasattr(model, m))
        raw = np.asarray(getattr(model, method)(X_model))
        if method == "predict":
            raw = raw[:, None] == np.asarray(classes)[None, :]
        raw, probability = raw.astype(float), method == "predict_proba"
        if len(classes) == 2:
            pos = 1 if POS_LABEL is None else classes.index(POS_LABEL)
            score = raw[:, pos] if raw.ndim == 2 else (raw if pos == 1 else -raw)
            scores, outputs, task = score[:, None], [classes[pos]], "binary"
        else:
            scores, outputs, task = raw, classes, "multiclass"
    labels = None if TARGET is None else frame[TARGET].to_numpy()
    return _Env({"X": X, "scores": scores, "names": outputs or ["prediction"], "task": task,
            "probability": probability, "classes": classes, "labels": labels})


class _Env(dict):
    def __repr__(self):
        return f"<{len(self['X'])} rows, {self['task']} model>"


def _feature(env, name):
    if name not in env["X"].columns:
        raise KeyError(f"the data has no column {name!r}")
    return _values(env["X"][name])


def _pred(env, cls):
    return _prediction(env["scores"], env["names"], env["task"], env["probability"],
                       env["classes"], cls)


def _label(env):
    if env["labels"] is None:
        raise ValueError("the rule reads label: set TARGET")
    return _values(pd.Series(env["labels"]))


def _check(env, fired, rule):
    fired = np.broadcast_to(np.asarray(fired, dtype=bool), (len(env["X"]),))
    count, share = int(fired.sum()), float(fired.mean())
    rows = env["X"].index[fired][:10].tolist()
    assert share <= MAX_SHARE, (
        f"rule {rule!r} fired on {count} of {len(fired)} rows ({share:.2%}); rows {rows}")
'''


def rules_to_pytest(rules: Any, path: str | Path | None = None, *,
                    model_path: str = "model.joblib", data_path: str = "data.csv",
                    target: str | None = None, index_col: str | int | None = None,
                    pos_label: Any = None, max_share: float = 0.0) -> str:
    """Export rules as a standalone pytest file: one test per rule.

    The file loads a joblib (or skops) model from ``MODEL_PATH`` and a CSV (or parquet)
    from ``DATA_PATH``, scores the rows as :class:`~mldebug_widgets.DebugSession` does
    (positive-class probability for binary), and asserts that each rule fires on at most
    ``MAX_SHARE`` of the rows. The conditions are emitted as Python from the parsed rules;
    the rule text only appears inside string literals (``repr``). The file needs numpy,
    pandas, pytest and joblib, not mldebug_widgets.

    Parameters
    ----------
    rules : str, Rule or list
        As in :func:`check_rules`.
    path : str or Path, default=None
        Where to write the file (also returned).
    model_path, data_path : str
        Defaults of the file's ``MODEL_PATH`` and ``DATA_PATH`` constants.
    target : str, default=None
        The label column of the data (dropped from the features); needed by ``label``.
    index_col : str or int, default=None
        The index column of the CSV.
    pos_label : int, float, str or bool, default=None
        The positive class (default: the second class of the model).
    max_share : float, default=0.0
        The share of rows a rule may fire on before its test fails.

    Returns
    -------
    str
        The Python source of the test file.

    Examples
    --------
    >>> source = rules_to_pytest('AGE < 18 -> flag "minor"', target="DEFAULT")
    >>> "def test_rule_00_minor(env):" in source and "_feature(env, 'AGE'), 18)" in source
    True
    """
    parsed = parse_rules(rules)
    if target is None and any(rule.uses_label for rule in parsed):
        raise ValueError("a rule reads label: pass target=<the label column of the data>.")
    model_path, data_path = str(model_path), str(data_path)
    constants = {
        "MODEL_PATH": f'os.environ.get("MLDEBUG_MODEL", {_literal("path", model_path, (str,))})',
        "DATA_PATH": f'os.environ.get("MLDEBUG_DATA", {_literal("path", data_path, (str,))})',
        "TARGET": _literal("target", target, (str,)),
        "INDEX_COL": _literal("index_col", index_col, (str, int)),
        "POS_LABEL": _literal("pos_label", pos_label, (str, int, float, bool)),
        "MAX_SHARE": _literal("max_share", float(max_share), (float,), none=False),
        "SKOPS_TRUSTED": "[]  # types to trust in a .skops model (skops.io.get_untrusted_types)",
    }
    parts = [_HEADER + "\n".join(f"{k} = {v}" for k, v in constants.items()) + "\n\n"]
    parts += ["\n" + inspect.getsource(getattr(_rules_ops, name)) + "\n" for name in _EXPORTED]
    parts.append(_FIXTURES)
    for i, rule in enumerate(parsed):
        condition = to_python(rule.condition)
        if rule.action == "clip":
            lo, hi = rule.bounds
            lo, hi = (_literal("a bound", float(b), (float,), none=False) for b in (lo, hi))
            condition = (f"_and({condition}, _or(_cmp('<', _pred(env, None), {lo}), "
                         f"_cmp('>', _pred(env, None), {hi})))")
        slug = re.sub(r"[^0-9a-zA-Z]+", "_", rule.message or rule.action).strip("_").lower()
        parts.append(f"\n\ndef test_rule_{i:02d}_{slug[:40] or 'rule'}(env):\n"
                     f"    rule = {rule.text!r}\n    fired = {condition}\n"
                     "    _check(env, fired, rule)\n")
    source = "".join(parts)
    if path is not None:
        Path(path).write_text(source, encoding="utf-8")
    return source
