"""The rules of :meth:`Constraints.project`, vectorised, and the cell helpers they share.

``project_frame`` moves candidate rows into the constraints with one numpy pass over all
numeric columns (bounds for every row at once, monotone from each row's base), then the
categorical ones. ``project_numbers`` is the numeric core on a plain matrix: the minimal-flip
search, which works on an encoded matrix, calls it so that it keeps exactly the same rules.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

try:  # pandas >= 3: a public, low-level constructor from ready 2-D blocks (no copies)
    from pandas.api.internals import create_dataframe_from_blocks
except ImportError:  # older pandas: build from a dict of columns
    create_dataframe_from_blocks = None

NUMERIC = ("numeric", "integer")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def integer_bounds(lo: float, hi: float) -> tuple[int, int]:
    """Return whole-number bounds inside ``[lo, hi]`` (else the nearest whole number)."""
    ilo, ihi = math.ceil(lo), math.floor(hi)
    if ilo > ihi:  # no whole number inside: the nearest one
        ilo = ihi = round((lo + hi) / 2)
    return ilo, ihi


def static_range(constraints: Any, feature: str) -> tuple[float, float]:
    """Return the range of a number before the monotone rule: override or widened."""
    spec = constraints.schema[feature]
    if spec.kind not in NUMERIC:
        raise ValueError(f"{feature} is {spec.kind}; use choices() for its values.")
    if feature in constraints.ranges:
        return constraints.ranges[feature]
    if spec.min is None or spec.max is None:
        raise ValueError(f"{feature} has no observed range; give one with "
                         f"ranges={{{feature!r}: (lo, hi)}}.")
    lo, hi = float(spec.min), float(spec.max)
    return lo - abs(constraints.margin * lo), hi + abs(constraints.margin * hi)


def number_bounds(constraints: Any, names: list[str],
                  base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return :meth:`Constraints.bounds` of ``names`` for every row of ``base`` at once.

    ``base`` has shape ``(m, len(names))`` (float, NaN for missing); so do ``lo`` and ``hi``.
    The rule is :meth:`Constraints.bounds` itself, called once per feature, or once per
    distinct base value of a monotone feature.
    """
    lo, hi = np.empty(base.shape), np.empty(base.shape)
    for j, name in enumerate(names):
        if constraints.monotone.get(name, 0):
            values, inverse = np.unique(base[:, j], return_inverse=True)
            pairs = np.array([constraints.bounds(name, v) for v in values]).reshape(-1, 2)
            lo[:, j], hi[:, j] = pairs[inverse.ravel(), 0], pairs[inverse.ravel(), 1]
        else:
            lo[:, j], hi[:, j] = constraints.bounds(name)
    return lo, hi


