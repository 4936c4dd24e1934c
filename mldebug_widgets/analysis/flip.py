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

Candidates stay inside the constraints by the rule of ``Constraints.project``, applied in
numpy (immutables never change, numbers are clipped to ``Constraints.bounds``, integers
rounded, categories taken from ``Constraints.choices``); no missing value is introduced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._constraints import Constraints
from ._probe import Probe

__all__ = ["FlipResult", "minimal_flip"]

_SWEEP_PCT = (0, 2, 10, 25, 50, 75, 90, 98, 100)
_COARSE, _FINE = (0.0, 0.3, 0.6, 0.8, 0.9), (0.95, 0.98)
_LINE = (0.3, 0.6, 0.8, 0.9, 0.95)
_CHUNK, _DONORS, _TRACKS, _WAVES, _GREEDY = 64, 2_000, 4, 4, 6
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
    space = _Space(session, constraints, searchable)
    lines, found = [], []
    for start in range(0, len(labels), _CHUNK):
        chunk = _Chunk(space, decision, probe, bases.iloc[start:start + _CHUNK], int(budget),
                       [np.random.default_rng([seed, i]) for i in
                        range(start, min(start + _CHUNK, len(labels)))], start, len(labels))
        chunk.run()
        part_lines, part_found = chunk.results(labels[start:start + _CHUNK])
        lines += part_lines
        found += part_found
        probe.report(min(start + _CHUNK, len(labels)) / len(labels))
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


