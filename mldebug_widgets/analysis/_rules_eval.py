"""Vectorised evaluation of parsed rules, their actions, and their export as Python.

The primitives ``_values`` ... ``_call`` and ``_prediction`` compute every operator of the
language on numpy arrays, with the missing-value semantics of ``_rules``: comparisons and
``in`` with a missing operand are False, arithmetic, ``abs``, ``min`` and ``max`` propagate
missing values. They are copied verbatim into exported pytest files (so they use only numpy
and pandas) and :func:`to_python` emits calls to them: the export evaluates exactly as
:func:`condition_mask` does.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._rules import (
    _CMP,
    _FUNCS,
    Node,
    Rule,
    RuleSyntaxError,
    RuleTypeError,
    close_matches,
    parse_rules,
)


def _values(column):
    """Return a column as float64 (numbers, booleans; NaN is missing) or object (text)."""
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if column.dtype.kind in "mM":
        raise TypeError(f"dates ({column.dtype}) are not supported; convert them to numbers")
    values = column.to_numpy(dtype=object)
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal", "boolean"):
        return pd.to_numeric(pd.Series(values)).to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _is_text(a):
    return isinstance(a, str) or (isinstance(a, np.ndarray) and a.dtype == object)


def _missing(a):
    return pd.isna(a) if _is_text(a) else np.isnan(a)


def _neg(a):
    if _is_text(a):
        raise TypeError("arithmetic needs numbers, not text")
    return -a


def _arith(op, a, b):
    if _is_text(a) or _is_text(b):
        raise TypeError("arithmetic needs numbers, not text")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a, b = np.float64(a) if np.ndim(a) == 0 else a, np.float64(b) if np.ndim(b) == 0 else b
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op](a, b)


def _cmp(op, a, b):
    missing = np.logical_or(_missing(a), _missing(b))
    if _is_text(a) != _is_text(b):
        if np.all(missing):
            return np.zeros(np.shape(missing), dtype=bool)
        raise TypeError("text is compared with a number; compare text with a quoted string")
    if _is_text(a) and op not in ("==", "!="):
        raise TypeError(f"{op!r} orders numbers; text can only be compared with == or !=")
    with np.errstate(invalid="ignore"):
        out = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
               "==": np.equal, "!=": np.not_equal}[op](a, b)
    return np.logical_and(out, np.logical_not(missing))


def _isin(a, values):
    if _is_text(a) != isinstance(values[0], str):
        if np.all(_missing(a)):
            return np.zeros(np.shape(a), dtype=bool)
        raise TypeError("'in' mixes text and numbers; list values of the feature's kind")
    if np.ndim(a) == 0:
        return bool(not _missing(a) and a in values)
    if _is_text(a):
        return pd.Series(a, dtype=object).isin(values).to_numpy() & ~pd.isna(a)
    return np.isin(a, np.asarray(values, dtype=np.float64))


def _not(a):
    return np.logical_not(a)


def _and(*args):
    return np.logical_and.reduce(np.broadcast_arrays(*args)) if len(args) > 1 else args[0]


def _or(*args):
    return np.logical_or.reduce(np.broadcast_arrays(*args)) if len(args) > 1 else args[0]


def _call(name, *args):
    if any(_is_text(a) for a in args):
        raise TypeError(f"{name}() needs numbers, not text")
    if name == "abs":
        return np.abs(args[0])
    reduce = np.minimum if name == "min" else np.maximum
    out = args[0]
    for a in args[1:]:
        out = reduce(out, a)
    return out


def _prediction(scores, names, task, probability, classes, cls):
    """One score column: the positive class (binary), the value, or the class ``cls``."""
    if scores is None:
        raise ValueError("the rule reads the prediction; pass the model's predictions")
    if cls is None:
        if task == "multiclass":
            raise ValueError("a multiclass model has one score per class; write "
                             f"prediction[<class>] with a class of {list(names)}")
        return scores[:, 0]
    if task == "regression":
        raise ValueError("prediction[...] names a class, but the model has one value per "
                         "row; write prediction")
    for i, name in enumerate(names):
        if name == cls or str(name) == str(cls):
            return scores[:, i]
    known = list(names) if classes is None else list(classes)
    if task == "binary" and probability and any(c == cls or str(c) == str(cls) for c in known):
        return 1.0 - scores[:, 0]
    raise ValueError(f"{cls!r} is not a class of the model; classes are {known}")


class Resolver:
    """The leaves of a rule over a frame: feature columns, predictions, labels.

    ``scores`` has one column per name in ``names`` (as ``DebugSession.predict``); rows are
    ``frame`` (``take``: integer positions of a subset). Columns are converted once.
    """

    def __init__(self, frame: pd.DataFrame, *, scores: np.ndarray | None = None,
                 names: list | None = None, task: str = "binary", probability: bool = True,
                 classes: Any = None, labels: np.ndarray | None = None,
                 take: np.ndarray | None = None):
        self.frame, self.take, self.task, self.probability = frame, take, task, probability
        self.names, self.classes = list(names or ["prediction"]), classes
        self.scores = scores if scores is None or take is None else scores[take]
        self.labels = labels if labels is None or take is None else labels[take]
        self.n = len(frame) if take is None else len(take)
        self._cache: dict[str, Any] = {}

    def __call__(self, node: Node) -> Any:
        """Return the values of a ``feature``, ``prediction`` or ``label`` leaf."""
        if node.kind == "prediction":
            return _prediction(self.scores, self.names, self.task, self.probability,
                               self.classes, node.value)
        if node.kind == "label":
            if self.labels is None:
                raise ValueError("the rule reads label, but no labels were given; bind y")
            if ("label",) not in self._cache:
                self._cache[("label",)] = _values(pd.Series(self.labels))
            return self._cache[("label",)]
        name = node.value
        if name not in self._cache:
            if name not in self.frame.columns:
                names = [str(c) for c in self.frame.columns]
                raise KeyError(f"unknown feature {name!r}; {close_matches(name, names)}")
            column = self.frame[name]
            self._cache[name] = _values(column if self.take is None else column.iloc[self.take])
        return self._cache[name]


def condition_mask(rule: Rule, resolve: Resolver) -> np.ndarray:
    """Evaluate the rule's condition on every row at once: a boolean array of ``resolve.n``."""
    out = _eval(rule.condition, resolve, rule.text)
    return np.broadcast_to(np.asarray(out, dtype=bool), (resolve.n,)).copy()


