"""Sensitivity analysis: what-if predictions, ICE and partial dependence (ALE is in ``ale``).

Every function batches all the rows it needs into as few ``predict`` calls as possible:
the ICE of one row over every feature is one call, a what-if edit (the edited row plus its
ICE) is one call, and partial dependence is one call per ``batch_rows`` swept rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..schema import GridStrategy
from ..session import DebugSession
from ._batch import sweep_frame


@dataclass(frozen=True)
class ICEResult:
    """Individual conditional expectation curves.

    Attributes
    ----------
    rows : tuple
        Index labels of the swept rows (positions when rows were passed as a frame).
    grids : dict
        Feature -> the values it was swept over.
    curves : dict
        Feature -> array of shape ``(n_rows, n_grid, n_outputs)``.
    output_names : tuple
        Names of the outputs (the positive class, each class, or "prediction").

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 2.0, pd.DataFrame({"a": [0.0, 1.0]}), task="regression")
    >>> ice(s, 0, grid={"a": [0.0, 5.0]}).curve("a").tolist()
    [0.0, 10.0]
    """

    rows: tuple
    grids: dict
    curves: dict
    output_names: tuple

    def curve(self, feature: str, row: int = 0, output: int = 0) -> np.ndarray:
        """Return the predictions along the grid of ``feature`` for the ``row``-th swept row."""
        return self.curves[feature][row, :, output]

    def ranges(self, row: int = 0, output: int = 0) -> pd.Series:
        """How far each feature can move the prediction of a row: max - min of its curve.

        NaN predictions (if allowed) are ignored; features are sorted by range, largest first.
        """
        spans = {f: float(np.nanmax(c[row, :, output]) - np.nanmin(c[row, :, output]))
                 for f, c in self.curves.items()}
        return pd.Series(spans, name="ice_range").sort_values(ascending=False)

    def average(self) -> dict[str, np.ndarray]:
        """Partial dependence over the swept rows: feature -> ``(n_grid, n_outputs)``."""
        return {f: c.mean(axis=0) for f, c in self.curves.items()}

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame with columns ``row, feature, value, output, prediction``."""
        frames = []
        for feature, curves in self.curves.items():
            n_rows, n_grid, n_out = curves.shape
            frames.append(pd.DataFrame({
                "row": np.repeat(np.asarray(self.rows, dtype=object), n_grid * n_out),
                "feature": feature,
                "value": np.tile(np.repeat(np.asarray(self.grids[feature], dtype=object),
                                           n_out), n_rows),
                "output": np.tile(np.asarray(self.output_names, dtype=object), n_rows * n_grid),
                "prediction": curves.reshape(-1),
            }))
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class WhatIfResult:
    """The prediction of one (edited) row and its ICE curves, from one predict call.

    Attributes
    ----------
    row : pandas.DataFrame
        The row that was scored.
    prediction : numpy.ndarray
        Its scores, one per output.
    ice : ICEResult
        Its ICE curves for the requested features.
    """

    row: pd.DataFrame
    prediction: np.ndarray
    ice: ICEResult


def feature_grids(
    session: DebugSession,
    features: Sequence[str] | None = None,
    grid: Mapping[str, Any] | Sequence | None = None,
    *,
    resolution: int = 20,
    strategy: GridStrategy = "quantile",
    margin: float = 0.0,
    include_missing: bool = False,
) -> dict[str, np.ndarray]:
    """Resolve the sweep grid of each feature: given values, or the schema's grid.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    features : list of str, default=None
        Features to sweep (default: every feature, or the keys of ``grid``).
    grid : dict or array-like, default=None
        Feature -> values, or values for a single feature; may contain NaN.
    resolution, strategy, margin, include_missing
        Passed to :meth:`FeatureSpec.grid` for features without given values.

    Returns
    -------
    dict
        Feature -> numpy array of values.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [0.0, 4.0]}), task="regression")
    >>> feature_grids(s, resolution=3, strategy="uniform")["a"].tolist()
    [0.0, 2.0, 4.0]
    """
    if grid is not None and not isinstance(grid, Mapping):
        if features is None or len(features) != 1:
            raise ValueError("a grid given as values needs exactly one feature; pass "
                             "features=[name] or grid={name: values}.")
        grid = {features[0]: grid}
    grid = dict(grid or {})
    if features is None:
        features = list(grid) if grid else session.features
    out = {}
    for feature in features:
        spec = session.schema[feature]
        if feature in grid:
            values = np.asarray(grid[feature], dtype=object if spec.kind in (
                "categorical", "boolean") else None)
        else:
            values = spec.grid(resolution, strategy=strategy, margin=margin,
                               include_missing=include_missing)
        out[feature] = values
    return out


