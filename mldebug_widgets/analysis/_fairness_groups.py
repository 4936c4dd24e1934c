"""Grouping rows by sensitive features for the fairness metrics (and their intersections).

Categorical values are kept, numeric features with many values are binned, NaN is the group
``"missing"``; an intersection of several features is one group per observed combination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..session import DebugSession

OVERALL = "overall"
MISSING = "missing"
NO_SENSITIVE = ("no sensitive features are bound to this session; bind them with "
                "mdw.bind(model, X, y, sensitive_features=['SEX', 'AGE']) or pass "
                "sensitive_features=[...] naming columns of X.")
Bins = Mapping[str, Sequence[float] | int] | None


# -- groups ---------------------------------------------------------------------------------
def sensitive_groups(session: DebugSession, sensitive_features: str | Sequence[str] | None = None,
                     *, bins: Bins = None, max_categories: int = 10) -> pd.DataFrame:
    """Label every row with its group of each sensitive feature.

    Categorical values are kept as they are; a numeric feature with more than
    ``max_categories`` distinct values (AGE) is cut into quartile bins unless ``bins`` gives
    its edges (intervals ``[a, b)``, the last one closed) or a number of quantile bins.
    Missing values form their own group, ``"missing"``.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    sensitive_features : str or list of str, default=None
        Bound sensitive features (or columns of ``X``); default all bound ones.
    bins : dict, default=None
        Per feature, bin edges (``{"AGE": [0, 25, 40, 120]}``) or a number of quantile bins.
    max_categories : int, default=10
        Numeric features with more distinct values are binned.

    Returns
    -------
    pandas.DataFrame
        One categorical column per feature (categories in display order), indexed like ``X``.

    Raises
    ------
    ValueError
        No sensitive feature bound, an unknown name, values outside the given bin edges, or
        a feature with only one group.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.1, 0.9, 0.4], "age": [22, 45, 31]})
    >>> s = bind(lambda df: df["a"].to_numpy(), X, [0, 1, 1], task="binary",
    ...          sensitive_features=["age"])
    >>> sensitive_groups(s, bins={"age": [0, 30, 120]})["age"].tolist()
    ['[0, 30)', '[30, 120]', '[30, 120]']
    """
    names = _feature_names(session, sensitive_features)
    unknown = set(bins or {}) - set(names)
    if unknown:
        raise ValueError(f"bins given for {sorted(unknown)}, which are not among the sensitive "
                         f"features {names}; pass bins only for those.")
    columns = {}
    for name in names:
        column = (session.sensitive_features[name] if session.sensitive_features is not None
                  and name in session.sensitive_features else session.X[name])
        labels = _label(column, name, (bins or {}).get(name), max_categories, session)
        if len(labels.categories) < 2:
            raise ValueError(f"sensitive feature {name!r} has one group only "
                             f"({labels.categories.tolist()}); fairness compares groups, so "
                             "bind a feature with at least two groups or leave this one out.")
        columns[name] = labels
    return pd.DataFrame(columns, index=session.X.index)


def _feature_names(session: DebugSession, names: str | Sequence[str] | None) -> list[str]:
    bound = [] if session.sensitive_features is None else list(session.sensitive_features)
    if names is None:
        if not bound:
            raise ValueError(NO_SENSITIVE)
        return bound
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in bound and name not in session.X.columns:
            raise ValueError(f"unknown sensitive feature {name!r}; bound sensitive features are "
                             f"{bound}, or name a column of X.")
    if not names:
        raise ValueError(NO_SENSITIVE)
    return names


def _label(column: pd.Series, name: str, spec: Any, max_categories: int,
           session: DebugSession) -> pd.Categorical:
    missing = column.isna().to_numpy()
    spec = _binning(column, name, spec, max_categories, session)
    if spec is None:
        found, uniques = pd.factorize(column, use_na_sentinel=True)
        values = [_py(u) for u in uniques]
        try:
            order = sorted(range(len(values)), key=values.__getitem__)
        except TypeError:
            order = sorted(range(len(values)), key=lambda i: str(values[i]))
        rank = np.empty(len(order), dtype=np.intp)
        rank[order] = np.arange(len(order))
        codes = np.where(found < 0, len(order), rank[np.maximum(found, 0)]) if len(order) \
            else np.zeros(len(column), dtype=np.intp)
        categories = [values[i] for i in order]
    else:
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        edges = bin_edges(values, spec)
        outside = ~missing & ((values < edges[0]) | (values > edges[-1]))
        if outside.any():
            raise ValueError(f"{int(outside.sum())} value(s) of {name!r} fall outside the bin "
                             f"edges {edges.tolist()} (e.g. {values[outside][0]:g}); widen the "
                             f"edges, e.g. bins={{{name!r}: [{np.nanmin(values):g}, ..., "
                             f"{np.nanmax(values):g}]}}.")
        categories = _bin_names(edges)
        codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(categories) - 1)
    codes = np.where(missing, len(categories), codes)
    used = np.bincount(codes, minlength=len(categories) + 1) > 0  # drop unused categories
    renumber = np.cumsum(used) - 1
    kept = [c for c, u in zip([*categories, MISSING], used, strict=True) if u]
    return pd.Categorical.from_codes(renumber[codes], categories=pd.Index(kept, dtype=object))


def _binning(column: pd.Series, name: str, spec: Any, max_categories: int,
             session: DebugSession) -> Any:
    """Return the bins of a feature: as given, 4 quantiles for many numbers, or None."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    categorical = name in session.schema and session.schema[name].kind == "categorical"
    if spec is None and numeric and not categorical and column.nunique() > max_categories:
        return 4
    return spec