def _eval(node: Node, resolve: Resolver, text: str) -> Any:
    kind = node.kind
    if kind in ("num", "str"):
        return node.value
    if kind in ("feature", "prediction", "label"):
        try:
            return resolve(node)
        except (KeyError, ValueError) as exc:
            reason, _, hint = str(exc.args[0]).partition("; ")
            raise RuleSyntaxError(reason, text, node.pos, hint) from None
        except TypeError as exc:
            raise RuleTypeError(f"{text[node.pos:node.end]!r}: {exc}", text, node.pos) from None
    args = [_eval(child, resolve, text) for child in node.children]
    try:
        if kind == "cmp":
            return _cmp(node.value, *args)
        if kind == "arith":
            return _arith(node.value, *args)
        functions = {"neg": _neg, "missing": _missing, "not": _not, "and": _and, "or": _or}
        if kind in functions:
            return functions[kind](*args)
        if kind == "in":
            return _isin(args[0], node.value)
        return _call(node.value, *args)
    except TypeError as exc:
        sides = " with ".join(f"{text[c.pos:c.end]!r} ({'text' if _is_text(a) else 'numbers'})"
                              for c, a in zip(node.children, args, strict=True))
        verb = "compare" if kind in ("cmp", "in") else "compute with"
        raise RuleTypeError(f"cannot {verb} {sides}", text, node.pos, str(exc)) from None


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


def apply_actions(rules: tuple[Rule, ...], masks: list[np.ndarray],
                  score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply overrides (in rule order) then clips to one score per row.

    ``masks`` are the rules' conditions. Returns the new scores and the fired matrix (one
    column per rule; a clip rule fires where the original score lies outside its bounds).

    Examples
    --------
    >>> rules = parse_rules(["x > 0 -> override 0.9", "x > 0 -> clip 0 0.5"])
    >>> mask = np.array([True, False])
    >>> score, fired = apply_actions(rules, [mask, mask], np.array([0.7, 0.2]))
    >>> score.tolist(), fired.tolist()
    ([0.5, 0.2], [[True, True], [False, False]])
    """
    out = score.copy()
    fired = []
    for rule, mask in zip(rules, masks, strict=True):
        if rule.action == "clip":
            with np.errstate(invalid="ignore"):
                mask = mask & ((score < rule.bounds[0]) | (score > rule.bounds[1]))
        elif rule.action == "override":
            out[mask] = rule.value
        fired.append(mask)
    for rule, mask in zip(rules, masks, strict=True):
        if rule.action == "clip":
            out[mask] = np.clip(out[mask], *rule.bounds)
    return out, np.column_stack(fired) if fired else np.zeros((len(score), 0), dtype=bool)


def check_actions(rules: tuple[Rule, ...], task: str, probability: bool) -> None:
    """Raise ValueError for actions the model's scores cannot take (multiclass, not in [0, 1])."""
    for i, rule in enumerate(rules):
        if rule.action != "flag" and task == "multiclass":
            raise ValueError(f"rule {i} ({rule.text!r}): override and clip act on one score; "
                             "a multiclass model has one per class, so its rules can only flag.")
        if rule.action == "override" and probability and task == "binary" and not (
                0 <= rule.value <= 1):
            raise ValueError(f"rule {i} ({rule.text!r}): override {rule.value:g} is not a "
                             "probability; override with a value in [0, 1].")


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
    parts += ["\n" + inspect.getsource(globals()[name]) + "\n" for name in _EXPORTED]
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
