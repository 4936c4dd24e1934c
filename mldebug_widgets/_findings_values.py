"""Values of findings: canonical JSON values, typed frames built from them, slice predicates.

A finding stores plain, immutable JSON values only: ``None`` (any missing value), ``bool``,
``int``, ``float`` (finite or infinite), ``str``, tuples and read-only mappings with string
keys. The same canonical form is written to the JSON state, embedded as literals in the
generated pytest file and rebuilt into typed frames here, so a row scored when it was
marked is scored on exactly the same frame when it is re-checked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

#: operators of a slice predicate ``(feature, op, value)``
OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "is missing", "is not missing")
_INF_TAG = "$float"


# -- canonical values ------------------------------------------------------------------------
def canon(value: Any, *, what: str = "value") -> Any:
    """Return the canonical, immutable JSON form of ``value`` (missing values become None).

    Examples
    --------
    >>> canon([np.int64(3), float("nan"), {"a": np.float32(0.5)}])
    (3, None, mappingproxy({'a': 0.5}))
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{what} has the key {key!r} ({type(key).__name__}); findings "
                                "store mappings with string keys (feature names).")
            out[key] = canon(item, what=what)
        return MappingProxyType(out)
    if isinstance(value, list | tuple | np.ndarray | pd.Index | pd.Series):
        return tuple(canon(item, what=what) for item in value)
    raise TypeError(f"{what} {value!r} is a {type(value).__name__}; findings store JSON values "
                    "only (numbers, strings, booleans, None and lists of them): convert it, "
                    "e.g. str(value).")


def thaw(value: Any) -> Any:
    """Return plain JSON types for a canonical value (infinities tagged, strict JSON).

    Examples
    --------
    >>> thaw(canon({"a": (1, float("inf"))}))
    {'a': [1, {'$float': 'inf'}]}
    """
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    if isinstance(value, float) and math.isinf(value):
        return {_INF_TAG: "inf" if value > 0 else "-inf"}
    return value