def number_rules(constraints: Any, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return the integer columns of ``names`` and where a missing value is not allowed."""
    ints = np.array([j for j, name in enumerate(names)
                     if constraints.schema[name].kind == "integer"], dtype=np.intp)
    fixed = np.array([not constraints.may_be_missing(name) for name in names], dtype=bool)
    return ints, fixed


def project_numbers(constraints: Any, names: list[str], values: np.ndarray, base: np.ndarray,
                    bounds: tuple[np.ndarray, np.ndarray] | None = None,
                    rules: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Move numbers into the constraints: clip them to the bounds, round integers.

    ``values`` has shape ``(n, k)`` and ``base`` ``(1, k)`` or ``(n, k)`` (float; NaN is
    missing). A missing value stays missing only where :meth:`Constraints.may_be_missing`,
    else it takes the base's value. ``bounds`` (:func:`number_bounds` of ``base``) and
    ``rules`` (:func:`number_rules`) may be given when already known.
    """
    lo, hi = number_bounds(constraints, names, base) if bounds is None else bounds
    ints, fixed = number_rules(constraints, names) if rules is None else rules
    out = np.clip(values, lo, hi)
    if len(ints):
        out[:, ints] = np.round(out[:, ints])
    missing = np.isnan(values)
    if missing.any():
        out = np.where(missing & fixed, base, out)
    return out


def project_frame(constraints: Any, frame: pd.DataFrame, base_row: Any) -> pd.DataFrame:
    """Implement :meth:`Constraints.project` (one base row, or one per candidate)."""
    n = len(frame)
    per_row = isinstance(base_row, pd.DataFrame) and len(base_row) == n and n > 1
    if isinstance(base_row, pd.DataFrame) and len(base_row) not in (1, n):
        raise ValueError(f"base_row must be one row, or one per row of frame ({n}); got "
                         f"{len(base_row)} rows.")
    if per_row:
        missing = [c for c in frame.columns if c in constraints.schema and c not in base_row]
        if missing:
            raise ValueError(f"base_row lacks the columns {missing}; pass rows with the "
                             "frame's columns.")
        base: Any = {c: base_row[c].to_numpy() for c in frame.columns if c in base_row}
    else:
        base = as_series(base_row)
    schema, plan, base_values = constraints.schema, {}, {}
    for name in frame.columns:  # checks in column order, as the rules are applied
        if name not in schema:
            continue
        base_values[name] = base[name]
        if name in constraints.immutable:
            continue
        if schema[name].kind in NUMERIC:
            plan[name] = static_range(constraints, name)
        else:
            plan[name] = constraints.choices(name)
    names, dtypes = list(frame.columns), list(frame.dtypes)
    numbers = [name for name in plan if schema[name].kind in NUMERIC]
    projected = {}
    if numbers:
        if all(isinstance(d, np.dtype) and d.kind in "biuf" for d in dtypes):
            at = {name: j for j, name in enumerate(names)}  # one conversion for every column
            values = frame.to_numpy(dtype=np.float64)[:, [at[name] for name in numbers]]
        else:
            values = np.column_stack([to_float(frame[name].to_numpy()) for name in numbers])
        bases = np.column_stack([base_floats(base_values[name], per_row) for name in numbers])
        out = np.asfortranarray(project_numbers(constraints, numbers, values, bases))
        projected = {name: out[:, j] for j, name in enumerate(numbers)}
    columns = {}
    for name, dtype in zip(names, dtypes, strict=True):
        if name not in schema:
            columns[name] = frame[name]
            continue
        spec, b = schema[name], base_values[name]
        if name in projected:
            new = projected[name]
        elif name in plan:
            new = _project_category(constraints, name, frame[name].to_numpy(), b, plan[name])
        else:
            kind = dtype if isinstance(dtype, np.dtype) else frame[name].to_numpy().dtype
            fill = object if kind == np.dtype(object) else None
            new = np.array(b, dtype=fill) if per_row else np.full(n, b, dtype=fill)
        if spec.kind == "integer" and spec.dtype in INT_DTYPES:
            dtype = np.dtype(spec.dtype)
        columns[name] = with_dtype(new, dtype)
    return assemble(columns, frame.index)


def assemble(columns: dict, index: pd.Index) -> pd.DataFrame:
    """Return ``pd.DataFrame(columns, index=index)``, built from 2-D blocks when it can.

    Numeric numpy columns are stacked into one block per dtype (as pandas consolidates), so
    neither the frame nor the model reading it pays for one block per column.
    """
    arrays = list(columns.values())
    if create_dataframe_from_blocks is None or not arrays or not all(
            isinstance(a, np.ndarray) and a.dtype.kind in "biuf" for a in arrays) or not all(
            type(name) is str for name in columns):
        return pd.DataFrame(columns, index=index, copy=False)
    groups: dict[np.dtype, list[int]] = {}
    for j, array in enumerate(arrays):
        groups.setdefault(array.dtype, []).append(j)
    blocks = [(np.stack([arrays[j] for j in placement]), np.asarray(placement, dtype=np.intp))
              for placement in groups.values()]
    return create_dataframe_from_blocks(blocks, index=index, columns=pd.Index(list(columns)))


def _project_category(constraints: Any, name: str, values: np.ndarray, base: Any,
                      allowed: np.ndarray) -> np.ndarray:
    if _exact_numbers(values) and _exact_numbers(allowed):  # numpy only, same answers
        out = values.astype(object)
        missing = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), bool)
        bad = ~np.isin(values, allowed) & ~missing
        series = None
    else:
        series = pd.Series(values, dtype=object)
        out = series.to_numpy(dtype=object).copy()
        missing = series.isna().to_numpy()
        bad = ~series.isin(list(allowed)).to_numpy() & ~missing
    if bad.any():
        rows = np.flatnonzero(bad)
        codes = (values[rows].astype(np.float64) if series is None else
                 pd.to_numeric(series[bad], errors="coerce").to_numpy(np.float64))
        fallback = base[rows] if isinstance(base, np.ndarray) else base
        if allowed.dtype.kind in "iuf":
            known = ~np.isnan(codes)
            nearest = allowed[np.argmin(np.abs(allowed[None, :] - codes[known, None]), axis=1)]
            out[rows[known]] = list(nearest)
            out[rows[~known]] = fallback[~known] if isinstance(base, np.ndarray) else base
        else:
            out[rows] = fallback
    if missing.any() and not constraints.may_be_missing(name):
        out[missing] = base[missing] if isinstance(base, np.ndarray) else base
    return out


def _exact_numbers(values: np.ndarray) -> bool:
    """Whether numpy compares these values as Python would: numbers below 2**53, or bools."""
    if values.dtype.kind == "b":
        return True
    with np.errstate(invalid="ignore"):
        return values.dtype.kind in "iuf" and not (
            np.abs(values.astype(np.float64)) >= 2.0 ** 53).any()


def base_floats(values: Any, per_row: bool) -> np.ndarray:
    """Return a base value (or one per row) as float64, NaN for missing."""
    if not per_row:
        return np.array([np.nan if pd.isna(values) else float(values)], dtype=np.float64)
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    return np.array([np.nan if pd.isna(v) else float(v) for v in values], dtype=np.float64)


def as_series(base_row: pd.DataFrame | pd.Series) -> pd.Series:
    """Return the one base row as a Series (from a one-row DataFrame or a Series)."""
    if isinstance(base_row, pd.DataFrame):
        if len(base_row) != 1:
            raise ValueError(f"base_row must be one row; got {len(base_row)} rows.")
        return base_row.iloc[0]
    if isinstance(base_row, pd.Series):
        return base_row
    raise TypeError(f"base_row must be a one-row DataFrame or a Series; got "
                    f"{type(base_row).__name__}.")


def as_frame(base_row: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Return the one base row as a one-row DataFrame."""
    if isinstance(base_row, pd.DataFrame):
        as_series(base_row)
        return base_row
    series = as_series(base_row)
    frame = series.to_frame().T
    return frame.infer_objects()


def to_float(values: np.ndarray) -> np.ndarray:
    """Return values as float64 (non-numbers become NaN)."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)


def with_dtype(values: np.ndarray, dtype: Any) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Return a column of ``values`` in ``dtype`` where possible (ints stay ints unless NaN)."""
    if isinstance(dtype, np.dtype):
        if values.dtype == dtype:
            return values
        if dtype.kind in "iub" and values.dtype != object:
            floats = values.astype(np.float64)
            return floats if np.isnan(floats).any() else values.astype(dtype)
        try:
            return values.astype(dtype)
        except (TypeError, ValueError):
            return to_float(values) if dtype.kind in "iub" else values
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):
        return values
