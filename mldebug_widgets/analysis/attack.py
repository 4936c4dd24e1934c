"""Random attack: many synthetic rows with injected input faults, and what the model does.

Every attacked feature is drawn independently over its range widened by a margin (the
seed's rule ``min - |margin*min| .. max + |margin*max|``; integers whole, categories from the
known ones); then single cells are replaced by a missing value (in every feature, whatever
the schema allows: that is the point), an unseen category, an extreme magnitude or a number
written as text. The model scores the rows in batches through a :class:`Probe`, so a model
that raises on some rows is reported by input pattern and the attack carries on.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ModelError
from ..schema import FeatureSpec
from ._constraints import Constraints
from ._probe import Probe

MISSING, EXTREME, UNSEEN, WRONG_TYPE = "missing", "extreme", "unseen category", "wrong type (str)"
#: Injected patterns; a cell's code in ``AttackResult.injected`` is one of these or "".
PATTERNS = (MISSING, EXTREME, UNSEEN, WRONG_TYPE)
NO_PATTERN = "no injected pattern"  # failing rows no pattern explains
MIN_FAILURE_RATE = 0.5  # a culprit pattern fails in at least half of the rows that carry it
EXTREME_FACTOR = 1e6  # extreme values lie 1e6 x the feature's range beyond it
RESERVED_COLUMNS = ("prediction", "patterns", "error")
Z_NOTABLE, EFFECT_NOTABLE = 4.0, 0.25  # a finding: |z| >= 4, |difference| >= 0.25 robust std
TAIL, TAIL_MIN, TAIL_COUNT = 0.01, 20, 5  # tails: the 1 % (>= 20) highest / lowest predictions
_NUMERIC = ("numeric", "integer")
_RATE_NAMES = {MISSING: "missing_rate", EXTREME: "extreme_rate", UNSEEN: "unseen_rate",
               WRONG_TYPE: "wrong_type_rate"}
_LABELS = {MISSING: "Missing {f}", EXTREME: "Extreme {f}", UNSEEN: "An unseen {f} category",
           WRONG_TYPE: "{f} written as text"}
NO_RANGE = ("{name} has no observed range (is it all missing?); leave it out of features= or "
            "give it one: session.schema = session.schema.override({{{name!r}: "
            "{{'min': lo, 'max': hi}}}}).")
RATE_RANGE = "{name} must be a number between 0 and 1; got {value!r}."
RATES_SUM = ("{kind} feature {name!r} takes {rates} = {total:g} > 1, but each cell gets at most "
             "one injected fault; lower one of them.")


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
    rates = _check_options(n_rows, margin, batch_size, missing_rate=missing_rate,
                           unseen_rate=unseen_rate, extreme_rate=extreme_rate,
                           wrong_type_rate=wrong_type_rate)
    attacked = _check_features(session, features)
    output = _check_output(session, output)
    rng = np.random.default_rng(random_state)
    X, codes, bounds = _draw(session, attacked, int(n_rows), rates, float(margin), rng)
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


def _check_options(n_rows: Any, margin: Any, batch_size: Any, **rates: Any) -> dict:
    def number(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float | np.number)

    for name, value in (("n_rows", n_rows), ("batch_size", batch_size)):
        if not (number(value) and float(value).is_integer() and value >= 1):
            raise ValueError(f"{name} must be a positive integer (e.g. {name}=1_000); "
                             f"got {value!r}.")
    if not (number(margin) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0 (0.1 widens the range by 10 %); "
                         f"got {margin!r}.")
    for name, value in rates.items():
        if not (number(value) and 0 <= value <= 1):
            raise ValueError(RATE_RANGE.format(name=name, value=value))
    return {k: float(rates[_RATE_NAMES[k]]) for k in PATTERNS}


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


def _draw(session: Any, attacked: tuple[str, ...], n: int, rates: dict, margin: float,
          rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Draw the attack rows; ``codes[i, j]`` is 1 + the pattern index injected, or 0."""
    X, schema = session.X, session.schema
    rules = Constraints(schema, margin=margin)
    others = [c for c in X.columns if c not in attacked]
    copied = X[others].iloc[rng.integers(0, len(X), n)].reset_index(drop=True)
    u = rng.random((n, len(attacked)))
    codes = np.zeros((n, len(attacked)), dtype=np.int8)
    columns, bounds = {}, {}
    for j, name in enumerate(attacked):
        spec = schema[name]
        kinds = _kinds(spec)
        if sum(rates[k] for k in kinds) > 1:
            raise ValueError(RATES_SUM.format(
                kind=spec.kind, name=name, total=sum(rates[k] for k in kinds),
                rates=" + ".join(_RATE_NAMES[k] for k in kinds)))
        slot = np.searchsorted(np.cumsum([rates[k] for k in kinds]), u[:, j], side="right")
        for k, kind in enumerate(kinds):
            codes[slot == k, j] = PATTERNS.index(kind) + 1
        if spec.kind in _NUMERIC:
            if spec.min is None or spec.max is None:
                raise ValueError(NO_RANGE.format(name=name))
            bounds[name] = rules.bounds(name)
            columns[name] = _numbers(spec, X[name].dtype, codes[:, j], bounds[name], rng)
        else:
            columns[name] = _categories(spec, X[name].dtype, codes[:, j], rules, rng)
    frame = pd.DataFrame({c: columns[c] if c in columns else copied[c] for c in X.columns})
    return frame, codes, bounds


