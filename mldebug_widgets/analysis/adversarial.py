"""Adversarial search: grid and evolutionary searches for striking predictions.

Both searches start from a prototype row, change only what :class:`Constraints` allows
(immutable features never move; integer and categorical domains and ranges are kept),
score candidates through one :class:`Probe` (query budget, progress, cancellation, model
failures recorded per row) and are reproducible with ``random_state``.

:func:`grid_search` lives here; :func:`evolve_search` and :class:`SearchResult` live in
``analysis.evolve`` and are importable from here too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._batch import _frame, coerce_values, create_dataframe_from_blocks
from ._constraints import Constraints, grid_values
from ._probe import Probe
from ._prototype import output_index, prototype_row
from .evolve import Objective, SearchResult, evolve_search  # noqa: F401 (re-exported)

__all__ = ["GridResult", "SearchResult", "evolve_search", "grid_search"]

Aggregate = Literal["max", "mean", "min"]
_CHUNK = 10_000  # rows per model call in a grid search
MAX_GRID_ROWS = 1_000_000
_AGGREGATES = {"max": np.nanmax, "mean": np.nanmean, "min": np.nanmin}


@dataclass(frozen=True)
class GridResult:
    """A full-factorial grid around a prototype row and its predictions.

    Attributes
    ----------
    grid : dict
        Searched feature -> its grid values, in search order.
    frame : pandas.DataFrame
        One row per grid point: the searched features and ``prediction`` (NaN where the
        model raised, returned a non-finite score, or the search stopped first).
    prototype : pandas.DataFrame
        The prototype row; the features not searched keep its values.
    output : str
        The prediction column scored.
    n_queries : int
        Rows the model scored.
    cancelled : bool
        Whether the search was stopped before the end.
    errors : dict
        Model error message -> number of rows it was raised on.
    n_nonfinite : int
        Rows scored NaN or infinite by the model.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 2.0], "b": [0.0, 2.0], "c": [0.0, 2.0]})
    >>> s = bind(lambda df: df["a"] * df["b"] + df["c"], X, task="regression")
    >>> result = grid_search(s, 0, ["a", "b", "c"], resolution=2, margin=0.0)
    >>> result.values.shape, result.surface("a", "b", agg="mean").tolist()
    ((2, 2, 2), [[1.0, 1.0], [1.0, 5.0]])
    >>> result.curve("c", agg="min").tolist(), result.best(1)[["a", "b", "c"]].values.tolist()
    ([0.0, 2.0], [[2.0, 2.0, 2.0]])
    """

    grid: dict
    frame: pd.DataFrame
    prototype: pd.DataFrame
    output: str
    n_queries: int
    cancelled: bool
    errors: dict
    n_nonfinite: int

    @property
    def values(self) -> np.ndarray:
        """Predictions as an array of shape ``tuple(len(v) for v in grid.values())``."""
        return self.frame["prediction"].to_numpy().reshape([len(v) for v in self.grid.values()])

    def surface(self, f1: str, f2: str, agg: Aggregate = "max") -> np.ndarray:
        """Return the 2-D surface of predictions: rows ``f1`` values, columns ``f2`` values.

        Parameters
        ----------
        f1, f2 : str
            Two different searched features.
        agg : {"max", "mean", "min"}, default="max"
            How the predictions are aggregated over the other searched features (NaN ignored).

        Returns
        -------
        numpy.ndarray of shape (len(grid[f1]), len(grid[f2]))

        Examples
        --------
        See :class:`GridResult`.
        """
        if agg not in _AGGREGATES:
            raise ValueError(f"agg must be one of {list(_AGGREGATES)}; got {agg!r}.")
        names = list(self.grid)
        for f in (f1, f2):
            if f not in self.grid:
                raise ValueError(f"{f!r} was not searched; choose among {names}.")
        if f1 == f2:
            raise ValueError(f"f1 and f2 are both {f1!r}; pass two different features, or "
                             "use curve() for one.")
        values = np.moveaxis(self.values, [names.index(f1), names.index(f2)], [0, 1])
        return _aggregate(values.reshape(values.shape[0], values.shape[1], -1), agg)

    def curve(self, feature: str, agg: Aggregate = "max") -> np.ndarray:
        """Return the predictions along one feature's grid, aggregated over the others."""
        names = list(self.grid)
        if feature not in self.grid:
            raise ValueError(f"{feature!r} was not searched; choose among {names}.")
        values = np.moveaxis(self.values, names.index(feature), 0)
        return _aggregate(values.reshape(values.shape[0], 1, -1), agg)[:, 0]

    def best(self, n: int = 10, maximise: bool = True) -> pd.DataFrame:
        """Return the ``n`` grid rows with the highest (or lowest) prediction, as full rows.

        Rows scored NaN are never best. The index is the grid row's position in
        :attr:`frame`; the columns are the prototype's plus ``prediction``.
        """
        scores = self.frame["prediction"].dropna()
        order = scores.sort_values(ascending=not maximise, kind="stable").index[:n]
        rows = self.prototype.iloc[np.zeros(len(order), dtype=np.intp)].copy()
        rows.index = order
        for name in self.grid:
            rows[name] = coerce_values(self.frame.loc[order, name].to_numpy(),
                                       self.prototype[name].dtype)
        rows["prediction"] = scores.loc[order]
        return rows


