"""Random attack: many synthetic rows with injected input faults, and what the model does.

Every attacked feature is drawn independently over its range widened by a margin (the
seed's rule ``min - |margin*min| .. max + |margin*max|``; integers whole, categories from the
known ones); then single cells are replaced by a missing value (in every feature, whatever
the schema allows: that is the point), an unseen category, an extreme magnitude or a number
written as text. The model scores the rows in batches through a :class:`Probe`, so a model
that raises on some rows is reported by input pattern and the attack carries on.

The rows are drawn in ``_attack_rows`` and the per-feature report and failure attribution
are computed in ``_attack_report``; the batches are scored (and input patterns the model
always raises on retired) in ``_attack_scoring``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

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
from ._attack_report import count_rows as _rows
from ._attack_report import fmt_number as _fmt
from ._attack_report import span_text as _between
from ._attack_rows import (  # noqa: F401 (the patterns and messages, public here)
    EXTREME,
    EXTREME_FACTOR,
    MISSING,
    NO_RANGE,
    PATTERNS,
    RATE_RANGE,
    RATES_SUM,
    RESERVED_COLUMNS,
    UNSEEN,
    WRONG_TYPE,
    check_features,
    check_options,
    check_output,
    draw_rows,
    pattern_kinds,
)
from ._attack_scoring import (  # noqa: F401 (the option's default and message, public here)
    RETIRED_COLUMNS,
    SKIP_FAILING,
    SKIP_FAILING_DEFAULT,
    Scored,
    check_skip_failing,
    retired_table,
    score_rows,
)

_LABELS = {MISSING: "Missing {f}", EXTREME: "Extreme {f}", UNSEEN: "An unseen {f} category",
           WRONG_TYPE: "{f} written as text"}


@dataclass(frozen=True)
class AttackResult:
    """What a random attack found.

    Attributes
    ----------
    frame : pandas.DataFrame
        The attack rows (RangeIndex): the features, ``prediction`` (the reported output;
        NaN where the model raised, returned non-finite or the row was skipped),
        ``prediction[c]`` per class (multiclass), ``patterns`` (tuple of injected patterns such as
        ``"PAY_AMT1 missing"``) and ``error`` (the model's message, or None).
    injected : pandas.DataFrame
        Per cell of the attacked features: the injected pattern (:data:`PATTERNS`) or "".
    skipped : pandas.Series
        True for the rows not sent to the model: they carry a retired pattern (see
        ``retired``). Their prediction is NaN and they are not queries.
    retired : pandas.DataFrame
        Columns ``pattern, feature, kind, n_failed, n_skipped, message``: one row per
        retired input pattern: the model raised on every scored row with it (``n_failed``,
        at least ``skip_failing``), so the ``n_skipped`` later rows carrying it were not
        scored; ``message`` is its most common error. Empty with ``skip_failing=None``.
    by_feature : pandas.DataFrame
        One row per attacked feature and applicable pattern: ``n_rows`` (rows with it),
        ``n_errors``, ``n_skipped`` (rows with it not scored), ``mean``, ``min``, ``max`` of
        the prediction where scored, the same (``baseline_*``) over rows where the feature
        was drawn normally, ``difference``
        (mean - baseline_mean), ``z`` (the difference over its standard error) and
        ``notable`` (``|z| >= 4`` and a difference of at least 0.25 robust std of all
        predictions); ``top_count`` and ``bottom_count`` (its rows among the ``tail_size``
        highest and lowest predictions), ``*_lift``
        (count over the count expected from its share of the scored rows) and
        ``*_notable`` (a one-sided z >= 4, count >= 5 and lift >= 2). The summary lists the
        notable ones.
    exceptions : pandas.DataFrame
        Columns ``pattern, feature, kind, message, count, rows_with_pattern,
        failure_rate, rows_skipped``: the rows the model raised on, per message, each
        attributed to the pattern most of them carry (retired patterns first; then the
        next, for the rows left) if
        at least half of the scored rows with it failed (``failure_rate``), else to
        ``"no injected pattern"``; ``rows_skipped``: rows with the pattern not scored. A
        pattern whose failing rows all carry a pattern listed before it is not listed again
        (``retired`` lists every retired pattern).
    prediction_range, range_without_missing, range_with_missing : tuple of float
        (min, max) of the finite predictions of the scored rows: all rows, rows with no
        injected missing value, rows with at least one ((nan, nan) when there is none).
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
        Rows the model scored (``len(frame) - n_skipped``).
    n_calls : int
        Model calls made: one per batch, more where failing rows were isolated.
    skip_failing : int or None
        The option the attack ran with.
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
    >>> result.n_skipped, result.retired.empty
    (0, True)
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
    skipped: pd.Series = field(default_factory=lambda: pd.Series(dtype=bool))
    retired: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RETIRED_COLUMNS))
    bounds: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    n_rows: int = 0
    n_queries: int = 0
    n_calls: int = 0
    skip_failing: int | None = None
    tail_size: int = 0
    cancelled: bool = False
    task: str = "binary"

    @property
    def n_errors(self) -> int:
        """Rows the model raised on."""
        return int(self.frame["error"].notna().sum())

    @property
    def n_skipped(self) -> int:
        """Rows not sent to the model because they carry a retired pattern."""
        return int(self.skipped.sum())

    def summary(self, top: int = 5) -> list[str]:
        """Return the findings in words: ranges, the ``top`` clearest effects, failures."""
        skipped = self.n_skipped
        scored = (f"{_rows(len(self.frame), 'attack row')}: {self.n_queries:,} scored with "
                  f"{_rows(self.n_queries, 'model query', 'model queries')} and {skipped:,} not "
                  f"scored (each carries an input pattern the model always raised on)"
                  if skipped else f"{_rows(len(self.frame), 'attack row')} scored with "
                  f"{_rows(self.n_queries, 'model query', 'model queries')}")
        out = [f"{scored}; predictions span "
               f"{_between(self.prediction_range)} (without missing values: "
               f"{_between(self.range_without_missing)}; with at least one: "
               f"{_between(self.range_with_missing)})."]
        bf, k = self.by_feature, self.tail_size
        for tail, word in (("top", "highest"), ("bottom", "lowest")):
            found = bf.loc[bf[f"{tail}_notable"].astype(bool)]
            for _, r in found.sort_values(f"{tail}_lift", ascending=False).head(top).iterrows():
                share = (r["n_rows"] - r["n_errors"] - r["n_skipped"]) / max(
                    len(self.frame) - self.n_errors - skipped, 1)
                out.append(f"{_LABELS[r['pattern']].format(f=r['feature'])} is in "
                           f"{r[f'{tail}_count']} of the {k} {word} predictions "
                           f"({share:.0%} of all scored rows).")
        found = bf.loc[bf["notable"].astype(bool)]
        found = found.loc[found["difference"].abs().sort_values(ascending=False).index]
        for _, r in found.head(top).iterrows():
            out.append(f"{_LABELS[r['pattern']].format(f=r['feature'])} "
                       f"{'raises' if r['difference'] > 0 else 'lowers'} the mean prediction "
                       f"from {_fmt(r['baseline_mean'])} to {_fmt(r['mean'])} "
                       f"({_rows(r['n_rows'] - r['n_errors'] - r['n_skipped'])}, "
                       f"max {_fmt(r['max'])}).")
        if len(out) == 1:
            out.append("No injected fault clearly changed the predictions.")
        retired = set(self.retired["pattern"])
        for _, r in self.exceptions.loc[~self.exceptions["pattern"].isin(retired)].iterrows():
            message = str(r["message"]).splitlines()[0][:160]
            why = (f"with {r['pattern']} ({r['failure_rate']:.0%} of such rows failed)"
                   if r["feature"] is not None else "that no injected pattern explains")
            out.append(f"The model raised on {_rows(r['count'])} {why}: {message}")
        for _, r in self.retired.iterrows():
            message = str(r["message"]).splitlines()[0][:160]
            n, later = int(r["n_failed"]), int(r["n_skipped"])
            out.append(f"{r['pattern']}: the model raised on all {_rows(n)} scored with it; "
                       + (f"{later:,} more {'row' if later == 1 else 'rows'} with it "
                          f"{'was' if later == 1 else 'were'} not scored" if later
                          else "no later row carried it") + f": {message}")
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
    skip_failing: int | None = SKIP_FAILING_DEFAULT,
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
        are isolated, about one more call per failing row; ``skip_failing`` keeps that cost
        bounded for a pattern that always fails (a model that rejects missing values).
        While a pattern has failed and never succeeded, batches hold fewer rows (about
        ``skip_failing / 4`` rows of the most frequent pattern), so that such patterns are
        retired early.
    skip_failing : int or None, default=50
        Retire an input pattern (a feature and an injected kind, e.g. "EDUCATION missing")
        once the model has raised on ``skip_failing`` scored rows with it and scored none:
        later rows carrying it are not sent to the model (prediction NaN, not queries,
        counted in ``AttackResult.skipped`` and ``retired``). Decided between batches, so
        the same seed gives the same result. None scores every row.
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

    A model that rejects missing values: after 50 failures the pattern is retired.

    >>> def strict(df):
    ...     if df["a"].isna().any():
    ...         raise ValueError("a is missing")
    ...     return df["a"] * 2.0
    >>> r = random_attack(mdw.bind(strict, X, task="regression"), n_rows=2_000, random_state=0)
    >>> r.retired[["pattern", "n_failed", "n_skipped"]].to_numpy().tolist(), r.n_queries
    ([['a missing', 50, 179]], 1821)
    """
    rates = check_options(n_rows, margin, batch_size, missing_rate=missing_rate,
                           unseen_rate=unseen_rate, extreme_rate=extreme_rate,
                           wrong_type_rate=wrong_type_rate)
    skip_failing = check_skip_failing(skip_failing)
    attacked = check_features(session, features)
    output = check_output(session, output)
    rng = np.random.default_rng(random_state)
    X, codes, bounds = draw_rows(session, attacked, int(n_rows), rates, float(margin), rng)
    scored = score_rows(session, X, codes, attacked, rates, batch_size=int(batch_size),
                        skip_failing=skip_failing, progress=progress, cancel=cancel)
    return _result(session, X.iloc[:scored.done], codes[:scored.done], scored, attacked,
                   output, bounds, margin, rates, int(n_rows), skip_failing,
                   scored.done < len(X))


def _result(session: Any, X: pd.DataFrame, codes: np.ndarray, scored: Scored,
            attacked: tuple[str, ...], output: Any, bounds: dict, margin: float, rates: dict,
            n_rows: int, skip_failing: int | None, cancelled: bool) -> AttackResult:
    names, scores, skipped = list(session.output_names), scored.scores, scored.skipped
    finite_rows = np.isfinite(scores).all(axis=1)
    if output == "max" or len(names) == 1:
        pred = np.where(finite_rows, scores.max(axis=1, initial=-np.inf), np.nan)
    else:
        pred = scores[:, next(i for i, c in enumerate(names) if c == output)]
    error = np.array([scored.log.failed.get(i) for i in range(len(X))], dtype=object)
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
    retired = retired_table(scored.retired, codes, skipped, error, attacked)
    by_feature, tail_size = feature_effects(
        injected, {f: pattern_kinds(session.schema[f]) for f in attacked}, pred, raised,
        skipped, rates)
    return AttackResult(
        frame=frame, injected=injected, by_feature=by_feature, tail_size=tail_size,
        exceptions=exceptions_table(patterns, error, skipped, attacked, frozenset(
            retired["pattern"])), skipped=pd.Series(skipped, index=X.index, name="skipped"),
        retired=retired,
        skip_failing=skip_failing, prediction_range=span(pred),
        range_without_missing=span(pred[~missing]), range_with_missing=span(pred[missing]),
        n_nonfinite=int((~finite_rows & ~raised & ~skipped).sum()), n_out_of_range=out_of_range,
        output_bounds=out_bounds, output=output, features=attacked, bounds=bounds,
        rates=dict(rates), n_rows=n_rows, n_queries=scored.n_queries, n_calls=scored.log.n_calls,
        cancelled=cancelled, task=session.task)
