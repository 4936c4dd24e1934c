"""The vectorised primitives of the rules language, shared by evaluation and export.

``_values`` ... ``_call`` and ``_prediction`` compute every operator of the language on numpy
arrays, with the missing-value semantics of ``_rules``: comparisons and ``in`` with a missing
operand are False, arithmetic, ``abs``, ``min`` and ``max`` propagate missing values. The
evaluator (``_rules_eval``) calls them, and ``_rules_export`` copies their source verbatim into
exported pytest files, so they use only numpy and pandas (nothing else may be imported here):
the export evaluates exactly as :func:`~mldebug_widgets.analysis._rules_eval.condition_mask`
does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