def _aggregate(values: np.ndarray, agg: str) -> np.ndarray:
    with np.errstate(all="ignore"), _quiet():
        return _AGGREGATES[agg](values, axis=2)


class _quiet:
    """Silence numpy's "All-NaN slice" / "Mean of empty slice" warnings (NaN is the answer)."""

    def __enter__(self) -> None:
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def grid_search(
    session: Any,
    row: Any,
    features: Sequence[str],
    *,
    resolution: int = 10,
    margin: float = 0.1,
    constraints: Constraints | None = None,
    output: Any = None,
    budget: int | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    max_rows: int = MAX_GRID_ROWS,
) -> GridResult:
    """Score every combination of 1-4 features' grid values around a prototype row.

    Each feature's grid follows the seed's rule (:func:`grid_values`): ``resolution`` points
    from ``min - |margin*min|`` to ``max + |margin*max|`` (or the constraint's range,
    monotone from the prototype), integers rounded, every category; a missing value is
    added where the constraints allow it. Rows are scored in chunks of 10,000, with a
    progress report and a cancellation check between chunks.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    row : object or pandas.DataFrame
        Index label of the prototype in ``session.X``, or a one-row frame.
    features : list of str
        1 to 4 mutable features to search.
    resolution : int, default=10
        Grid points per numeric feature.
    margin : float, default=0.1
        Widening of the data range (used when ``constraints`` is None).
    constraints : Constraints, default=None
        Default: ``Constraints.from_session(session, margin=margin)``.
    output : str or int, default=None
        The prediction column (a class for multiclass models; required there).
    budget : int, default=None
        Most rows the model may score; a larger grid is refused up front.
    progress : callable, default=None
        Called with the fraction done after each chunk.
    cancel : threading.Event, default=None
        Set it to stop after the current chunk (the result has ``cancelled=True``).
    max_rows : int, default=1_000_000
        Largest grid accepted.

    Returns
    -------
    GridResult

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 10.0], "b": [0.0, 10.0]})
    >>> s = bind(lambda df: df["a"] - df["b"], X, task="regression")
    >>> result = grid_search(s, 0, ["a", "b"], resolution=3)
    >>> result.grid["a"].tolist(), result.n_queries
    ([0.0, 5.5, 11.0], 9)
    >>> result.surface("a", "b", agg="max").tolist()
    [[0.0, -5.5, -11.0], [5.5, 0.0, -5.5], [11.0, 5.5, 0.0]]
    """
    probe = Probe(session, budget, progress, cancel)
    constraints = constraints or Constraints.from_session(session, margin=margin)
    features = [features] if isinstance(features, str) else list(features)
    if not 1 <= len(features) <= 4 or len(set(features)) != len(features):
        raise ValueError(f"grid_search takes 1 to 4 different features; got {features}. "
                         "Search more features with evolve_search().")
    constraints.searchable(features, strict=True)
    prototype = prototype_row(session, row)
    out = output_index(session, output)
    base = prototype.iloc[0]
    grid = {f: _feature_grid(constraints, f, base[f], resolution) for f in features}
    shape = [len(v) for v in grid.values()]
    total = int(np.prod(shape))
    limit = min(max_rows, budget if budget is not None else max_rows)
    if total > limit:
        fit = max(2, int(limit ** (1 / len(features))))
        raise ValueError(f"the grid has {total:,} rows ({' x '.join(map(str, shape))}), more "
                         f"than the {'budget' if limit == budget else 'limit'} of {limit:,}; "
                         f"lower the resolution (e.g. resolution={fit}) or search fewer "
                         "features.")
    predictions = np.full(total, np.nan)
    frames = _GridFrames(prototype, grid)
    for start in range(0, total, _CHUNK):
        if probe.stopped:
            break
        stop = min(total, start + probe.affordable(_CHUNK))
        index = np.unravel_index(np.arange(start, stop), shape)
        predictions[start:stop] = probe.score(frames.chunk(index))[:, out]
        probe.report(stop / total)
    full = np.unravel_index(np.arange(total), shape)
    columns = {**{f: grid[f][i] for f, i in zip(grid, full, strict=True)},
               "prediction": predictions}
    frame = _frame(columns, pd.Index(list(columns)))  # as pd.DataFrame(columns), faster
    return GridResult(grid, frame, prototype, session.output_names[out], probe.n_queries,
                      probe.cancelled, dict(probe.errors), probe.n_nonfinite)


