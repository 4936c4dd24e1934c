"""Minimal flip: the smallest change to a row that flips the model's decision (black box).

For each row, :func:`minimal_flip` looks, under the search constraints (``_constraints``),
for a row on the other side of the decision with the smallest normalised L1 distance
(numeric changes in robust units, 1 per changed category), then the fewest changed features.
The model is only called on batches of candidates, through one ``Probe`` (a budget per row,
progress, Stop), and every requested row advances in lockstep: one model call per step.

1. Greedy path: from the row, score every searchable feature alone over its percentiles and
   bounds (or categories) and take the move with the most margin (logit distance to the
   threshold) per unit of distance; repeat from there. Every flipped candidate is kept.
2. Sparse random changes (1-8 features from other rows of the data or drawn within the
   bounds), denser while nothing flips.
3. Refinement of the closest flipped candidates: revert a feature, shrink one towards the
   row or scale all changes down (a line search) while the move still flips and is closer;
   then swaps around the best (revert one feature, draw another), refined again.

Candidates stay inside the constraints by the numeric rules of ``Constraints.project``, on
an encoded matrix (``_projection.project_numbers``: numbers clipped to ``Constraints.bounds``,
integers rounded); immutables never change, categories are taken from
``Constraints.choices`` and no missing value is introduced. The search runs in
``_flip_search``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._constraints import Constraints
from ._flip_search import CHUNK, Chunk, Space
from ._probe import Probe

__all__ = ["FlipResult", "minimal_flip"]

_REGRESSION_THRESHOLD = ("regression has no decision to flip unless you give one: pass "
                         "threshold=<value> to find the smallest change that moves the "
                         "prediction across it.")


@dataclass(frozen=True)
class FlipResult:
    """What :func:`minimal_flip` found for each row.

    Attributes
    ----------
    table : pandas.DataFrame
        One line per requested row (see :meth:`to_frame`).
    counterfactuals : pandas.DataFrame
        The counterfactual of every flipped row (the row itself when it was already on the
        target side), indexed by row label, with the columns and dtypes of ``session.X``.
    n_queries : int
        Rows the model scored in all.
    budget : int
        The query budget per row.
    cancelled : bool
        True when the search was stopped before it finished.
    errors : dict
        Model error message -> number of candidate rows it was raised on.
    threshold : float or None
        The decision threshold (None for multiclass).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [5, 6, 7, 8]})
    >>> session = bind(lambda df: df["a"] + 0 * df["b"], X, task="regression")
    >>> result = minimal_flip(session, [0], threshold=1.5, budget=100, random_state=0)
    >>> result.to_frame()[["status", "original", "new", "changed"]].values.tolist()
    [['flipped', 'below', 'above', ('a',)]]
    >>> result.counterfactuals.values.tolist(), result.success_rate
    ([[1.5, 5.0]], 1.0)
    """

    table: pd.DataFrame = field(repr=False)
    counterfactuals: pd.DataFrame = field(repr=False)
    n_queries: int
    budget: int
    cancelled: bool = False
    errors: Mapping[str, int] = field(default_factory=dict)
    threshold: float | None = None

    @property
    def success_rate(self) -> float:
        """Fraction of the requested rows with a counterfactual on the target side."""
        return float(self.table["flipped"].mean())

    def to_frame(self) -> pd.DataFrame:
        """One line per requested row.

        Columns: ``row`` (label), ``status`` ("flipped", "already" on the target side,
        "not found", "cancelled" or "error"), ``flipped``, ``original`` and ``new`` (the
        decision: class, or "above"/"below" the threshold for regression),
        ``original_score`` and ``new_score`` (the positive-class score, the regression
        value, or the top class's score), ``distance`` (normalised L1), ``n_changed``,
        ``changed`` (tuple of feature names) and ``queries`` (rows the model scored for it).

        Returns
        -------
        pandas.DataFrame
        """
        return self.table.copy()


def minimal_flip(
    session: Any,
    rows: Any,
    *,
    threshold: float | None = None,
    target: Any = None,
    constraints: Constraints | Mapping[str, Any] | None = None,
    features: Iterable[str] | None = None,
    budget: int = 2_400,
    random_state: int | np.random.Generator | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> FlipResult:
    """Find, for each row, the smallest change that flips the model's decision.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    rows : label, list of labels or pandas.DataFrame
        Index labels of ``session.X``, or rows with its columns (e.g. edited rows).
    threshold : float, default=None
        Binary: a score ``>= threshold`` is positive (default 0.5, or 0 for a
        ``decision_function``). Regression: required, the value to cross. Ignored for
        multiclass, where the decision is the top class.
    target : object, default=None
        The decision wanted: a class label, or ``"above"``/``"below"`` for regression.
        None: any other decision than the row's. Rows already there get status "already".
    constraints : Constraints or dict, default=None
        The search constraints, or keyword arguments of ``Constraints.from_session`` (e.g.
        ``{"immutable": ["AGE"], "margin": 0}``); None uses the schema's.
    features : iterable of str, default=None
        Features the search may change (default: every mutable feature).
    budget : int, default=2400
        Model queries (scored rows) per row, its original prediction included.
    random_state : int, numpy.random.Generator or None, default=None
        Seed; each row's search depends only on it and the row's position in ``rows``.
    progress : callable, default=None
        Called with the fraction done.
    cancel : threading.Event, default=None
        Set it to stop; the result then holds what was found and ``cancelled=True``.

    Returns
    -------
    FlipResult

    Raises
    ------
    ValueError
        For unknown rows, a bad budget, threshold or target, or no searchable feature.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=1_000)
    >>> session = mdw.bind(mdw.datasets.demo_model(data, kind="logistic"), data.X, data.y,
    ...                    schema=mdw.datasets.CREDIT_SCHEMA)
    >>> result = minimal_flip(session, [1, 2], budget=600, random_state=0)
    >>> result.success_rate, result.n_queries <= 2 * 600
    (1.0, True)
    >>> "AGE" in set(result.to_frame()["changed"].sum())
    False
    """
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise ValueError(f"budget must be an integer >= 1 (model queries per row); got "
                         f"{budget!r}.")
    labels, bases = _resolve_rows(session, rows)
    if not isinstance(constraints, Constraints):
        constraints = Constraints.from_session(session, **dict(constraints or {}))
    searchable = constraints.searchable(features)
    decision = _Decision.make(session, threshold, target)
    seed = _seed(random_state)
    probe = Probe(session, budget=int(budget) * len(labels), progress=progress, cancel=cancel)
    space = Space(session, constraints, searchable)
    lines, found = [], []
    for start in range(0, len(labels), CHUNK):
        chunk = Chunk(space, decision, probe, bases.iloc[start:start + CHUNK], int(budget),
                       [np.random.default_rng([seed, i]) for i in
                        range(start, min(start + CHUNK, len(labels)))], start, len(labels))
        chunk.run()
        part_lines, part_found = chunk.results(labels[start:start + CHUNK])
        lines += part_lines
        found += part_found
        probe.report(min(start + CHUNK, len(labels)) / len(labels))
    table = pd.DataFrame(lines, columns=["row", "status", "flipped", "original", "new",
                                         "original_score", "new_score", "distance",
                                         "n_changed", "changed", "queries"])
    for j, name in ((3, "original"), (4, "new")):  # decisions keep their type, None if none
        table[name] = pd.Series([line[j] for line in lines], dtype=object)
    cfs = pd.concat(found) if found else bases.iloc[:0]
    cfs = cfs.astype(session.X.dtypes.to_dict(), errors="ignore")
    return FlipResult(table, cfs, probe.n_queries, int(budget), probe.cancelled,
                      dict(probe.errors), decision.threshold)


def _resolve_rows(session: Any, rows: Any) -> tuple[list, pd.DataFrame]:
    X = session.X
    if isinstance(rows, pd.DataFrame):
        missing = [c for c in X.columns if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lacks the columns {missing}; pass rows with the columns "
                             "of session.X, or index labels of session.X.")
        if len(rows) == 0:
            raise ValueError("rows is empty; pass at least one row.")
        return list(rows.index), rows[list(X.columns)].copy()
    labels = list(rows) if isinstance(rows, list | tuple | np.ndarray | pd.Index
                                      | pd.Series) else [rows]
    if not labels:
        raise ValueError("rows is empty; pass at least one index label of session.X.")
    unknown = [label for label in labels if not _is_label(X.index, label)]
    if unknown:
        raise ValueError(f"rows {unknown[:5]} are not index labels of session.X (such as "
                         f"{list(X.index[:3])}); pass labels of session.X, or a DataFrame "
                         "of rows to search from.")
    return labels, X.loc[labels]


def _is_label(index: pd.Index, label: Any) -> bool:
    try:
        return label in index
    except TypeError:
        return False


def _seed(random_state: Any) -> int:
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if random_state is None:
        return int(np.random.SeedSequence().entropy % 2**63)
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(f"random_state must be an int, a numpy Generator or None; got "
                         f"{random_state!r}.")
    return int(random_state)


def _is_probability(session: Any) -> bool:
    return session.adapter.output_kind == "probability"


@dataclass
class _Decision:
    """Which side of the decision a row is on, and whether a candidate flipped it."""

    task: str
    threshold: float | None
    target: Any
    names: list
    probability: bool = False

    @classmethod
    def make(cls, session: Any, threshold: float | None, target: Any) -> _Decision:
        task, names = session.task, list(session.output_names)
        if task == "multiclass":
            if target is not None and target not in names:
                raise ValueError(f"target {target!r} is not a class; choose one of {names}.")
            return cls(task, None, target, names, _is_probability(session))
        if threshold is None:
            if task == "regression":
                raise ValueError(_REGRESSION_THRESHOLD)
            decision_fn = session.adapter.output_kind == "decision"
            threshold = 0.0 if decision_fn else 0.5
        if not np.isfinite(float(threshold)):
            raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
        if task == "regression":
            names = ["below", "above"]
        else:
            classes = session.adapter.classes
            classes = [0, 1] if classes is None else list(classes)
            negative = [c for c in classes if c != names[0]]
            names = [negative[0] if negative else "negative", names[0]]
        if target is not None and target not in names:
            raise ValueError(f"target {target!r} is not a decision of this model; choose one "
                             f"of {names} (or None for the other side of the row's).")
        return cls(task, float(threshold), target, names, _is_probability(session))

    def label(self, scores: np.ndarray) -> np.ndarray:
        """Decision index per scored row (-1 where the score is not finite)."""
        ok = np.isfinite(scores).all(axis=1)
        if self.task == "multiclass":
            out = np.argmax(np.where(ok[:, None], scores, -np.inf), axis=1)
        else:
            out = (scores[:, 0] >= self.threshold).astype(np.int64)
        return np.where(ok, out, -1)

    def score(self, scores: np.ndarray) -> np.ndarray:
        return scores.max(axis=1) if self.task == "multiclass" else scores[:, 0]

    def margin(self, scores: np.ndarray, original: int) -> np.ndarray:
        """How far past the decision boundary (in logits for probabilities), signed."""
        s = scores
        if self.probability:
            s = np.log(np.clip(s, 1e-12, 1.0))
            if self.task != "multiclass":
                s = s - np.log(np.clip(1.0 - scores, 1e-12, 1.0))
        wanted = self.wanted(original)
        if self.task == "multiclass":
            keep = np.arange(s.shape[1]) != (original if wanted is None else wanted)
            other = np.max(np.where(keep, s, -np.inf), axis=1)
            return other - s[:, original] if wanted is None else s[:, wanted] - other
        t = self.threshold
        t = np.log(t / (1 - t)) if self.probability and 0 < t < 1 else t
        return (s[:, 0] - t) * (1 if wanted == 1 else -1)

    def wanted(self, original: int) -> int | None:
        """Return the wanted decision's index, or None for "any but ``original``"."""
        if self.target is not None:
            return self.names.index(self.target)
        return None if self.task == "multiclass" else 1 - original

    def flipped(self, labels: np.ndarray, original: int) -> np.ndarray:
        wanted = self.wanted(original)
        if wanted is None:
            return (labels != original) & (labels >= 0)
        return labels == wanted