class _Space:
    """Numeric encoding of rows: numbers as floats, categories as codes into their choices."""

    def __init__(self, session: Any, constraints: Constraints, searchable: list[str]):
        schema, X = constraints.schema, session.X
        self.constraints, self.cols = constraints, list(X.columns)
        self.S = np.array([self.cols.index(f) for f in searchable], dtype=np.intp)
        self.searched = set(self.S.tolist())
        kinds = [schema[c].kind for c in self.cols]
        self.is_cat = np.array([k in ("categorical", "boolean") for k in kinds])
        self.is_int = np.array([k == "integer" for k in kinds])
        self.num = self.S[~self.is_cat[self.S]]
        self.cat = self.S[self.is_cat[self.S]]
        self.choices = {j: constraints.choices(self.cols[j]) for j in self.cat}
        self.quant = {j: np.asarray(schema[self.cols[j]].quantiles, dtype=np.float64)
                      for j in self.num if len(schema[self.cols[j]].quantiles) == 101}
        self.scale = np.ones(len(self.cols))
        for name, value in constraints.scales().items():
            self.scale[self.cols.index(name)] = value
        take = np.random.default_rng(0).permutation(len(X))[:_DONORS]
        self.donors = self.encode(X.iloc[np.sort(take)])

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.full((len(frame), len(self.cols)), np.nan)
        for j in self.S:
            col = frame[self.cols[j]]
            out[:, j] = (pd.Index(self.choices[j]).get_indexer(col) if self.is_cat[j]
                         else pd.to_numeric(col, errors="coerce").to_numpy(np.float64))
        return out

    def decode(self, C: np.ndarray, owner: np.ndarray, bases: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        for j, name in enumerate(self.cols):
            column = bases[name]
            kept = column.to_numpy()[owner] if isinstance(column.dtype, np.dtype) \
                else column.array.take(owner)
            if j not in self.searched:
                columns[name] = kept
            elif self.is_cat[j]:
                codes = C[:, j].astype(np.int64)
                columns[name] = _cast(np.where(codes >= 0, self.choices[j][np.maximum(codes, 0)],
                                               np.asarray(kept, dtype=object)), column.dtype)
            else:
                columns[name] = _cast(C[:, j], column.dtype)
        return pd.DataFrame(columns, columns=self.cols)

    def bounds(self, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.full(len(self.cols), np.nan), np.full(len(self.cols), np.nan)
        for j in self.num:
            lo[j], hi[j] = self.constraints.bounds(self.cols[j], base[j])
        return lo, hi


def _cast(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Values in the column's dtype where they fit (integers stay integers unless NaN)."""
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        numbers = np.asarray(values, dtype=np.float64)
        if np.isfinite(numbers).all() and np.array_equal(numbers, np.round(numbers)):
            return numbers.astype(dtype)
        return numbers
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return np.asarray(values, dtype=dtype)
    return values if dtype == np.dtype(object) else pd.array(values, dtype=dtype)


@dataclass
class _Track:
    x: np.ndarray
    d: float
    k: int
    fine: bool = False
    done: bool = False


def _better(d: float, k: int, best_d: float, best_k: int) -> bool:
    return d < best_d - 1e-9 or (d <= best_d + 1e-9 and k < best_k)


class _Chunk:
    """The lockstep search of up to ``_CHUNK`` rows: each step is one model call."""

    def __init__(self, space: _Space, decision: _Decision, probe: Probe, bases: pd.DataFrame,
                 budget: int, rngs: list[np.random.Generator], offset: int, total: int):
        self.space, self.decision, self.probe, self.bases = space, decision, probe, bases
        self.budget, self.rngs, self.R = budget, rngs, len(bases)
        self.offset, self.total = offset, total
        self.B = space.encode(bases)
        self.lo, self.hi = (np.array(a) for a in zip(*map(space.bounds, self.B), strict=True))
        self.switch = space.is_cat[None, :] | np.isnan(self.B)
        self.used = np.zeros(self.R, dtype=np.int64)
        self.orig = np.full(self.R, -1)
        self.orig_score = np.full(self.R, np.nan)
        self.status: list[str | None] = [None] * self.R
        self.best: list[np.ndarray | None] = [None] * self.R
        self.best_d, self.best_k = np.full(self.R, np.inf), np.zeros(self.R, dtype=np.int64)
        self.best_score = np.full(self.R, np.nan)
        self.best_label = np.full(self.R, -1)
        self.pool: list[list[np.ndarray]] = [[] for _ in range(self.R)]

    # -- scoring --------------------------------------------------------------------
    def clip(self, C: np.ndarray, r: int) -> np.ndarray:
        num, ints = self.space.num, self.space.num[self.space.is_int[self.space.num]]
        C[:, num] = np.clip(C[:, num], self.lo[r, num], self.hi[r, num])
        C[:, ints] = np.round(C[:, ints])
        return C

    def dist(self, C: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        sp, b = self.space, self.B[r]
        step = np.zeros((len(C), len(sp.cols)))
        x, bn = C[:, sp.num], b[sp.num]
        with np.errstate(invalid="ignore"):
            moved = np.abs(x - bn) / sp.scale[sp.num]
        step[:, sp.num] = np.where(np.isnan(x) != np.isnan(bn), 1.0, np.nan_to_num(moved))
        step[:, sp.cat] = C[:, sp.cat] != b[sp.cat]
        return step.sum(axis=1), (step > 0).sum(axis=1)

    def evaluate(self, batches: dict[int, np.ndarray]) -> dict[int, tuple]:
        """Score every row's candidates in one call; update the best flipped per row."""
        parts, owners = [], []
        for r, C in batches.items():
            n = int(min(len(C), self.budget - self.used[r]))
            if n > 0:
                parts.append(self.clip(np.array(C[:n], dtype=np.float64), r))
                owners.append(np.full(n, r))
        if not parts or self.probe.cancelled:
            return {}
        owner = np.concatenate(owners)
        scores = self.probe.score(self.space.decode(np.vstack(parts), owner, self.bases))
        labels, values = self.decision.label(scores), self.decision.score(scores)
        out = {}
        for C, own in zip(parts, owners, strict=True):
            r, rows = own[0], owner == own[0]
            self.used[r] += len(C)
            flipped = self.decision.flipped(labels[rows], self.orig[r])
            d, k = self.dist(C, r)
            margin = self.decision.margin(scores[rows], self.orig[r])
            for i in np.flatnonzero(flipped):
                if _better(d[i], k[i], self.best_d[r], self.best_k[r]):
                    self.best[r], self.best_d[r], self.best_k[r] = C[i], d[i], k[i]
                    self.best_score[r], self.best_label[r] = values[rows][i], labels[rows][i]
            out[r] = (C, flipped, d, k, margin)
        self.probe.report((self.offset + 0.99 * self.used.sum() / self.budget) / self.total)
        return out

    # -- candidates -----------------------------------------------------------------
    def sweep(self, r: int, b: np.ndarray) -> np.ndarray:
        """Each searchable feature of ``b`` alone over its percentiles, bounds, categories."""
        sp, blocks = self.space, []
        for j in sp.S:
            if sp.is_cat[j]:
                values = np.arange(len(sp.choices[j]), dtype=np.float64)
            else:
                q = sp.quant[j][list(_SWEEP_PCT)] if j in sp.quant else np.array([])
                values = np.clip(np.r_[q, self.lo[r, j], self.hi[r, j]], self.lo[r, j],
                                 self.hi[r, j])
                values = np.round(values) if sp.is_int[j] else values
            values = np.unique(values[values != b[j]])
            block = np.tile(b, (len(values), 1))
            block[:, j] = values
            blocks.append(block)
        return np.vstack(blocks)

    def draw(self, r: int, n: int) -> np.ndarray:
        """Values of every searchable feature: donor rows, uniform or percentile draws."""
        sp, rng = self.space, self.rngs[r]
        V = sp.donors[rng.integers(len(sp.donors), size=n)][:, sp.S]
        for i, j in enumerate(sp.S):
            if sp.is_cat[j]:
                fresh = rng.integers(len(sp.choices[j]), size=n).astype(np.float64)
            elif j in sp.quant and rng.random() < 0.5:
                fresh = np.interp(rng.uniform(0, 100, n), np.arange(101), sp.quant[j])
            else:
                fresh = rng.uniform(self.lo[r, j], self.hi[r, j], n)
            bad = np.isnan(V[:, i]) | (V[:, i] < 0 if sp.is_cat[j] else False)
            V[:, i] = np.where(bad | (rng.random(n) < 0.5), fresh, V[:, i])
        return V

    def sparse(self, r: int, n: int, ks: tuple, around: np.ndarray | None = None) -> np.ndarray:
        """``n`` rows with ``k`` random searchable features drawn (k from ``ks``)."""
        rng, S = self.rngs[r], self.space.S
        start = self.B[r] if around is None else around
        k = np.minimum(rng.choice(np.asarray(ks), n), len(S))
        mask = rng.random((n, len(S))).argsort(axis=1).argsort(axis=1) < k[:, None]
        C = np.tile(start, (n, 1))
        C[:, S] = np.where(mask, self.draw(r, n), C[:, S])
        if around is not None:  # a swap: also revert one of the changed features
            changed = S[(around[S] != self.B[r, S]) & ~np.isnan(around[S])]
            if len(changed):
                j = rng.choice(changed, n)
                C[np.arange(n), j] = self.B[r, j]
        return C

    def moves(self, r: int, t: _Track) -> np.ndarray:
        """Revert, shrink or scale down the changes of a track's point; new rows only."""
        sp, b, x = self.space, self.B[r], t.x
        d_each = (x[sp.S] != b[sp.S]) & ~(np.isnan(x[sp.S]) & np.isnan(b[sp.S]))
        changed = sp.S[d_each]
        rows = []
        for j in changed:
            factors = (0.0,) if self.switch[r, j] else (_FINE if t.fine else _COARSE)
            for f in factors if not (t.fine and self.switch[r, j]) else ():
                y = x.copy()
                y[j] = b[j] + f * (x[j] - b[j]) if f else b[j]
                rows.append(y)
        scaled = changed[~self.switch[r, changed]]
        for f in () if t.fine or not len(scaled) else _LINE:
            y = x.copy()
            y[scaled] = b[scaled] + f * (x[scaled] - b[scaled])
            rows.append(y)
        if not rows:
            return np.empty((0, len(x)))
        M = self.clip(np.array(rows), r)
        keys, keep = {x.tobytes()}, []
        for i, row in enumerate(M):
            if row.tobytes() not in keys:
                keys.add(row.tobytes())
                keep.append(i)
        return M[keep]

    # -- the search -----------------------------------------------------------------
    def run(self) -> None:
        if self.probe.cancelled:
            return
        scores = self.probe.score(self.bases)
        self.used += 1
        self.orig = self.decision.label(scores)
        self.orig_score = self.decision.score(scores)
        for r in range(self.R):
            if self.orig[r] < 0:
                self.status[r] = "error"
            elif self.decision.wanted(self.orig[r]) == self.orig[r]:
                self.status[r], self.best[r], self.best_d[r] = "already", self.B[r], 0.0
                self.best_score[r], self.best_label[r] = self.orig_score[r], self.orig[r]
        active = [r for r in range(self.R) if self.status[r] is None]
        reserve = min(400, self.budget // 5)
        self.greedy(active, [self.decision.margin(scores[[r]], self.orig[r])[0]
                             for r in range(self.R)], reserve)
        self.explore({r: np.vstack([self.sparse(r, 150, (1, 2, 2, 3, 3, 4, 6)),
                                    self.sparse(r, 50, (2, 3, 4, 6, 8))]) for r in active})
        for _ in range(200):  # denser changes while nothing flips
            todo = [r for r in active if self.best[r] is None
                    and self.used[r] < self.budget - reserve]
            m = len(self.space.S)
            if not todo or not self.explore(
                    {r: self.sparse(r, 256, (max(m // 4, 1), max(m // 2, 1), m))
                     for r in todo}):
                break
        for wave in range(_WAVES):
            todo = [r for r in active if self.best[r] is not None and self.used[r] < self.budget]
            if not todo or self.probe.cancelled:
                break
            before = self.best_d.copy()
            if wave:  # swaps around the best and fresh sparse changes
                self.explore({r: np.vstack([self.sparse(r, 80, (1, 2), around=self.best[r]),
                                            self.sparse(r, 60, (1, 2, 3))]) for r in todo})
            self.refine(todo)
            if wave and np.all(self.best_d[todo] > before[todo] * 0.995):
                break

    def greedy(self, rows: list[int], margin: list[float], reserve: int) -> None:
        """From the row, take the single-feature move with the most margin per distance."""
        current = {r: (self.B[r], margin[r], 0.0) for r in rows}
        for _ in range(_GREEDY):
            todo = [r for r, (_, _, d) in current.items()
                    if d < self.best_d[r] and self.used[r] < self.budget - reserve]
            out = self.explore({r: self.sweep(r, current[r][0]) for r in todo})
            for r, (C, flipped, d, _, m) in out.items():
                x, m0, d0 = current[r]
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = np.where((m > m0) & ~flipped, (m - m0) / np.maximum(d - d0, 1e-9),
                                     -np.inf)
                i = int(np.argmax(np.nan_to_num(ratio, nan=-np.inf)))
                if np.isfinite(ratio[i]):
                    current[r] = (C[i], m[i], d[i])
                else:
                    del current[r]
            if not out:
                return

    def explore(self, batches: dict[int, np.ndarray]) -> dict[int, tuple]:
        """Score candidates; keep the flipped ones in each row's pool."""
        out = self.evaluate(batches)
        for r, (C, flipped, *_) in out.items():
            if flipped.any():
                self.pool[r].append(C[flipped])
        return out

    def tracks(self, r: int) -> list[_Track]:
        """Start points: the closest flipped candidates with distinct changed features."""
        pool = np.vstack(self.pool[r] + [self.best[r][None]])
        self.pool[r] = []
        d, k = self.dist(pool, r)
        out, seen = [], set()
        for i in np.lexsort((k, d)):
            if d[i] > 2 * self.best_d[r] + 1e-9 or len(out) == _TRACKS:
                break
            key = tuple(pool[i] != self.B[r])
            if key not in seen:
                seen.add(key)
                out.append(_Track(pool[i], d[i], k[i]))
        return out

    def refine(self, rows: list[int]) -> None:
        """Move every track to its closest flipped neighbour until no move helps."""
        tracks = {r: self.tracks(r) for r in rows}
        while not self.probe.cancelled:
            batches, owners = {}, {}
            for r, ts in tracks.items():
                ts = [t for t in ts if not t.done
                      and t.d <= 1.5 * self.best_d[r] + 1e-9]
                tracks[r] = sorted(ts, key=lambda t: t.d)[:_TRACKS]
                parts = [(i, self.moves(r, t)) for i, t in enumerate(tracks[r])]
                if parts and self.used[r] < self.budget:
                    batches[r] = np.vstack([m for _, m in parts])
                    owners[r] = np.concatenate([np.full(len(m), i) for i, m in parts])
            out = self.evaluate(batches)
            if not out:
                return
            for r, (C, flipped, d, k, _) in out.items():
                for i, t in enumerate(tracks[r]):
                    hit = np.flatnonzero(flipped & (owners[r][:len(C)] == i))
                    j = hit[np.lexsort((k[hit], d[hit]))[0]] if len(hit) else None
                    if j is not None and _better(d[j], k[j], t.d, t.k):
                        t.x, t.d, t.k, t.fine = C[j], d[j], k[j], False
                    elif t.fine or not len(owners[r]) or (owners[r] == i).sum() == 0:
                        t.done = True
                    else:
                        t.fine = True

    def results(self, labels: list) -> tuple[list, list]:
        lines, found = [], []
        names, sp = self.decision.names, self.space
        for r, label in enumerate(labels):
            status = self.status[r] or ("flipped" if self.best[r] is not None else
                                        "cancelled" if self.probe.cancelled else "not found")
            original = names[self.orig[r]] if 0 <= self.orig[r] < len(names) else None
            if self.best[r] is None:
                lines.append((label, status, False, original, None, self.orig_score[r],
                              np.nan, np.nan, 0, (), int(self.used[r])))
                continue
            x = self.best[r]
            changed = tuple(sp.cols[j] for j in sp.S if x[j] != self.B[r, j]
                            and not (np.isnan(x[j]) and np.isnan(self.B[r, j])))
            lines.append((label, status, True, original, names[self.best_label[r]],
                          self.orig_score[r], self.best_score[r], float(self.best_d[r]),
                          len(changed), changed, int(self.used[r])))
            row = (self.bases.iloc[[r]].copy() if status == "already"
                   else sp.decode(x[None], np.array([r]), self.bases))
            row.index = pd.Index([label], name=self.bases.index.name)
            found.append(row)
        return lines, found