def unthaw(value: Any) -> Any:
    """Invert :func:`thaw`: lists become tuples, tagged infinities floats.

    Examples
    --------
    >>> unthaw({"a": [1, {"$float": "-inf"}]})["a"]
    (1, -inf)
    """
    if isinstance(value, dict):
        if set(value) == {_INF_TAG}:
            return float(value[_INF_TAG])
        return MappingProxyType({key: unthaw(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(unthaw(item) for item in value)
    return value


def plain(value: Any) -> Any:
    """Canonical value as mutable Python: dicts and lists (missing stays None).

    Examples
    --------
    >>> plain(canon({"a": (1, 2)}))
    {'a': [1, 2]}
    """
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


# -- typed frames -----------------------------------------------------------------------------
def dtype_specs(X: pd.DataFrame) -> dict[str, Any]:
    """Each column's dtype as a canonical value (categories kept for categorical columns).

    Examples
    --------
    >>> dtype_specs(pd.DataFrame({"a": [1], "c": pd.Categorical(["x"])}))
    {'a': 'int64', 'c': ('category', ('x',))}
    """
    out = {}
    for name in X.columns:
        dtype = X[name].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            out[str(name)] = ("category", canon(list(dtype.categories), what="a category"))
        else:
            out[str(name)] = str(dtype)
    return out


def frame(columns: Mapping[str, Sequence], dtypes: Mapping[str, Any],
          index: Sequence | None = None) -> pd.DataFrame:
    """Build a typed DataFrame from column lists of canonical values (None is missing).

    Columns keep their recorded dtype; an integer column holding a missing value or a
    fraction becomes float64 (as the what-if editor does), a categorical column holding an
    unknown value becomes object, missing values of object columns are NaN.

    Parameters
    ----------
    columns : mapping
        Column name -> list of values, in column order.
    dtypes : mapping
        Column name -> dtype (see :func:`dtype_specs`).
    index : sequence, default=None
        Row labels (tuples make a MultiIndex).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> f = frame({"a": [1, None], "b": [0.5, 2.0]}, {"a": "int64", "b": "float64"}, [7, 9])
    >>> f.dtypes.astype(str).tolist(), f.index.tolist()
    (['float64', 'float64'], [7, 9])
    """
    data = {name: _column(list(values), dtypes.get(name, "object"))
            for name, values in columns.items()}
    lengths = {len(v) for v in data.values()}
    n = lengths.pop() if lengths else 0
    if index is not None:
        labels = list(index)
        index = pd.MultiIndex.from_tuples(labels) if labels and all(
            isinstance(x, tuple) for x in labels) else pd.Index(labels)
    return pd.DataFrame(data, index=index if index is not None else pd.RangeIndex(n))


def _column(values: list, spec: Any) -> Any:
    missing = [v is None for v in values]
    if isinstance(spec, tuple | list) and len(spec) == 2 and spec[0] == "category":
        categories = list(spec[1])
        if all(m or v in categories for v, m in zip(values, missing, strict=True)):
            return pd.Categorical([np.nan if m else v for v, m in zip(values, missing,
                                                                        strict=True)],
                                  categories=categories)
        spec = "object"
    try:
        dtype = pd.api.types.pandas_dtype(spec)
    except TypeError:
        dtype = np.dtype(object)
    numbers = [v for v in values if v is not None]
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        if any(missing) or not all(isinstance(v, int) and not isinstance(v, bool)
                                   for v in numbers):
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return np.array(values, dtype=dtype)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        try:
            return np.array([np.nan if v is None else v for v in values], dtype=dtype)
        except (TypeError, ValueError):
            pass
    elif isinstance(dtype, np.dtype) and dtype.kind == "b" and not any(missing) and all(
            isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    elif not isinstance(dtype, np.dtype):  # pandas extension dtypes (Int64, string, ...)
        try:
            return pd.array([pd.NA if v is None else v for v in values], dtype=dtype)
        except (TypeError, ValueError):
            pass
    out = np.empty(len(values), dtype=object)
    out[:] = [np.nan if v is None else v for v in values]
    return out


def row_values(X: pd.DataFrame, position: int) -> dict[str, Any]:
    """Canonical values of the row at ``position`` of ``X``, by column.

    Examples
    --------
    >>> row_values(pd.DataFrame({"a": [1, 2], "b": [np.nan, 0.5]}), 0)
    {'a': 1, 'b': None}
    """
    return {str(c): canon(X[c].iloc[position], what=f"the value of {c}") for c in X.columns}


def columns_literal(X: pd.DataFrame, y: pd.Series | None = None) -> dict[str, Any]:
    """Rows as canonical column lists: ``{"index", "columns", "y"}``.

    Examples
    --------
    >>> columns_literal(pd.DataFrame({"a": [1, 2]}, index=[5, 6]), pd.Series([0, 1]))
    {'index': [5, 6], 'columns': {'a': [1, 2]}, 'y': [0, 1]}
    """
    return {"index": plain(canon(list(X.index), what="a row label")),
            "columns": {str(c): plain(canon(X[c].tolist(), what=f"a value of {c}"))
                        for c in X.columns},
            "y": None if y is None else plain(canon(y.tolist(), what="a label"))}


# -- slice predicates --------------------------------------------------------------------------
def check_predicates(predicates: Any, X: pd.DataFrame) -> tuple:
    """Validate ``(feature, op, value)`` triples and return them canonical.

    Examples
    --------
    >>> check_predicates([("a", "==", np.int64(3)), ["b", ">=", 0.5]],
    ...                  pd.DataFrame({"a": [3], "b": [1.0]}))
    (('a', '==', 3), ('b', '>=', 0.5))
    """
    if isinstance(predicates, tuple) and len(predicates) == 3 and isinstance(predicates[1], str) \
            and predicates[1] in OPS:
        predicates = [predicates]
    out = []
    for item in predicates:
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 3:
            raise ValueError(f"a predicate is (feature, op, value), e.g. ('AGE', '>=', 50); "
                             f"got {item!r}.")
        feature, op, value = item
        if feature not in X.columns:
            raise ValueError(f"unknown feature {feature!r} in the predicate {tuple(item)!r}; "
                             f"features are {list(X.columns)}.")
        if op not in OPS:
            raise ValueError(f"unknown operator {op!r} in {tuple(item)!r}; use one of {OPS}.")
        value = canon(value, what=f"the value of the predicate on {feature}")
        if op in ("==", "!=") and value is None:
            op, value = ("is missing" if op == "==" else "is not missing"), None
        if op in ("in", "not in") and not isinstance(value, tuple):
            raise ValueError(f"{op!r} takes a list of values, e.g. ({feature!r}, {op!r}, "
                             f"[1, 2]); got {value!r}.")
        if op in ("<", "<=", ">", ">=") and (value is None or isinstance(value, bool)):
            raise ValueError(f"{op!r} needs a number (or string) to compare {feature} with; "
                             f"got {value!r}.")
        out.append((str(feature), op, None if op.startswith("is ") else value))
    if not out:
        raise ValueError("a slice needs at least one predicate, e.g. [('AGE', '>=', 50)].")
    return tuple(out)


def predicate_mask(X: pd.DataFrame, predicates: Sequence) -> np.ndarray:
    """Boolean mask of the rows of ``X`` that meet every predicate (missing never compares).

    Examples
    --------
    >>> X = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, np.nan, 2.0]})
    >>> predicate_mask(X, [("a", ">=", 2), ("b", "is not missing", None)]).tolist()
    [False, False, True]
    """
    mask = np.ones(len(X), dtype=bool)
    for feature, op, value in predicates:
        column = X[feature]
        present = column.notna().to_numpy()
        if op == "is missing":
            hit = ~present
        elif op == "is not missing":
            hit = present
        elif op in ("in", "not in"):
            hit = column.isin(list(value)).to_numpy() & present
            hit = hit if op == "in" else present & ~hit
        else:
            compare = {"==": column.eq, "!=": column.ne, "<": column.lt, "<=": column.le,
                       ">": column.gt, ">=": column.ge}[op]
            hit = compare(value).fillna(False).to_numpy(dtype=bool) & present
        mask &= hit
    return mask


def rule_text(predicates: Sequence) -> str:
    """Readable text of a slice: ``"EDUCATION == 3 & AGE >= 50"``.

    Examples
    --------
    >>> rule_text((("AGE", ">=", 50), ("PAY", "is missing", None), ("E", "in", (1, 2))))
    'AGE >= 50 & PAY is missing & E in [1, 2]'
    """
    parts = []
    for feature, op, value in predicates:
        if op.startswith("is "):
            parts.append(f"{feature} {op}")
        elif op in ("in", "not in"):
            parts.append(f"{feature} {op} [{', '.join(map(str, value))}]")
        else:
            parts.append(f"{feature} {op} {value}")
    return " & ".join(parts)


_MISSING_RE = re.compile(r"^(?P<f>.+?) is (?P<neg>not )?missing$")
_INTERVAL_RE = re.compile(r"^(?P<f>.+?) ∈ \[(?P<a>[^,\]]+), (?P<b>[^\]\)]+)(?P<close>[\]\)])$")
_COMPARE_RE = re.compile(r"^(?P<f>.+?) (?P<op>==|!=|<=|>=|<|>|=) (?P<v>.+)$")


def parse_rule(text: str, X: pd.DataFrame) -> tuple:
    """Parse a slice's rule text (as :func:`find_slices` writes it) into predicates.

    ``"F = v"``, ``"F ∈ [a, b)"``, ``"F < a"``, ``"F is missing"`` joined by ``" & "``.
    The numbers of interval texts are rounded to 4 significant digits: pass the
    ``SliceResult`` itself for the exact rows.

    Examples
    --------
    >>> X = pd.DataFrame({"EDU": [1, 3], "AGE": [30, 60]})
    >>> parse_rule("EDU = 3 & AGE ∈ [50, 79]", X)
    (('EDU', '==', 3), ('AGE', '>=', 50), ('AGE', '<=', 79))
    """
    out: list[tuple] = []
    for part in (p.strip() for p in text.split(" & ")):
        if m := _MISSING_RE.match(part):
            out.append((m["f"], "is not missing" if m["neg"] else "is missing", None))
        elif m := _INTERVAL_RE.match(part):
            out.append((m["f"], ">=", _parse_value(X, m["f"], m["a"])))
            out.append((m["f"], "<=" if m["close"] == "]" else "<",
                        _parse_value(X, m["f"], m["b"])))
        elif m := _COMPARE_RE.match(part):
            op = "==" if m["op"] == "=" else m["op"]
            out.append((m["f"], op, _parse_value(X, m["f"], m["v"].strip())))
        else:
            raise ValueError(f"cannot read the slice rule part {part!r}; write predicates such "
                             "as 'EDUCATION = 3', 'AGE ∈ [50, 79]' or 'AGE >= 50', joined by "
                             "' & ', or pass a list like [('AGE', '>=', 50)].")
    return check_predicates(out, X)


def _parse_value(X: pd.DataFrame, feature: str, text: str) -> Any:
    if feature not in X.columns:
        raise ValueError(f"unknown feature {feature!r} in the slice rule; features are "
                         f"{list(X.columns)}.")
    column = X[feature]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{feature} is numeric; {text!r} is not a number.") from None
        return int(number) if number.is_integer() and pd.api.types.is_integer_dtype(column) \
            else number
    for value in pd.unique(column.dropna()):
        if str(value) == text:
            return canon(value)
    raise ValueError(f"{text!r} is not a value of {feature}; values are "
                     f"{sorted(map(str, pd.unique(column.dropna())))[:20]}.")


def slice_result_predicates(result: Any, i: int, X: pd.DataFrame) -> tuple:
    """Exact predicates of slice ``i`` of a ``SliceResult`` found on ``X``.

    A category bin becomes ``==``; a numeric bin becomes the tightest bounds on ``X`` (its
    smallest value, and the next value above it), left open where no row lies beyond, as
    the bins themselves are; so the predicates select exactly the slice's rows of ``X``.

    Examples
    --------
    >>> from mldebug_widgets import bind
    >>> from mldebug_widgets.analysis import find_slices
    >>> X = pd.DataFrame({"a": np.arange(100.0), "c": ["x", "y"] * 50})
    >>> s = bind(lambda df: np.zeros(len(df)), X, (X["a"] >= 90) * 1.0, task="regression")
    >>> slice_result_predicates(find_slices(s, max_predicates=1, k=1), 0, s.X)
    (('a', '>=', 90.0),)
    """
    if not result.index.equals(X.index):
        raise ValueError("this SliceResult was found on other rows than the session's; find "
                         "the slices on this session (find_slices(session)).")
    if not 0 <= i < len(result):
        raise IndexError(f"slice {i} does not exist: there are {len(result)} slices.")
    out: list[tuple] = []
    for feature, label in result.table["predicates"].iloc[i]:
        # the per-feature bin codes (a documented field of SliceResult, kept out of its repr)
        members = result._codes[feature] == result._labels[feature].index(label)
        column = X[feature]
        values = column[members]
        if label == "missing":
            out.append((feature, "is missing", None))
            continue
        distinct = pd.unique(values)
        if len(distinct) == 1 and str(distinct[0]) == label:
            out.append((feature, "==", distinct[0]))
            continue
        numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
        lo, hi = float(np.nanmin(numbers[members])), float(np.nanmax(numbers[members]))
        bounded = len(out)
        if (numbers < lo).any():
            out.append((feature, ">=", _same_kind(lo, column)))
        above = numbers[numbers > hi]
        if len(above):
            out.append((feature, "<", _same_kind(float(above.min()), column)))
        if len(out) == bounded:  # the bin holds every non-missing value
            out.append((feature, "is not missing", None))
    return check_predicates(out, X)


def _same_kind(number: float, column: pd.Series) -> Any:
    return int(number) if pd.api.types.is_integer_dtype(column) else number