def _feature_grid(constraints: Constraints, feature: str, base: Any,
                  resolution: int) -> np.ndarray:
    spec = constraints.schema[feature]
    if spec.kind in ("numeric", "integer"):
        values: np.ndarray = grid_values(constraints.bounds(feature, base), resolution, 0.0,
                                         integer=spec.kind == "integer")
    else:
        values = constraints.choices(feature)
    if constraints.may_be_missing(feature):
        values = np.append(values.astype(object if values.dtype == object else np.float64),
                           np.nan)
    return values


class _GridFrames:
    """Frames of prototype rows with the swept features set to grid values, chunk by chunk.

    The prototype is read and the grids are coerced to its dtypes once. When every column
    is a numpy number, each chunk is built straight from one 2-D block per dtype (the layout
    ``_batch._frame`` gives): the fixed cost of a small grid stays far below its predict call.
    """

    def __init__(self, prototype: pd.DataFrame, grid: dict[str, np.ndarray]):
        self.prototype, self.grid = prototype, grid
        self.blocks: list | None = None
        self.arrays: list[np.ndarray] = []
        dtypes, names = list(prototype.dtypes), list(prototype.columns)
        if create_dataframe_from_blocks is not None and all(
                isinstance(d, np.dtype) and d.kind in "biuf" for d in dtypes):
            values = {f: coerce_values(v, dtypes[names.index(f)]) for f, v in grid.items()}
            groups: dict[np.dtype, list[int]] = {}
            for j, name in enumerate(names):
                dtype = values[name].dtype if name in grid else dtypes[j]
                groups.setdefault(dtype, []).append(j)
            if all(dtype.kind in "biuf" for dtype in groups):
                self._plan(groups, names, values)
                return
        self.arrays = _column_arrays(prototype)  # the general path: column by column

    def _plan(self, groups: dict, names: list, values: dict) -> None:
        row = self.prototype.to_numpy(dtype=object)[0]  # exact Python numbers, one conversion
        position = {f: i for i, f in enumerate(self.grid)}
        self.blocks = []
        for dtype, placement in groups.items():
            fixed = [k for k, j in enumerate(placement) if names[j] not in self.grid]
            fill = np.array([row[placement[k]] for k in fixed], dtype=dtype).reshape(-1, 1)
            swept = [(k, position[names[j]], values[names[j]])
                     for k, j in enumerate(placement) if names[j] in self.grid]
            self.blocks.append((dtype, np.asarray(placement, dtype=np.intp), fixed, fill,
                                swept))

    def chunk(self, index: tuple[np.ndarray, ...]) -> pd.DataFrame:
        """Rows whose swept features take ``grid[f][index[i]]`` (``f`` the i-th feature)."""
        if self.blocks is None:
            return _grid_frame(self.prototype, self.arrays, {
                f: (self.grid[f], i) for f, i in zip(self.grid, index, strict=True)})
        n = len(index[0])
        blocks = []
        for dtype, placement, fixed, fill, swept in self.blocks:
            block = np.empty((len(placement), n), dtype=dtype)
            block[fixed] = fill
            for k, at, values in swept:
                block[k] = values[index[at]]
            blocks.append((block, placement))
        return create_dataframe_from_blocks(blocks, index=pd.RangeIndex(n),
                                            columns=self.prototype.columns)


def _column_arrays(prototype: pd.DataFrame) -> list[np.ndarray]:
    return [prototype.iloc[:, j].to_numpy() for j in range(prototype.shape[1])]


def _grid_frame(prototype: pd.DataFrame, arrays: list[np.ndarray],
                swept: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Rows of the prototype with the swept features set to ``values[index]``."""
    n = len(next(iter(swept.values()))[1])
    take = np.zeros(n, dtype=np.intp)
    columns = {}
    for name, source in zip(prototype.columns, arrays, strict=True):
        if name in swept:
            values, index = swept[name]
            data = coerce_values(values, source.dtype)[index]
        else:
            data = source[take]
        if isinstance(prototype[name].dtype, np.dtype) or data.dtype == object:
            columns[name] = data
        else:
            columns[name] = pd.array(data, dtype=prototype[name].dtype)
    return _frame(columns, prototype.columns)


