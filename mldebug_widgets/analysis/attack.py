"""Random attack: many synthetic rows with injected input faults, and what the model does.

Every attacked feature is drawn independently over its range widened by a margin (the
seed's rule ``min - |margin*min| .. max + |margin*max|``; integers whole, categories from the
known ones); then single cells are replaced by a missing value (in every feature, whatever
the schema allows: that is the point), an unseen category, an extreme magnitude or a number
written as text. The model scores the rows in batches through a :class:`Probe`, so a model
that raises on some rows is reported by input pattern and the attack carries on.

The rows are drawn in ``_attack_rows`` and the per-feature report and failure attribution
are computed in ``_attack_report``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ModelError
from ._attack_report import (  # noqa: F401 (the report's constants, public here)
    EFFECT_NOTABLE,
    MIN_FAILURE_RATE,
    NO_PATTERN,
    TAIL,
    TAIL_COUNT,
    TAIL_MIN,
    Z_NOTABLE,
    exceptions_table,
    feature_effects,
    output_bounds,
    span,
)
from ._attack_rows import (  # noqa: F401 (the patterns and messages, public here)
    EXTREME,
    EXTREME_FACTOR,
    MISSING,
    NO_RANGE,
    PATTERNS,
    RATE_RANGE,
    RATES_SUM,
    UNSEEN,
    WRONG_TYPE,
    check_options,
    draw_rows,
    pattern_kinds,
)
from ._probe import Probe

RESERVED_COLUMNS = ("prediction", "patterns", "error")
_LABELS = {MISSING: "Missing {f}", EXTREME: "Extreme {f}", UNSEEN: "An unseen {f} category",
           WRONG_TYPE: "{f} written as text"}


@dataclass(frozen=True)
class AttackResult:
    """What a random attack found.

    Attributes
    ----------
    frame : pandas.DataFrame
        The scored attack rows (RangeIndex): the features, ``prediction`` (the reported
        output; NaN where the model raised or returned non-finite), ``prediction[c]`` per
        class (multiclass), ``patterns`` (tuple of injected patterns such as
        ``"PAY_AMT1 missing"``) and ``error`` (the model's message, or None).
    injected : pandas.DataFrame
        Per cell of the attacked features: the injected pattern (:data:`PATTERNS`) or "".
    by_feature : pandas.DataFrame
        One row per attacked feature and applicable pattern: ``n_rows`` (rows with it),
        ``n_errors``, ``mean``, ``min``, ``max`` of the prediction where scored, the same
        (``baseline_*``) over rows where the feature was drawn normally, ``difference``
        (mean - baseline_mean), ``z`` (the difference over its standard error) and
        ``notable`` (``|z| >= 4`` and a difference of at least 0.25 robust std of all
        predictions); ``top_count`` and ``bottom_count`` (its rows among the ``tail_size``
        highest and lowest predictions), ``*_lift``
        (count over the count expected from its share of the scored rows) and
        ``*_notable`` (a one-sided z >= 4, count >= 5 and lift >= 2). The summary lists the
        notable ones.
    exceptions : pandas.DataFrame
        Columns ``pattern, feature, kind, message, count, rows_with_pattern,
        failure_rate``: the rows the model raised on, per message, each attributed to the
        pattern most of them carry (then the next, for the rows left) if at least half of
        the rows with it failed (``failure_rate``), else to ``"no injected pattern"``.
    prediction_range, range_without_missing, range_with_missing : tuple of float
        (min, max) of the finite predictions: all rows, rows with no injected missing value,
        rows with at least one ((nan, nan) when there is none).
    n_nonfinite, n_out_of_range : int
        Rows scored NaN or inf without an exception; rows with a finite score outside
        ``output_bounds``.
    output_bounds : tuple of float or None
        [0, 1] for probabilities; the observed target range widened by ``margin`` times its
        width for regression; None for decision scores.
    output : object
        The reported output: the positive class, "prediction", a class, or "max" (the
        largest class probability, multiclass default).
    features : tuple of str
        The attacked features.
    bounds : dict
        Attacked number -> the (lo, hi) its values were drawn from.
    rates : dict
        Pattern -> requested rate.
    n_rows : int
        Rows requested (``len(frame)`` is smaller after a cancel).
    n_queries : int
        Rows the model scored.
    n_calls : int
        Model calls made: one per batch, more where failing rows were isolated.
    tail_size : int
        Rows in each tail of ``by_feature`` (1 % of the finite predictions, at least 20).
    cancelled : bool
        True when the attack stopped before scoring every row.
    task : str
        The session's task.

    Examples
    --------
    >>> import pandas as pd
    >>> import mldebug_widgets as mdw
    >>> X = pd.DataFrame({"a": [0.0, 10.0, 20.0], "c": ["x", "y", "x"]})
    >>> session = mdw.bind(lambda df: df["a"].fillna(100.0), X, task="regression")
    >>> result = random_attack(session, n_rows=400, missing_rate=0.2, random_state=0)
    >>> result.n_queries, result.bounds["a"], result.n_out_of_range
    (400, (0.0, 22.0), 76)
    >>> for line in result.summary()[1:]:
    ...     print(line)
    Missing a is in 19 of the 20 highest predictions (18% of all scored rows).
    Missing a raises the mean prediction from 10.7 to 100 (74 rows, max 100).
    76 rows scored outside [-2, 22].
    """

    frame: pd.DataFrame
    injected: pd.DataFrame
    by_feature: pd.DataFrame
    exceptions: pd.DataFrame
    prediction_range: tuple[float, float]
    range_without_missing: tuple[float, float]
    range_with_missing: tuple[float, float]
    n_nonfinite: int
    n_out_of_range: int
    output_bounds: tuple[float, float] | None
    output: Any
    features: tuple[str, ...]
    bounds: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    n_rows: int = 0
    n_queries: int = 0
    n_calls: int = 0
    tail_size: int = 0
    cancelled: bool = False
    task: str = "binary"

    @property
    def n_errors(self) -> int:
        """Rows the model raised on."""
        return int(self.frame["error"].notna().sum())

    def summary(self, top: int = 5) -> list[str]:
        """Return the findings in words: ranges, the ``top`` clearest effects, failures."""
        out = [f"{_rows(len(self.frame), 'attack row')} scored with "
               f"{_rows(self.n_queries, 'model query', 'model queries')}; predictions span "
               f"{_between(self.prediction_range)} (without missing values: "
               f"{_between(self.range_without_missing)}; with at least one: "
               f"{_between(self.range_with_missing)})."]
        bf, k = self.by_feature, self.tail_size
        for tail, word in (("top", "highest"), ("bottom", "lowest")):
            found = bf.loc[bf[f"{tail}_notable"].astype(bool)]
            for _, r in found.sort_values(f"{tail}_lift", ascending=False).head(top).iterrows():
                share = (r["n_rows"] - r["n_errors"]) / max(len(self.frame) - self.n_errors, 1)
                out.append(f"{_LABELS[r['pattern']].format(f=r['feature'])} is in "
                           f"{r[f'{tail}_count']} of the {k} {word} predictions "
                           f"({share:.0%} of all scored rows).")
        found = bf.loc[bf["notable"].astype(bool)]
        found = found.loc[found["difference"].abs().sort_values(ascending=False).index]
        for _, r in found.head(top).iterrows():
            out.append(f"{_LABELS[r['pattern']].format(f=r['feature'])} "
                       f"{'raises' if r['difference'] > 0 else 'lowers'} the mean prediction "
                       f"from {_fmt(r['baseline_mean'])} to {_fmt(r['mean'])} "
                       f"({_rows(r['n_rows'] - r['n_errors'])}, max {_fmt(r['max'])}).")
        if len(out) == 1:
            out.append("No injected fault clearly changed the predictions.")
        for _, r in self.exceptions.iterrows():
            message = str(r["message"]).splitlines()[0][:160]
            why = (f"with {r['pattern']} ({r['failure_rate']:.0%} of such rows failed)"
                   if r["feature"] is not None else "that no injected pattern explains")
            out.append(f"The model raised on {_rows(r['count'])} {why}: {message}")
        if self.n_nonfinite:
            out.append(f"{_rows(self.n_nonfinite)} scored NaN or inf.")
        if self.n_out_of_range:
            out.append(f"{_rows(self.n_out_of_range)} scored outside "
                       f"[{_fmt(self.output_bounds[0])}, {_fmt(self.output_bounds[1])}].")
        if self.cancelled:
            out.append(f"Stopped after {len(self.frame):,} of {self.n_rows:,} rows.")
        return out

    def to_frame(self) -> pd.DataFrame:
        """Return the attack rows with their patterns joined as text (for display)."""
        frame = self.frame.copy()
        frame["patterns"] = frame["patterns"].map("; ".join)
        return frame


def random_attack(
    session: Any, *, n_rows: int = 10_000, missing_rate: float = 0.1, margin: float = 0.1,
    unseen_rate: float = 0.02, extreme_rate: float = 0.01, wrong_type_rate: float = 0.0,
    features: Sequence[str] | None = None, output: Any = None,
    random_state: int | np.random.Generator | None = None, batch_size: int = 2_000,
    progress: Callable[[float], None] | None = None, cancel: threading.Event | None = None,
) -> AttackResult:
    """Score many random rows with injected input faults and report what the model does.

    Parameters
    ----------
    session : DebugSession
        The bound model and data (never modified).
    n_rows : int, default=10_000
        Attack rows to draw and score.
    missing_rate : float, default=0.1
        Chance that a cell is missing (NaN), in every attacked feature.
    margin : float, default=0.1
        Numbers are drawn uniformly from ``min - |margin*min|`` to ``max + |margin*max|``
        (integers: the whole numbers in it); also widens the regression output bounds.
    unseen_rate : float, default=0.02
        Chance that a categorical cell gets a category the model never saw (the largest
        numeric code + 1, or the text "<unseen>").
    extreme_rate : float, default=0.01
        Chance that a numeric cell is ``max + 1e6*range`` or ``min - 1e6*range``.
    wrong_type_rate : float, default=0.0
        Chance that a numeric cell holds its drawn value as a string (the column becomes
        object dtype).
    features : list of str, default=None
        Features to attack (default: all; kept in column order). The other columns are
        copied from randomly chosen rows of the bound data (real rows with a few fields
        attacked).
    output : object, default=None
        Multiclass: the class to report; None reports the largest class score.
    random_state : int or numpy.random.Generator, default=None
        Seed: the same seed gives the same rows.
    batch_size : int, default=2_000
        Rows per model call. A batch the model raises on is split until the failing rows
        are isolated (about one more call per failing row: for a model that rejects missing
        values, lower ``missing_rate`` or ``n_rows``, or stop early).
    progress : callable, default=None
        Called with the fraction of rows scored after each batch.
    cancel : threading.Event, default=None
        When set, the attack stops before the next batch and reports the rows scored.

    Returns
    -------
    AttackResult

    Raises
    ------
    ValueError
        For a bad option (the message says which), or a number without a range.

    Examples
    --------
    >>> import pandas as pd
    >>> import mldebug_widgets as mdw
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    >>> s = mdw.bind(lambda df: 1.0 / df["a"], X, task="regression")
    >>> random_attack(s, n_rows=100, random_state=1).prediction_range[1] > 1.0
    True
    """
    rates = check_options(n_rows, margin, batch_size, missing_rate=missing_rate,
                           unseen_rate=unseen_rate, extreme_rate=extreme_rate,
                           wrong_type_rate=wrong_type_rate)
    attacked = _check_features(session, features)
    output = _check_output(session, output)
    rng = np.random.default_rng(random_state)
    X, codes, bounds = draw_rows(session, attacked, int(n_rows), rates, float(margin), rng)
    log = _ErrorLog(session)
    probe = Probe(log, budget=None, progress=progress, cancel=cancel)
    scores = np.full((len(X), len(session.output_names)), np.nan)
    done = 0
    for start in range(0, len(X), int(batch_size)):
        if probe.stopped:
            break
        stop = min(start + int(batch_size), len(X))
        # rows with the same injections side by side: the probe isolates failures in fewer calls
        order = start + np.lexsort(codes[start:stop].T[::-1])
        scores[order] = probe.score(X.iloc[order])
        done = stop
        probe.report(done / len(X))
    return _result(session, X.iloc[:done], codes[:done], scores[:done], log, attacked, output,
                   bounds, margin, rates, int(n_rows), probe.n_queries, done < len(X))


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.3g}"


def _rows(n: int, one: str = "row", many: str | None = None) -> str:
    return f"{n:,} {one}" if n == 1 else f"{n:,} {many or one + 's'}"


def _between(span: tuple[float, float]) -> str:
    return "none finite" if np.isnan(span[0]) else f"{_fmt(span[0])} to {_fmt(span[1])}"


def _check_features(session: Any, features: Sequence[str] | None) -> tuple[str, ...]:
    clash = [c for c in RESERVED_COLUMNS if c in session.X.columns]
    if clash:
        raise ValueError(f"the attack frame adds columns {list(RESERVED_COLUMNS)}; rename the "
                         f"feature(s) {clash} before binding.")
    if features is None:
        return tuple(session.X.columns)
    names = [features] if isinstance(features, str) else list(features)
    unknown = [f for f in names if f not in session.X.columns]
    if unknown or not names or len(set(names)) < len(names):
        raise ValueError(f"features must be distinct columns of the bound data; got {names} "
                         f"(unknown: {unknown}); columns are {list(session.X.columns)}.")
    return tuple(f for f in session.X.columns if f in set(names))


def _check_output(session: Any, output: Any) -> Any:
    names = list(session.output_names)
    if output is None:
        return "max" if session.task == "multiclass" else names[0]
    if session.task != "multiclass" or not any(output == n for n in names):
        raise ValueError(f"output must be None or, for a multiclass model, one of its classes "
                         f"{names}; got {output!r}.")
    return output


@dataclass
class _ErrorLog:
    """The session, as the probe sees it, noting which single rows raised (and why)."""

    session: Any
    failed: dict = field(default_factory=dict)
    n_calls: int = 0

    @property
    def output_names(self) -> list:
        return self.session.output_names

    def predict(self, frame: pd.DataFrame, *, check_finite: bool = False) -> np.ndarray:
        self.n_calls += 1
        try:
            return self.session.predict(frame, check_finite=check_finite)
        except ModelError as exc:
            if len(frame) == 1:  # the probe isolates failing rows down to single rows
                self.failed[int(frame.index[0])] = str(exc)
            raise


def _result(session: Any, X: pd.DataFrame, codes: np.ndarray, scores: np.ndarray,
            log: _ErrorLog, attacked: tuple[str, ...], output: Any, bounds: dict, margin: float,
            rates: dict, n_rows: int, n_queries: int, cancelled: bool) -> AttackResult:
    names = list(session.output_names)
    finite_rows = np.isfinite(scores).all(axis=1)
    if output == "max" or len(names) == 1:
        pred = np.where(finite_rows, scores.max(axis=1, initial=-np.inf), np.nan)
    else:
        pred = scores[:, next(i for i, c in enumerate(names) if c == output)]
    error = np.array([log.failed.get(i) for i in range(len(X))], dtype=object)
    raised = pd.notna(error)
    kinds = np.array([""] + list(PATTERNS), dtype=object)
    injected = pd.DataFrame(kinds[codes], columns=list(attacked))
    patterns = [tuple(f"{attacked[j]} {kinds[c]}" for j, c in enumerate(row) if c)
                for row in codes]
    frame = X.copy()
    frame["prediction"] = pred
    if session.task == "multiclass":
        for i, c in enumerate(names):
            frame[f"prediction[{c}]"] = scores[:, i]
    frame["patterns"] = pd.Series(patterns, index=X.index, dtype=object)
    frame["error"] = error
    out_bounds = output_bounds(session, margin)
    out_of_range = 0
    if out_bounds is not None:
        with np.errstate(invalid="ignore"):
            outside = ((scores < out_bounds[0] - 1e-9) | (scores > out_bounds[1] + 1e-9)).any(1)
        out_of_range = int((outside & finite_rows).sum())
    missing = (codes == PATTERNS.index(MISSING) + 1).any(axis=1)
    by_feature, tail_size = feature_effects(
        injected, {f: pattern_kinds(session.schema[f]) for f in attacked}, pred, raised, rates)
    return AttackResult(
        frame=frame, injected=injected, by_feature=by_feature, tail_size=tail_size,
        exceptions=exceptions_table(patterns, error, attacked), prediction_range=span(pred),
        range_without_missing=span(pred[~missing]), range_with_missing=span(pred[missing]),
        n_nonfinite=int((~finite_rows & ~raised).sum()), n_out_of_range=out_of_range,
        output_bounds=out_bounds, output=output, features=attacked, bounds=bounds,
        rates=dict(rates), n_rows=n_rows, n_queries=n_queries, n_calls=log.n_calls,
        cancelled=cancelled, task=session.task)
