"""Build the one big frame a sweep needs, column by column, without per-row Python loops."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..schema import is_missing

try:  # pandas >= 3: a public, low-level constructor from ready 2-D blocks (no copies)
    from pandas.api.internals import create_dataframe_from_blocks
except ImportError:  # older pandas: build from a dict of columns
    create_dataframe_from_blocks = None

_FEW_ROWS = 64


def coerce_values(values: np.ndarray, dtype) -> np.ndarray:
    """Turn grid values (object or float arrays, maybe with NaN) into a column-friendly array.

    Integer columns stay integer unless a missing or fractional value forces float; numeric
    codes given as objects become numbers; other dtypes are kept as objects with NaN for
    missing.
    """
    values = np.asarray(values)
    if values.dtype == dtype:
        return values
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        if values.dtype == object:
            numbers = np.array([np.nan if is_missing(v) else v for v in values],
                               dtype=np.float64)
        else:
            numbers = values.astype(np.float64, copy=False)
        if dtype.kind in "iu" and np.array_equal(numbers, np.round(numbers)):  # NaN != NaN
            return numbers.astype(dtype)
        return numbers
    return values


def sweep_frame(base: pd.DataFrame, grids: Mapping[str, np.ndarray], *,
                include_base: bool = False) -> pd.DataFrame:
    """Rows of ``base`` repeated with one feature at a time set to each of its grid values.

    The layout is block by block: first ``base`` itself if ``include_base``, then one block per
    feature in the order of ``grids``; inside the block of feature ``f`` with ``G`` values,
    row ``r * G + g`` is ``base`` row ``r`` with ``f = grid[g]``.

    Parameters
    ----------
    base : pandas.DataFrame
        The rows to sweep (n rows).
    grids : mapping
        Feature -> values.
    include_base : bool, default=False
        Start with the rows of ``base`` unchanged (a what-if scores the row and its sweep in
        one call).

    Returns
    -------
    pandas.DataFrame
        ``n * (include_base + sum(len(values)))`` rows with the columns and, where the values
        allow it, the dtypes of ``base``, and a fresh RangeIndex.
    """
    n = len(base)
    dtypes = list(base.dtypes)
    dtype_of = dict(zip(base.columns, dtypes, strict=True))
    blocks, offset = {}, n * include_base
    for feature, values in grids.items():
        values = coerce_values(values, dtype_of[feature])
        blocks[feature] = (offset, values)
        offset += n * len(values)
    if n == 1:
        take = np.zeros(offset, dtype=np.intp)
    else:
        rows = np.arange(n)
        take = np.concatenate([rows] * include_base + [
            np.repeat(rows, len(values)) for _, values in blocks.values()])
    columns = {}
    for name, dtype, source in zip(base.columns, dtypes, _column_arrays(base, dtypes),
                                   strict=True):
        data = source[take]
        if name in blocks:
            start, values = blocks[name]
            tiled = np.tile(values, n) if n > 1 else values
            if data.dtype != tiled.dtype:
                data = data.astype(object if object in (data.dtype, tiled.dtype)
                                   else np.result_type(data.dtype, tiled.dtype))
            data[start:start + len(tiled)] = tiled
        columns[name] = _restore_dtype(data, dtype)
    return _frame(columns, base.columns)


def _frame(columns: dict, names: pd.Index) -> pd.DataFrame:
    """Assemble columns into a frame with one block per dtype, as pandas would consolidate.

    A frame of 23 one-column blocks costs pandas ~0.3 ms to build and the model more to read;
    stacking same-dtype numpy columns into 2-D blocks makes both cheap.
    """
    arrays = list(columns.values())
    if create_dataframe_from_blocks is None or not all(
            isinstance(a, np.ndarray) and a.dtype.kind in "biuf" for a in arrays):
        return pd.DataFrame(columns, copy=False)
    groups: dict[np.dtype, list[int]] = {}
    for j, array in enumerate(arrays):
        groups.setdefault(array.dtype, []).append(j)
    blocks = [(np.stack([arrays[j] for j in placement]), np.asarray(placement, dtype=np.intp))
              for placement in groups.values()]
    return create_dataframe_from_blocks(blocks, index=pd.RangeIndex(len(arrays[0])),
                                        columns=names)


def _column_arrays(base: pd.DataFrame, dtypes: list) -> list[np.ndarray]:
    """Each column as a numpy array (one conversion for a few rows, per column otherwise)."""
    if len(base) <= _FEW_ROWS:
        values = base.to_numpy(dtype=object)
        return [values[:, j].astype(dtype) if isinstance(dtype, np.dtype) else values[:, j]
                for j, dtype in enumerate(dtypes)]
    return [base.iloc[:, j].to_numpy() for j in range(base.shape[1])]


def replace_column(base: pd.DataFrame, feature: str, values: np.ndarray) -> pd.DataFrame:
    """Return a copy of ``base`` with ``feature`` set to ``values`` (one per row)."""
    out = base.copy()
    coerced = coerce_values(values, base[feature].dtype)
    out[feature] = _restore_dtype(coerced, base[feature].dtype)
    return out


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