def _numbers(spec: FeatureSpec, dtype: Any, code: np.ndarray, bounds: tuple[float, float],
             rng: np.random.Generator) -> Any:
    n, (lo, hi) = len(code), bounds
    integer = spec.kind == "integer"
    values = (rng.integers(int(lo), int(hi) + 1, n).astype(np.float64) if integer
              else rng.uniform(lo, hi, n))
    extreme = code == PATTERNS.index(EXTREME) + 1
    width = float(spec.max) - float(spec.min) or max(abs(float(spec.max)), 1.0)
    up = rng.random(int(extreme.sum())) < 0.5
    values[extreme] = np.where(up, float(spec.max) + EXTREME_FACTOR * width,
                               float(spec.min) - EXTREME_FACTOR * width)
    if integer:
        values[extreme] = np.round(values[extreme])
    values[code == PATTERNS.index(MISSING) + 1] = np.nan
    text = code == PATTERNS.index(WRONG_TYPE) + 1
    if text.any():
        out = values.astype(object)
        if integer:
            out[~np.isnan(values)] = [int(v) for v in values[~np.isnan(values)]]
        out[text] = [str(v) for v in out[text]]
        return out
    if integer and not np.isnan(values).any():
        target = np.dtype(dtype) if np.dtype(dtype).kind in "iu" else np.dtype(np.int64)
        info = np.iinfo(target)
        if info.min <= values.min() and values.max() <= info.max:
            return values.astype(target)
    return values


def _categories(spec: FeatureSpec, dtype: Any, code: np.ndarray, rules: Constraints,
                rng: np.random.Generator) -> Any:
    allowed = np.asarray(list(rules.choices(spec.name)) + [None], dtype=object)[:-1]
    values = allowed[rng.integers(0, len(allowed), len(code))]
    unseen = code == PATTERNS.index(UNSEEN) + 1
    values[unseen] = _unseen_value(list(allowed))
    values[code == PATTERNS.index(MISSING) + 1] = np.nan
    if isinstance(dtype, pd.CategoricalDtype) and not unseen.any():
        return pd.Categorical(values, dtype=dtype)
    return pd.Series(values, dtype=object).infer_objects()


def _unseen_value(categories: list) -> Any:
    numbers = [c for c in categories if isinstance(c, int | float | np.number)
               and not isinstance(c, bool | np.bool_)]
    if len(numbers) == len(categories):
        return max(numbers) + 1
    value = "<unseen>"
    while value in categories:
        value = f"<{value}>"
    return value


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


