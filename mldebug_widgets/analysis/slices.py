"""Slice discovery: the conjunctions of feature bins where the model errs most.

A *slice* is a conjunction of up to ``max_predicates`` predicates ``feature = bin`` (a
quantile interval of a numeric feature, a category, or ``missing``). :func:`find_slices`
returns the ``k`` slices with the highest SliceLine score (Sagadeeva & Boehm, "SliceLine:
Fast, Linear-Algebra-based Slice Finding for ML Model Debugging", SIGMOD 2021)::

    score = alpha * (mean error in slice / mean error - 1) - (1 - alpha) * (n / size - 1)

It enumerates the same lattice as the ``sliceline`` package (``sliceline.Slicefinder``) with
the same pruning, so on the same integer-coded features it returns the same top slices, but
evaluates each level with one ``np.bincount`` per combination of features instead of sparse
matrix products: every feature is binned to integer codes once, and the statistics of all
candidate slices over features ``(a, b, c)`` come from the combined code
``(code_a * n_b + code_b) * n_c + code_c``. This module holds the public API, the input
checks and the binning of features into predicates; the lattice search is in
:mod:`mldebug_widgets.analysis._slice_search`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..session import DebugSession
from ._slice_search import _search
from .residuals import bin_labels, residuals

__all__ = ["SliceResult", "find_slices"]

BinSpec = int | Sequence[float]
#: columns of :meth:`SliceResult.to_frame`
COLUMNS = ("slice", "predicates", "level", "size", "error", "max_error", "score")


@dataclass(frozen=True, eq=False)
class SliceResult:
    """The top slices found by :func:`find_slices`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per slice, best first: ``slice`` (readable text), ``predicates`` (tuple of
        ``(feature, bin label)``), ``level`` (number of predicates), ``size`` (rows),
        ``error`` (mean error in the slice), ``max_error`` and ``score`` (SliceLine score).
    average_error : float
        Mean error over all rows.
    min_support : int
        The minimum slice size that was used (in rows).
    alpha : float
        The weight of the error term in the score.
    index : pandas.Index
        Index labels of the rows searched (``session.X.index``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"c": ["a", "b"] * 50})
    >>> s = bind(lambda df: np.zeros(len(df)), X, (X["c"] == "b") * 1.0, task="regression")
    >>> result = find_slices(s, min_support=10)
    >>> result.to_frame()[["slice", "size", "error"]].to_dict("list")
    {'slice': ['c = b'], 'size': [50], 'error': [1.0]}
    >>> result.rows(0)[:3].tolist()
    [1, 3, 5]
    """

    table: pd.DataFrame
    average_error: float
    min_support: int
    alpha: float
    index: pd.Index
    _codes: dict[str, np.ndarray] = field(repr=False)
    _labels: dict[str, list[str]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """Return the table of slices (a copy), best first.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"c": ["a", "b"] * 50})
        >>> s = bind(lambda df: df["c"].eq("a") * 1.0, X, [1.0] * 100, task="regression")
        >>> find_slices(s, min_support=10).to_frame().columns.tolist()
        ['slice', 'predicates', 'level', 'size', 'error', 'max_error', 'score']
        """
        return self.table.copy()

    def mask(self, i: int) -> np.ndarray:
        """Boolean mask of the rows in slice ``i`` (position in :meth:`to_frame`).

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"c": ["a", "b"] * 50})
        >>> s = bind(lambda df: df["c"].eq("a") * 1.0, X, [1.0] * 100, task="regression")
        >>> int(find_slices(s, min_support=10).mask(0).sum())
        50
        """
        if not 0 <= i < len(self.table):
            raise IndexError(f"slice {i} does not exist: there are {len(self.table)} slices "
                             f"(positions 0 to {len(self.table) - 1}).")
        mask = np.ones(len(self.index), dtype=bool)
        for feature, label in self.table["predicates"].iloc[i]:
            mask &= self._codes[feature] == self._labels[feature].index(label)
        return mask

    def rows(self, i: int) -> pd.Index:
        """Index labels of the rows in slice ``i``, e.g. for ``session.selected_rows``.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"c": ["a", "b", "b"] * 20})
        >>> s = bind(lambda df: df["c"].eq("a") * 1.0, X, [1.0] * 60, task="regression")
        >>> find_slices(s, min_support=10).rows(0)[:2].tolist()
        [1, 2]
        """
        return self.index[self.mask(i)]


def find_slices(
    session: DebugSession,
    *,
    errors: str | Sequence[float] | np.ndarray | pd.Series | None = None,
    max_predicates: int = 3,
    k: int = 10,
    min_support: int | float = 0.01,
    alpha: float = 0.95,
    bins: int | Mapping[str, BinSpec] = 10,
    features: Sequence[str] | None = None,
) -> SliceResult:
    """Find the ``k`` slices (conjunctions of feature bins) where the model errs most.

    Every feature is binned once (numeric features at quantiles, categories as they are,
    missing values as their own bin, see :func:`~mldebug_widgets.analysis.residuals.bin_labels`),
    then the lattice of slices of 1 to ``max_predicates`` predicates is searched level by
    level as in SliceLine: a slice is a candidate only if all its parents have at least
    ``min_support`` rows and a positive error sum, and if an upper bound of its score beats
    the current k-th best score. The result is the same as ``sliceline.Slicefinder(alpha,
    k, max_l=max_predicates, min_sup)`` fitted on the bin codes and the errors (up to
    floating-point ties), including its conventions: only slices with a positive score are
    returned, and slices tied with the k-th score are all kept (so there may be more than
    ``k`` rows, or fewer).

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    errors : str, array-like or None, default=None
        Non-negative error of each row. None: ``"misclassification"`` for classifiers (1 if
        the predicted class, at probability 0.5 / decision 0 for binary or the argmax for
        multiclass, is not the label, else 0: the slice's ``error`` is its error rate, as in
        the SliceLine paper) and ``"squared"`` for regressors. Another string is a residual
        kind, e.g. ``"logloss"`` (weighs confident mistakes; it favours regions of noisy
        labels with confident predictions) or ``"absolute"``; see
        :func:`~mldebug_widgets.analysis.residuals.residuals`. An array gives one error per
        row of ``session.X``; a Series must have the index of ``session.X``.
    max_predicates : int, default=3
        Maximum number of predicates of a slice (SliceLine's ``max_l``).
    k : int, default=10
        Number of slices to return (more if several tie with the k-th score).
    min_support : int or float, default=0.01
        Minimum slice size: a number of rows, or a fraction of the rows if in (0, 1)
        (``int(min_support * n)`` as in SliceLine, at least 1).
    alpha : float, default=0.95
        Weight of the error term in the score, in (0, 1]; lower values favour larger slices.
    bins : int or mapping, default=10
        Quantile bins per numeric feature, or a mapping ``{feature: bins or edges}`` for some
        features (the others get 10), e.g. ``{"AGE": [0, 30, 50, 200]}``. With edges, bins
        are ``[e0, e1), ..., [e(m-1), em]``, and values outside get ``< e0`` / ``> em`` bins.
    features : sequence of str, default=None
        The features to slice on (default: all features of the session).

    Returns
    -------
    SliceResult
        The slices, best first; ``.to_frame()`` for the table, ``.rows(i)`` for the rows.

    Raises
    ------
    ValueError
        For errors of the wrong length, negative or non-finite errors, unknown features or
        out-of-range parameters; the message says how to fix it.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mldebug_widgets import bind
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.integers(0, 3, 600), "b": rng.choice(["x", "y"], 600)})
    >>> bad = (X["a"] == 2) & (X["b"] == "y")
    >>> s = bind(lambda df: np.zeros(len(df)), X, bad * 1.0 + 0.1, task="regression")
    >>> top = find_slices(s, k=3, max_predicates=2, min_support=20).to_frame()
    >>> top["slice"].iloc[0], int(top["size"].iloc[0]) == int(bad.sum())
    ('a = 2 & b = y', True)
    """
    n = len(session.X)
    err = _errors(session, errors)
    names = _features(session, features)
    for name, value in (("max_predicates", max_predicates), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, e.g. {name}=3; got {value!r}.")
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1] (e.g. alpha=0.95); got {alpha!r}.")
    min_sup = _min_support(min_support, n)
    codes, labels, interval = {}, {}, {}
    for name in names:
        codes[name], labels[name], interval[name] = _encode(session, name, bins)
    found, stats = _search([codes[f] for f in names], [len(labels[f]) for f in names], err,
                           alpha=float(alpha), k=int(k), max_level=int(max_predicates),
                           min_sup=min_sup)
    predicates = [tuple((names[f], labels[names[f]][v]) for f, v in slice_) for slice_ in found]
    table = pd.DataFrame({
        "slice": [" & ".join(_text(f, lab, interval[f]) for f, lab in p) for p in predicates],
        "predicates": pd.Series(predicates, dtype=object),
        "level": np.array([len(p) for p in predicates], dtype=np.int64),
        "size": stats[:, 3].astype(np.int64),
        "error": stats[:, 1] / np.maximum(stats[:, 3], 1),
        "max_error": stats[:, 2],
        "score": stats[:, 0],
    }, columns=list(COLUMNS))
    return SliceResult(table, float(err.mean()), min_sup, float(alpha), session.X.index,
                       codes, labels)


# -- input ----------------------------------------------------------------------------
def _errors(session: DebugSession, errors: Any) -> np.ndarray:
    n = len(session.X)
    if errors is None or isinstance(errors, str):
        kind = errors or "auto"
        if kind == "auto":
            kind = "squared" if session.task == "regression" else "misclassification"
        if kind == "misclassification":
            values = _misclassification(session)
        else:
            values = residuals(session, kind).to_numpy(dtype=np.float64)
    else:
        if isinstance(errors, pd.Series) and len(errors) == n \
                and not errors.index.equals(session.X.index):
            raise ValueError("errors is a Series whose index differs from session.X.index; "
                             "align it first, e.g. errors.reindex(session.X.index), or pass "
                             "errors.to_numpy().")
        values = np.array(errors, dtype=np.float64, copy=True)
        if values.ndim != 1 or len(values) != n:
            raise ValueError(f"errors has shape {values.shape} but the session has {n} rows; "
                             "pass one error per row of session.X, e.g. "
                             "residuals(session, 'squared').")
    if not np.isfinite(values).all():
        raise ValueError(f"errors has {int((~np.isfinite(values)).sum())} missing or infinite "
                         "value(s); drop those rows from the session or fill them.")
    if (values < 0).any():
        raise ValueError("errors must be non-negative (slice scores compare mean errors); use "
                         "errors='absolute' or 'squared' (regression), 'logloss' "
                         "(classification), or pass np.abs(your_errors).")
    if values.sum() <= 0:
        raise ValueError("every error is zero, so no slice is worse than the rest; check the "
                         "errors, or pass another kind (e.g. errors='logloss').")
    return values


def _misclassification(session: DebugSession) -> np.ndarray:
    """1.0 where the predicted class is not the label: p >= 0.5 (decision > 0), or argmax."""
    if session.task == "regression":
        raise ValueError("errors='misclassification' needs a classifier; for a regressor use "
                         "errors='squared' or 'absolute'.")
    if session.y is None:
        raise ValueError("slice errors need the true labels: bind the model with y, e.g. "
                         "mdw.bind(model, X, y), or pass errors=<one error per row>.")
    scores, y = session.predictions(), session.y.to_numpy()
    adapter = session.adapter
    if session.task == "binary":
        positive = scores[:, 0] > 0 if adapter.output_kind == "decision" else scores[:, 0] >= 0.5
        return (positive != (y == adapter.pos_label)).astype(np.float64)
    predicted = np.asarray(adapter.classes)[np.argmax(scores, axis=1)]
    return (predicted != y).astype(np.float64)


def _features(session: DebugSession, features: Sequence[str] | None) -> list[str]:
    if features is None:
        return session.features
    names = [features] if isinstance(features, str) else list(features)
    unknown = [f for f in names if f not in session.X.columns]
    if unknown or not names:
        raise ValueError(f"unknown features {unknown}; choose among {session.features}."
                         if unknown else "features is empty; pass at least one feature name.")
    if len(set(names)) != len(names):
        raise ValueError(f"features has duplicates: {names}; list each feature once.")
    return names


def _min_support(min_support: int | float, n: int) -> int:
    if isinstance(min_support, bool) or not isinstance(min_support, int | float | np.number) \
            or not 0 < min_support or (min_support >= 1 and min_support != int(min_support)):
        raise ValueError("min_support must be a number of rows >= 1 (e.g. min_support=30) or a "
                         f"fraction of the rows in (0, 1) (e.g. 0.01); got {min_support!r}.")
    return max(1, int(min_support * n) if min_support < 1 else int(min_support))


def _encode(session: DebugSession, name: str,
            bins: int | Mapping[str, BinSpec]) -> tuple[np.ndarray, list[str], bool]:
    """Integer bin code of every row, the bin labels, and whether the bins are intervals."""
    spec_bins = bins.get(name, 10) if isinstance(bins, Mapping) else bins
    spec = session.schema[name]
    if isinstance(spec_bins, int | np.integer) and not isinstance(spec_bins, bool):
        if spec_bins < 1:
            raise ValueError(f"bins for {name} must be >= 1 (e.g. 10); got {spec_bins!r}.")
        cat = bin_labels(session, name, int(spec_bins))
        interval = spec.kind in ("numeric", "integer") and not (
            spec.kind == "integer" and 0 < len(spec.categories) <= spec_bins)
        return cat.codes.astype(np.int32), [str(c) for c in cat.categories], interval
    edges = np.asarray(spec_bins, dtype=np.float64)
    if spec.kind not in ("numeric", "integer") or edges.ndim != 1 or len(edges) < 2 \
            or not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
        raise ValueError(f"bins for {name} must be an integer or, for a numeric feature, at "
                         f"least two increasing finite edges such as [0, 30, 50, 200]; got "
                         f"{spec_bins!r} for a {spec.kind} feature.")
    values = session.X[name].to_numpy(dtype=np.float64, na_value=np.nan)
    m = len(edges) - 1
    labels = [f"< {edges[0]:.4g}"] + [
        f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == m - 1 else ')'}" for i in range(m)
    ] + [f"> {edges[-1]:.4g}", "missing"]
    inner = np.clip(np.searchsorted(edges, values, side="right"), 1, m)  # 1..m
    codes = np.where(values < edges[0], 0, np.where(values > edges[-1], m + 1, inner))
    codes = np.where(np.isnan(values), m + 2, codes).astype(np.int32)
    return codes, labels, True


def _text(feature: str, label: str, interval: bool) -> str:
    if label == "missing":
        return f"{feature} is missing"
    if interval and label[:1] in "<>":
        return f"{feature} {label}"
    return f"{feature} {'∈' if interval else '='} {label}"
