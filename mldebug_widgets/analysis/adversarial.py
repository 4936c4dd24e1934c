"""Adversarial search: grid and evolutionary searches for striking predictions.

Both searches start from a prototype row, change only what :class:`Constraints` allows
(immutable features never move; integer and categorical domains and ranges are kept),
score candidates through one :class:`Probe` (query budget, progress, cancellation, model
failures recorded per row) and are reproducible with ``random_state``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..session import DebugSession, bind
from ._batch import _frame, coerce_values
from ._constraints import Constraints, grid_values
from ._probe import Probe

__all__ = ["GridResult", "SearchResult", "evolve_search", "grid_search"]

Objective = Literal["maximise", "minimise", "disagree"]
Aggregate = Literal["max", "mean", "min"]
_CHUNK = 10_000  # rows per model call in a grid search
MAX_GRID_ROWS = 1_000_000
_RESERVED = frozenset({"prediction", "benchmark", "objective", "distance", "n_changed"})
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
    prototype = _prototype(session, row)
    out = _output_index(session, output)
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
    arrays = _column_arrays(prototype)
    for start in range(0, total, _CHUNK):
        if probe.stopped:
            break
        stop = min(total, start + probe.affordable(_CHUNK))
        index = np.unravel_index(np.arange(start, stop), shape)
        chunk = _grid_frame(prototype, arrays, {f: (grid[f], i) for f, i in zip(
            grid, index, strict=True)})
        predictions[start:stop] = probe.score(chunk)[:, out]
        probe.report(stop / total)
    full = np.unravel_index(np.arange(total), shape)
    frame = pd.DataFrame({f: grid[f][i] for f, i in zip(grid, full, strict=True)})
    frame["prediction"] = predictions
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


def _prototype(session: Any, row: Any) -> pd.DataFrame:
    clash = _RESERVED.intersection(session.features)
    if clash:
        raise ValueError(f"features named {sorted(clash)} clash with the result's columns; "
                         "rename them before binding.")
    if isinstance(row, pd.Series):
        raise TypeError("row must be an index label of session.X or a one-row DataFrame; "
                        "got a Series (use series.to_frame().T).")
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise ValueError(f"row must be one row; got {len(row)}. Pass row.iloc[[i]].")
        missing = [c for c in session.features if c not in row.columns]
        if missing:
            raise ValueError(f"row lacks the features {missing}; pass a row of session.X.")
        return row[session.features].copy()
    return session.row(row)


def _output_index(session: Any, output: Any) -> int:
    names = list(session.output_names)
    if output is None:
        if len(names) == 1:
            return 0
        raise ValueError(f"the model has {len(names)} outputs; choose one with output=, "
                         f"one of {names}.")
    if output in names:
        return names.index(output)
    if isinstance(output, int | np.integer) and 0 <= output < len(names):
        return int(output)
    raise ValueError(f"unknown output {output!r}; choose one of {names}.")


@dataclass(frozen=True)
class SearchResult:
    """Rows found by :func:`evolve_search`, best first.

    Attributes
    ----------
    rows : pandas.DataFrame
        The best distinct rows evaluated (never the prototype), best first: the features,
        ``prediction``, ``benchmark`` (for ``"disagree"``), ``objective`` (the prediction,
        or ``|prediction - benchmark|``), ``distance`` (see :meth:`Constraints.distance`)
        and ``n_changed``. The index counts the evaluated rows in search order.
    changed : tuple of tuple of str
        The features each row of :attr:`rows` changed from the prototype.
    prototype : pandas.DataFrame
        The prototype row, with its prediction in :attr:`prototype_objective`.
    prototype_objective : float
        The objective at the prototype.
    history : numpy.ndarray
        The best objective after the initial population and after each generation.
    objective : str
        "maximise", "minimise" or "disagree".
    output : str
        The prediction column searched.
    n_queries : int
        Rows the model scored (the benchmark scores the same rows for "disagree").
    cancelled : bool
        Whether the search was stopped before the end.
    errors : dict
        Model error message -> number of rows it was raised on.
    n_nonfinite : int
        Rows the model scored NaN or infinite (never among the best).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 10.0], "b": [0.0, 10.0]})
    >>> s = bind(lambda df: df["a"] - df["b"] / 100, X, task="regression")
    >>> found = evolve_search(s, 0, population=16, generations=10, random_state=0)
    >>> found.changed[0], float(found.best["a"]), found.to_frame()["changed"].iloc[0]
    (('a',), 11.0, 'a')
    """

    rows: pd.DataFrame
    changed: tuple
    prototype: pd.DataFrame
    prototype_objective: float
    history: np.ndarray
    objective: str
    output: str
    n_queries: int
    cancelled: bool
    errors: dict
    n_nonfinite: int

    @property
    def best(self) -> pd.Series:
        """The best row found (features, predictions and objective)."""
        if self.rows.empty:
            raise ValueError("the search found no row with a finite prediction.")
        return self.rows.iloc[0]

    def to_frame(self) -> pd.DataFrame:
        """Return :attr:`rows` with a ``changed`` column (comma-separated feature names)."""
        frame = self.rows.copy()
        frame["changed"] = [", ".join(c) for c in self.changed]
        return frame


def evolve_search(
    session: Any,
    row: Any,
    *,
    objective: Objective = "maximise",
    output: Any = None,
    features: Sequence[str] | None = None,
    benchmark: Any = None,
    constraints: Constraints | None = None,
    population: int = 64,
    generations: int = 30,
    budget: int | None = 5_000,
    n_best: int = 10,
    simplify: bool = True,
    random_state: int | np.random.Generator | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> SearchResult:
    """Evolve rows around a prototype that maximise or minimise the prediction, or disagree.

    A (mu + lambda) evolutionary search: the initial population is the prototype and
    mutants of it; each generation breeds ``population`` children from the best rows so
    far (tournament selection, uniform crossover, :meth:`Constraints.mutate`), projects
    them into the constraints, drops rows already scored and scores the rest in one call.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    row : object or pandas.DataFrame
        Index label of the prototype in ``session.X``, or a one-row frame.
    objective : {"maximise", "minimise", "disagree"}, default="maximise"
        Raise or lower the prediction, or maximise ``|prediction - benchmark prediction|``.
    output : str or int, default=None
        The prediction column (a class for multiclass models; required there).
    features : list of str, default=None
        Features to search (default: every mutable feature).
    benchmark : estimator, callable or DebugSession, default=None
        The model to disagree with (required for "disagree").
    constraints : Constraints, default=None
        Default: ``Constraints.from_session(session)``.
    population : int, default=64
        Rows scored per generation.
    generations : int, default=30
        Number of generations after the initial population.
    budget : int or None, default=5000
        Most rows the model may score.
    n_best : int, default=10
        Rows kept in the result.
    simplify : bool, default=True
        After the search, revert the best row's changes that move the objective by less
        than 1 % of its gain over the prototype (greedy, a few hundred queries at most);
        the simplified row comes first in :attr:`SearchResult.rows`.
    random_state : int or numpy.random.Generator, default=None
        Seed: the same seed and model give the same result.
    progress : callable, default=None
        Called with the fraction done after each generation.
    cancel : threading.Event, default=None
        Set it to stop after the current generation (``cancelled=True``).

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 10.0], "b": [0.0, 10.0]})
    >>> s = bind(lambda df: df["a"] - df["b"], X, task="regression")
    >>> result = evolve_search(s, 0, population=16, generations=20, random_state=0)
    >>> result.best[["a", "b"]].tolist(), result.n_queries <= 16 * 21
    ([11.0, 0.0], True)
    """
    if objective not in ("maximise", "minimise", "disagree"):
        raise ValueError(f"objective must be 'maximise', 'minimise' or 'disagree'; got "
                         f"{objective!r}.")
    if population < 2 or generations < 0:
        raise ValueError(f"population must be >= 2 and generations >= 0; got {population}, "
                         f"{generations}.")
    probe = Probe(session, budget, progress, cancel)
    constraints = constraints or Constraints.from_session(session)
    searched = constraints.searchable(features, strict=features is not None)
    prototype = _prototype(session, row)
    out = _output_index(session, output)
    scorer = _Scorer(probe, out, objective, _benchmark_session(session, benchmark, objective))
    rng = np.random.default_rng(random_state)
    pool = _Pool(prototype, constraints)
    start = constraints.mutate(rng, prototype.iloc[np.zeros(population - 1, dtype=np.intp)],
                               prototype, searched, rate=0.3)
    pool.add(pd.concat([prototype, start], ignore_index=True), scorer)  # prototype: index 0
    history = [pool.best_value()]
    total = min((generations + 1) * population, probe.budget or np.inf)
    for generation in range(generations):
        probe.report(max(probe.n_queries / total, generation / generations))
        if probe.stopped:
            break
        parents = pool.top(population)
        children = _breed(rng, parents, pool.fitness_of(parents), population)
        children = constraints.mutate(rng, children, prototype, searched)
        pool.add(children, scorer)
        history.append(pool.best_value())
    first = _simplify(pool, scorer, searched) if simplify and not probe.stopped else None
    probe.report(1.0)
    rows = pool.result(n_best, constraints, scorer, first)
    changed = tuple(tuple(f for f in session.features if not _same(r[f], prototype.iloc[0][f]))
                    for _, r in rows.iterrows())
    sign = -1.0 if objective == "minimise" else 1.0
    return SearchResult(rows, changed, prototype, float(sign * pool.fitness[0]),
                        sign * np.asarray(history), objective, session.output_names[out],
                        probe.n_queries, probe.cancelled, dict(probe.errors),
                        probe.n_nonfinite)


def _same(a: Any, b: Any) -> bool:
    return bool(pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b)


def _benchmark_session(session: Any, benchmark: Any, objective: str) -> Any:
    if objective != "disagree":
        return None
    if benchmark is None:
        raise ValueError("objective='disagree' needs a benchmark model: pass benchmark= a "
                         "fitted model, a function or a session (see analysis.make_benchmark).")
    if isinstance(benchmark, DebugSession):
        return benchmark
    return bind(benchmark, session.X, session.y, task=session.task)


class _Scorer:
    """Fitness of rows (higher is better; NaN where the model or benchmark failed)."""

    def __init__(self, probe: Probe, out: int, objective: str, benchmark: Any):
        self.probe, self.out, self.objective = probe, out, objective
        self.benchmark = None if benchmark is None else Probe(benchmark)
        if benchmark is not None:
            names = list(benchmark.output_names)
            wanted = probe.session.output_names[out]
            self.bench_out = names.index(wanted) if wanted in names else min(out, len(names) - 1)

    def __call__(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prediction = self.probe.score(frame)[:, self.out]
        bench = np.full(len(frame), np.nan)
        if self.benchmark is not None:
            bench = self.benchmark.score(frame)[:, self.bench_out]
            fitness = np.abs(prediction - bench)
        else:
            fitness = prediction if self.objective == "maximise" else -prediction
        return fitness, prediction, bench


class _Pool:
    """Every row scored so far, with its fitness and predictions (duplicates skipped)."""

    def __init__(self, prototype: pd.DataFrame, constraints: Constraints):
        self.prototype, self.constraints = prototype, constraints
        self.index: dict[int, int] = {}
        self._all: pd.DataFrame | None = None
        self.columns = prototype.columns
        self.fitness = np.empty(0)
        self.prediction = np.empty(0)
        self.bench = np.empty(0)
        self.n_changed = np.empty(0, dtype=np.int64)

    def add(self, frame: pd.DataFrame, scorer: _Scorer) -> np.ndarray:
        """Score the rows not seen before (as the budget allows); return their pool indices.

        The index is -1 for a row left unscored by the budget.
        """
        keys = pd.util.hash_pandas_object(frame, index=False).to_numpy().tolist()
        fresh, pending = [], set()
        for i, key in enumerate(keys):
            if key not in self.index and key not in pending:
                fresh.append(i)
                pending.add(key)
        fresh = fresh[:scorer.probe.affordable(len(fresh))]
        if fresh:
            start = len(self.fitness)
            part = frame.iloc[fresh].reset_index(drop=True)
            fitness, prediction, bench = scorer(part)
            changed = self.constraints.distance(part, self.prototype)[1]
            self._all = part if self._all is None else pd.concat([self._all, part],
                                                                 ignore_index=True)
            self.fitness = np.concatenate([self.fitness, fitness])
            self.prediction = np.concatenate([self.prediction, prediction])
            self.bench = np.concatenate([self.bench, bench])
            self.n_changed = np.concatenate([self.n_changed, changed])
            self.index.update({keys[i]: start + j for j, i in enumerate(fresh)})
        return np.array([self.index.get(key, -1) for key in keys], dtype=np.intp)

    @property
    def all(self) -> pd.DataFrame:
        return self._all

    def order(self) -> np.ndarray:
        """Best first; among equal fitness, fewer changed features first."""
        fitness = np.where(np.isnan(self.fitness), -np.inf, self.fitness)
        return np.lexsort((self.n_changed, -fitness))

    def best_value(self) -> float:
        return float(np.nanmax(self.fitness)) if np.isfinite(self.fitness).any() else np.nan

    def top(self, n: int) -> pd.DataFrame:
        return self.all.iloc[self.order()[:n]]

    def fitness_of(self, rows: pd.DataFrame) -> np.ndarray:
        return self.fitness[rows.index.to_numpy()]

    def result(self, n: int, constraints: Constraints, scorer: _Scorer,
               first: int | None = None) -> pd.DataFrame:
        order = [] if first is None else [first]
        order += [i for i in self.order()[:n + 2]
                  if i not in (0, first) and np.isfinite(self.fitness[i])]
        rows = self.all.iloc[order[:n]].copy()
        rows["prediction"] = self.prediction[rows.index]
        if scorer.benchmark is not None:
            rows["benchmark"] = self.bench[rows.index]
        fitness = self.fitness[rows.index]
        rows["objective"] = -fitness if scorer.objective == "minimise" else fitness
        rows["distance"], rows["n_changed"] = constraints.distance(
            rows[self.columns], self.all.iloc[[0]])
        return rows


def _simplify(pool: _Pool, scorer: _Scorer, searched: list[str],
              tolerance: float = 0.01) -> int | None:
    """Revert the best row's changes that matter little, greedily; return its pool index.

    A change is reverted (set back to the prototype's value) while the objective stays
    within ``tolerance`` times the gain over the prototype. Each round scores one row per
    remaining change, then all acceptable reverts at once; the budget and the stop flag end
    it early.
    """
    best = int(pool.order()[0])
    if best == 0 or not np.isfinite(pool.fitness[best]):
        return None
    floor = pool.fitness[best] - tolerance * abs(pool.fitness[best] - pool.fitness[0]
                                                  if np.isfinite(pool.fitness[0]) else 1.0)
    proto = pool.prototype.iloc[0]
    current = best
    while not scorer.probe.stopped:
        row = pool.all.iloc[[current]]
        values = row.iloc[0]
        changed = [f for f in searched if not _same(values[f], proto[f])]
        if len(changed) <= 1:
            break
        trials = pd.concat([_revert(row, [f], proto) for f in changed], ignore_index=True)
        at = pool.add(trials, scorer)
        fitness = np.where(at >= 0, pool.fitness[at], np.nan)
        good = np.flatnonzero(np.nan_to_num(fitness, nan=-np.inf) >= floor)
        if len(good) == 0:
            break
        current = int(at[good[np.argmax(fitness[good])]])
        if len(good) > 1:  # try every acceptable revert at once
            merged = pool.add(_revert(row, [changed[i] for i in good], proto), scorer)[0]
            if merged >= 0 and pool.fitness[merged] >= floor:
                current = int(merged)
    return current


def _revert(row: pd.DataFrame, features: list[str], proto: pd.Series) -> pd.DataFrame:
    out = row.reset_index(drop=True)
    for f in features:
        out.loc[0, f] = proto[f]
    return out


def _breed(rng: np.random.Generator, parents: pd.DataFrame, fitness: np.ndarray,
           n: int) -> pd.DataFrame:
    """Children by binary tournament selection and uniform crossover of two parents."""
    fitness = np.where(np.isnan(fitness), -np.inf, fitness)
    m = len(parents)

    def pick() -> np.ndarray:
        a, b = rng.integers(0, m, n), rng.integers(0, m, n)
        return np.where(fitness[a] >= fitness[b], a, b)

    mother, father = pick(), pick()
    from_father = rng.random((n, parents.shape[1])) < 0.5
    columns = {}
    for j, name in enumerate(parents.columns):
        values = parents[name].to_numpy()
        columns[name] = np.where(from_father[:, j], values[father], values[mother])
    return pd.DataFrame(columns, copy=False).astype(parents.dtypes.to_dict())