def _span(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if len(values) else (np.nan, np.nan)


def _output_bounds(session: Any, margin: float) -> tuple[float, float] | None:
    if session.task != "regression":
        kind = getattr(session.adapter, "output_kind", "probability")
        return (0.0, 1.0) if kind in ("probability", "label") else None
    target = session.y if session.y is not None else session.predictions()[:, 0]
    values = pd.to_numeric(pd.Series(np.asarray(target)), errors="coerce").to_numpy(np.float64)
    lo, hi = _span(values)
    width = (hi - lo) or max(abs(hi), 1.0)
    return (lo - margin * width, hi + margin * width)


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
    out_bounds = _output_bounds(session, margin)
    out_of_range = 0
    if out_bounds is not None:
        with np.errstate(invalid="ignore"):
            outside = ((scores < out_bounds[0] - 1e-9) | (scores > out_bounds[1] + 1e-9)).any(1)
        out_of_range = int((outside & finite_rows).sum())
    missing = (codes == PATTERNS.index(MISSING) + 1).any(axis=1)
    by_feature, tail_size = _by_feature(
        injected, {f: _kinds(session.schema[f]) for f in attacked}, pred, raised, rates)
    return AttackResult(
        frame=frame, injected=injected, by_feature=by_feature, tail_size=tail_size,
        exceptions=_exceptions(patterns, error, attacked), prediction_range=_span(pred),
        range_without_missing=_span(pred[~missing]), range_with_missing=_span(pred[missing]),
        n_nonfinite=int((~finite_rows & ~raised).sum()), n_out_of_range=out_of_range,
        output_bounds=out_bounds, output=output, features=attacked, bounds=bounds,
        rates=dict(rates), n_rows=n_rows, n_queries=n_queries, n_calls=log.n_calls,
        cancelled=cancelled, task=session.task)


def _by_feature(injected: pd.DataFrame, kinds: dict, pred: np.ndarray, raised: np.ndarray,
                rates: dict) -> tuple[pd.DataFrame, int]:
    rows, finite = [], np.isfinite(pred)
    # robust spread (IQR / 1.349, a std for normal data): extreme outputs must not hide effects
    spread = float(np.subtract(*np.percentile(pred[finite], [75, 25]))) / 1.349 \
        if finite.any() else np.nan
    scored = np.flatnonzero(finite)
    k = min(len(scored), max(TAIL_MIN, math.ceil(TAIL * len(scored))))
    tails = {"top": scored[np.argsort(-pred[scored], kind="stable")[:k]],
             "bottom": scored[np.argsort(pred[scored], kind="stable")[:k]]}
    for name in injected.columns:
        cells = injected[name].to_numpy()
        base = finite & (cells == "")
        for kind in kinds[name]:
            if rates[kind] == 0:
                continue
            hit = cells == kind
            a, b = pred[hit & finite], pred[base]
            diff = float(a.mean() - b.mean()) if len(a) and len(b) else np.nan
            z = np.nan
            if len(a) > 1 and len(b) > 1:
                se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
                z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(np.inf, diff))
            row = dict(
                feature=name, pattern=kind, n_rows=int(hit.sum()),
                n_errors=int((hit & raised).sum()), mean=_stat(a, np.mean),
                min=_stat(a, np.min), max=_stat(a, np.max), baseline_mean=_stat(b, np.mean),
                baseline_min=_stat(b, np.min), baseline_max=_stat(b, np.max),
                difference=diff, z=z,
                notable=bool(abs(z) >= Z_NOTABLE and abs(diff) >= EFFECT_NOTABLE * spread))
            share = len(a) / max(len(scored), 1)  # the pattern's share of the scored rows
            for tail, rows_in_tail in tails.items():
                count, expected = int(hit[rows_in_tail].sum()), k * share
                z_tail = (count - expected) / math.sqrt(expected * (1 - share)) \
                    if 0 < share < 1 else np.nan
                row.update({f"{tail}_count": count,
                            f"{tail}_lift": count / expected if expected else np.nan,
                            f"{tail}_notable": bool(z_tail >= Z_NOTABLE and count >= TAIL_COUNT
                                                    and count >= 2 * expected)})
            rows.append(row)
    columns = ["feature", "pattern", "n_rows", "n_errors", "mean", "min", "max",
               "baseline_mean", "baseline_min", "baseline_max", "difference", "z", "notable",
               "top_count", "top_lift", "top_notable", "bottom_count", "bottom_lift",
               "bottom_notable"]
    return pd.DataFrame(rows, columns=columns), k


def _kinds(spec: FeatureSpec) -> tuple[str, ...]:
    """Return the patterns that can be injected into a feature of this kind."""
    if spec.kind in _NUMERIC:
        return (MISSING, EXTREME, WRONG_TYPE)
    return (MISSING, UNSEEN) if spec.kind == "categorical" else (MISSING,)


def _stat(values: np.ndarray, fn: Callable) -> float:
    return float(fn(values)) if len(values) else np.nan


def _exceptions(patterns: list, error: np.ndarray, attacked: tuple[str, ...]) -> pd.DataFrame:
    """Attribute failing rows, per message, greedily to the pattern most of them share."""
    totals = Counter(p for row in patterns for p in row)
    split = {f"{f} {k}": (f, k) for f in attacked for k in PATTERNS}
    rows = []
    for message in sorted({e for e in error if e is not None}):
        left = [i for i, e in enumerate(error) if e == message]
        shared = Counter(p for i in left for p in patterns[i])
        while left:
            counts = Counter(p for i in left for p in patterns[i])
            best = min(counts, key=lambda p: (-counts[p], p)) if counts else None
            if best is None or shared[best] < MIN_FAILURE_RATE * totals[best]:
                rows.append(dict(pattern=NO_PATTERN, feature=None, kind=None, message=message,
                                 count=len(left), rows_with_pattern=np.nan,
                                 failure_rate=np.nan))
                break
            rows.append(dict(pattern=best, feature=split[best][0], kind=split[best][1],
                             message=message, count=counts[best],
                             rows_with_pattern=totals[best],
                             failure_rate=shared[best] / totals[best]))
            left = [i for i in left if best not in patterns[i]]
    columns = ["pattern", "feature", "kind", "message", "count", "rows_with_pattern",
               "failure_rate"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