def _base_rows(session: DebugSession, rows: Any) -> tuple[pd.DataFrame, tuple]:
    if isinstance(rows, pd.DataFrame):
        return rows, tuple(rows.index)
    labels = list(rows) if isinstance(rows, list | tuple | np.ndarray | pd.Index) else [rows]
    base = pd.concat([session.row(label) for label in labels]) if len(labels) > 1 \
        else session.row(labels[0])
    return base, tuple(labels)


def ice(
    session: DebugSession,
    rows: Any,
    *,
    features: Sequence[str] | None = None,
    grid: Mapping[str, Any] | Sequence | None = None,
    resolution: int = 20,
    strategy: GridStrategy = "quantile",
    margin: float = 0.0,
    include_missing: bool = False,
) -> ICEResult:
    """ICE curves of some rows over some features, in one predict call.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    rows : index label, list of labels, or pandas.DataFrame
        Rows of the bound data by label, or rows of your own (edited, synthetic).
    features : list of str, default=None
        Features to sweep (default: every feature, or the keys of ``grid``).
    grid : dict or array-like, default=None
        Feature -> values (may contain NaN and values beyond the data), or the values of
        the single feature in ``features``. Other features use the schema's grid.
    resolution : int, default=20
        Grid points per numeric feature.
    strategy : {"quantile", "uniform"}, default="quantile"
        How grid points are spread over the observed range.
    margin : float, default=0.0
        Also sweep beyond the observed range by this fraction (0.1 = 10 %).
    include_missing : bool, default=False
        Also sweep a missing value.

    Returns
    -------
    ICEResult

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 1.0]})
    >>> s = bind(lambda df: df["a"] + df["b"], X, task="regression")
    >>> ice(s, [0, 1], grid={"a": [0.0, 2.0]}).to_frame()["prediction"].tolist()
    [1.0, 3.0, 1.0, 3.0]
    """
    base, labels = _base_rows(session, rows)
    grids = feature_grids(session, features, grid, resolution=resolution, strategy=strategy,
                          margin=margin, include_missing=include_missing)
    scores = session.predict(sweep_frame(base, grids))
    return _split_curves(scores, len(base), grids, labels, session.output_names)


def what_if(
    session: DebugSession,
    row: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    grid: Mapping[str, Any] | None = None,
    resolution: int = 20,
    strategy: GridStrategy = "quantile",
    margin: float = 0.0,
    include_missing: bool = False,
) -> WhatIfResult:
    """Score an edited row and compute its ICE curves, in one predict call.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    row : pandas.DataFrame
        One row with the model's columns (for example ``session.row(label)`` edited).
    features, grid, resolution, strategy, margin, include_missing
        As in :func:`ice`; pass ``features=[]`` to score the row only.

    Returns
    -------
    WhatIfResult

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 2.0, pd.DataFrame({"a": [1.0, 3.0]}), task="regression")
    >>> edited = s.row(0).assign(a=10.0)
    >>> what_if(s, edited, grid={"a": [0.0, 1.0]}).prediction.tolist()
    [20.0]
    """
    if len(row) != 1:
        raise ValueError(f"what_if scores one row; got {len(row)}. Pass session.row(label).")
    grids = feature_grids(session, features, grid, resolution=resolution, strategy=strategy,
                          margin=margin, include_missing=include_missing) \
        if features != [] else {}
    scores = session.predict(sweep_frame(row, grids, include_base=True))
    curves = _split_curves(scores[1:], 1, grids, tuple(row.index), session.output_names)
    return WhatIfResult(row=row, prediction=scores[0], ice=curves)


