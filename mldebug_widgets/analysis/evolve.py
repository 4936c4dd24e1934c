"""Evolutionary search: rows around a prototype with striking predictions.

:func:`evolve_search` is a (mu + lambda) evolutionary search: it starts from the prototype
and mutants of it, breeds children from the best rows so far, keeps them within the
:class:`Constraints` (immutable features never move; integer and categorical domains and
ranges are kept), scores them through one :class:`Probe` (query budget, progress,
cancellation, model failures recorded per row) and is reproducible with ``random_state``.
The best row is simplified to the changes that matter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..session import DebugSession, bind
from ._constraints import Constraints
from ._probe import Probe
from ._prototype import output_index, prototype_row

__all__ = ["SearchResult", "evolve_search"]

Objective = Literal["maximise", "minimise", "disagree"]


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
    prototype = prototype_row(session, row)
    out = output_index(session, output)
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
    if not probe.cancelled:  # a stopped search is not done: the bar stays where it was
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
