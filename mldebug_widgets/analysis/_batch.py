"""Build the one big frame a sweep needs, column by column, without per-row Python loops."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..schema import is_missing


def coerce_values(values: np.ndarray, dtype) -> np.ndarray:
    """Turn grid values (object or float arrays, maybe with NaN) into a column-friendly array.

    Integer columns stay integer unless a missing value forces float; numeric codes given
    as objects become numbers; other dtypes are kept as objects with NaN for missing.
    """
    values = np.asarray(values)
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        numbers = np.array([np.nan if is_missing(v) else v for v in values], dtype=np.float64) \
            if values.dtype == object else values.astype(np.float64)
        if dtype.kind in "iu" and not np.isnan(numbers).any() and \
                np.all(numbers == np.round(numbers)):
            return numbers.astype(dtype)
        return numbers
    return values


def sweep_frame(base: pd.DataFrame, grids: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Rows of ``base`` repeated with one feature at a time set to each of its grid values.

    The layout is block by block in the order of ``grids``; inside the block of feature
    ``f`` with ``G`` values, row ``r * G + g`` is ``base`` row ``r`` with ``f = grid[g]``.

    Parameters
    ----------
    base : pandas.DataFrame
        The rows to sweep (n rows).
    grids : mapping
        Feature -> values.

    Returns
    -------
    pandas.DataFrame
        ``n * sum(len(values))`` rows with the columns (and, where possible, dtypes) of
        ``base`` and a fresh RangeIndex.
    """
    n = len(base)
    blocks = [(f, coerce_values(v, base[f].dtype)) for f, v in grids.items()]
    columns = {}
    for name in base.columns:
        column = base[name]
        source = column.to_numpy()
        parts = [np.tile(vals, n) if name == f else np.repeat(source, len(vals))
                 for f, vals in blocks]
        data = parts[0] if len(parts) == 1 else _concat(parts)
        columns[name] = _restore_dtype(data, column.dtype)
    return pd.DataFrame(columns, copy=False)


def replace_column(base: pd.DataFrame, feature: str, values: np.ndarray) -> pd.DataFrame:
    """Return a copy of ``base`` with ``feature`` set to ``values`` (one per row)."""
    out = base.copy()
    coerced = coerce_values(values, base[feature].dtype)
    out[feature] = _restore_dtype(coerced, base[feature].dtype)
    return out


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    if any(p.dtype == object for p in parts):
        return np.concatenate([p.astype(object) for p in parts])
    return np.concatenate(parts)


def _restore_dtype(data: np.ndarray, dtype):
    if isinstance(dtype, np.dtype):
        if dtype.kind == "b" and data.dtype != object:
            return data.astype(bool)
        return data
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Categorical(data, categories=dtype.categories, ordered=dtype.ordered)
    try:
        return pd.array(data, dtype=dtype)
    except (TypeError, ValueError):
        return data