def _split_curves(scores: np.ndarray, n_rows: int, grids: Mapping[str, np.ndarray],
                  labels: tuple, output_names: Sequence) -> ICEResult:
    curves, start = {}, 0
    for feature, values in grids.items():
        size = n_rows * len(values)
        curves[feature] = scores[start:start + size].reshape(n_rows, len(values), -1)
        start += size
    return ICEResult(rows=labels, grids=dict(grids), curves=curves,
                     output_names=tuple(output_names))


def _sample(session: DebugSession, subsample: int | float | None,
            random_state: int | None) -> pd.DataFrame:
    X = session.X
    if subsample is None:
        return X
    n = int(subsample * len(X)) if isinstance(subsample, float) else int(subsample)
    if n >= len(X):
        return X
    rng = np.random.default_rng(random_state)
    return X.iloc[np.sort(rng.choice(len(X), size=n, replace=False))]


def partial_dependence(
    session: DebugSession,
    feature: str,
    *,
    grid: Sequence | None = None,
    resolution: int = 20,
    strategy: GridStrategy = "quantile",
    margin: float = 0.0,
    include_missing: bool = False,
    subsample: int | float | None = None,
    random_state: int | None = None,
    batch_rows: int = 250_000,
) -> pd.DataFrame:
    """Partial dependence of the prediction on one feature (the average of ICE curves).

    Equal to ``sklearn.inspection.partial_dependence(method="brute")`` on the same grid.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    feature : str
        The feature to sweep.
    grid : array-like, default=None
        Values to sweep (may contain NaN); default: the schema's grid.
    resolution, strategy, margin, include_missing
        As in :func:`ice`, for the default grid.
    subsample : int or float, default=None
        Average over this many rows (or this fraction) drawn without replacement.
    random_state : int, default=None
        Seed of the subsample.
    batch_rows : int, default=250_000
        Largest number of swept rows per predict call (bounds memory at a million rows).

    Returns
    -------
    pandas.DataFrame
        One row per grid value and output: ``feature, value, output, average``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 2.0], "b": [1.0, 3.0]})
    >>> s = bind(lambda df: df["a"] * df["b"], X, task="regression")
    >>> partial_dependence(s, "a", grid=[1.0, 2.0])["average"].tolist()
    [2.0, 4.0]
    """
    grids = feature_grids(session, [feature], None if grid is None else {feature: grid},
                          resolution=resolution, strategy=strategy, margin=margin,
                          include_missing=include_missing)
    values = grids[feature]
    X = _sample(session, subsample, random_state)
    chunk = max(1, batch_rows // max(1, len(values)))
    total = np.zeros((len(values), len(session.output_names)))
    for start in range(0, len(X), chunk):
        part = X.iloc[start:start + chunk]
        scores = session.predict(sweep_frame(part, grids))
        total += scores.reshape(len(part), len(values), -1).sum(axis=0)
    average = total / len(X)
    return _long(feature, values, session.output_names, {"average": average})


def _long(feature: str, values: np.ndarray, outputs: Sequence,
          columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    n_values, n_out = len(values), len(outputs)
    frame = pd.DataFrame({
        "feature": feature,
        "value": np.repeat(np.asarray(values, dtype=object), n_out),
        "output": np.tile(np.asarray(outputs, dtype=object), n_values),
    })
    for name, data in columns.items():
        frame[name] = np.asarray(data).reshape(n_values, -1).reshape(-1) if np.ndim(data) > 1 \
            else np.repeat(np.asarray(data), n_out)
    return frame