def group_edges(session: DebugSession, sensitive_features: Any = None, *, bins: Bins = None,
                max_categories: int = 10) -> dict[str, np.ndarray | None]:
    """Return each sensitive feature's bin edges as the groups use them (None: not binned).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.1, 0.9, 0.4], "age": [22, 45, 31], "g": ["x", "y", "x"]})
    >>> s = bind(lambda df: df["a"].to_numpy(), X, [0, 1, 1], task="binary",
    ...          sensitive_features=["age", "g"])
    >>> group_edges(s, bins={"age": [0, 30, 120]})
    {'age': array([  0.,  30., 120.]), 'g': None}
    """
    edges = {}
    for name in _feature_names(session, sensitive_features):
        column = (session.sensitive_features[name] if session.sensitive_features is not None
                  and name in session.sensitive_features else session.X[name])
        spec = _binning(column, name, (bins or {}).get(name), max_categories, session)
        edges[name] = None if spec is None else bin_edges(
            column.to_numpy(dtype=np.float64, na_value=np.nan), spec)
    return edges


def bin_edges(values: np.ndarray, spec: Sequence[float] | int) -> np.ndarray:
    """Return the bin edges of a numeric sensitive feature: given, or ``spec`` quantile bins.

    Examples
    --------
    >>> bin_edges(np.array([1.0, 2.0, 3.0, 4.0, np.nan]), 2).tolist()
    [1.0, 2.5, 4.0]
    """
    if isinstance(spec, int | np.integer):
        edges = np.unique(np.nanquantile(values, np.linspace(0, 1, int(spec) + 1)))
    else:
        edges = np.asarray(sorted(spec), dtype=np.float64)
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0]]) if len(edges) else np.array([0.0, 0.0])
    return edges


def bin_labels(values: Any, edges: Sequence[float]) -> np.ndarray:
    """Label numbers with their bin, as the fairness groups do (``"[0, 30)"``, ``"missing"``).

    Values outside the edges fall into the first or last bin (a deployed model meets ages
    the bound data did not have).

    Examples
    --------
    >>> bin_labels([25, 30, np.nan, 250], [0, 30, 200]).tolist()
    ['[0, 30)', '[30, 200]', 'missing', '[30, 200]']
    """
    edges = np.asarray(edges, dtype=np.float64)
    values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64,
                                                                         na_value=np.nan)
    names = np.array([*_bin_names(edges), MISSING], dtype=object)
    codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return names[np.where(np.isnan(values), len(names) - 1, codes)]


def _bin_names(edges: np.ndarray) -> list[str]:
    return [f"[{edges[i]:g}, {edges[i + 1]:g}{']' if i == len(edges) - 2 else ')'}"
            for i in range(len(edges) - 1)]


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _codes(groups: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Row → group number (observed combinations in display order) and the group index."""
    combined, cells = np.zeros(len(groups), dtype=np.int64), 1
    for name in groups:
        combined = combined * len(groups[name].cat.categories) + groups[name].cat.codes.to_numpy()
        cells *= len(groups[name].cat.categories)
    if cells <= max(len(groups), 1 << 16):  # few combinations: count them, no sort
        present = np.flatnonzero(np.bincount(combined, minlength=cells))
        number = np.zeros(cells, dtype=np.intp)
        number[present] = np.arange(len(present))
        codes = number[combined]
    else:
        present, codes = np.unique(combined, return_inverse=True)
    parts, rest = [], present
    for name in reversed(list(groups)):
        categories = groups[name].cat.categories
        parts.append(categories[rest % len(categories)])
        rest = rest // len(categories)
    parts = parts[::-1]
    if len(parts) == 1:
        index = pd.Index(list(parts[0]), dtype=object, name=groups.columns[0])
    else:
        index = pd.MultiIndex.from_arrays([list(p) for p in parts], names=list(groups))
    return codes.astype(np.intp), index


def _with_overall(index: pd.Index) -> pd.Index:
    overall = OVERALL if index.nlevels == 1 else (OVERALL,) * index.nlevels
    if index.nlevels == 1:
        return index.append(pd.Index([overall], dtype=object)).rename(index.name)
    return index.append(pd.MultiIndex.from_tuples([overall], names=index.names))


def _check_threshold(threshold: Any) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = np.nan
    if not np.isfinite(value):
        raise ValueError(f"threshold must be a finite number, e.g. 0.5; got {threshold!r}.")
    return value


def _grouping(session: DebugSession, sensitive_features: Any, bins: Bins,
              max_categories: int) -> tuple[np.ndarray, pd.Index]:
    names = tuple(_feature_names(session, sensitive_features))
    key = ("fairness.groups", names, _bins_key(bins), max_categories)
    return session.cached(key, lambda: _codes(sensitive_groups(
        session, list(names), bins=bins, max_categories=max_categories)))


def _bins_key(bins: Bins) -> tuple:
    return tuple(sorted((k, v if isinstance(v, int) else tuple(map(float, v)))
                        for k, v in (bins or {}).items()))
