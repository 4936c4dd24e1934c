"""The numbers a finding records, and the helpers a generated pytest file re-checks them with.

A finding is measured once when it is marked (on the session) and again in the generated
tests (on a session bound to the loaded model): both go through the functions here, so the
definitions cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._errors import ModelError
from ._findings_values import canon, dtype_specs, frame
from .analysis import residuals, threshold_sweep, worst_air
from .session import DebugSession

METRICS = ("auto", "logloss", "misclassification", "absolute", "squared", "mean_prediction")
_LOADER_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
MODEL_SUFFIXES = (".skops", ".joblib", ".pkl", ".pickle")


# -- errors of rows ----------------------------------------------------------------------------
def resolve_metric(session: DebugSession, metric: str = "auto", *,
                   slices: bool = False) -> str:
    """Return the concrete error metric of a session (what ``"auto"`` means for it).

    ``"auto"``: without labels the mean prediction; for slices the error of
    :func:`~mldebug_widgets.analysis.find_slices` (misclassification, squared error for
    regressors); for cohorts the residual explorer's (log-loss for probabilities,
    misclassification for other classifier scores, absolute error for regressors).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), [2.0], task="regression")
    >>> resolve_metric(s), resolve_metric(s, slices=True)
    ('absolute', 'squared')
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}.")
    if session.y is None:
        if metric not in ("auto", "mean_prediction"):
            raise ValueError(f"the {metric} error needs the true labels: bind the model with y.")
        return "mean_prediction"
    regression = session.task == "regression"
    if metric == "auto":
        if regression:
            return "squared" if slices else "absolute"
        probability = session.adapter.output_kind == "probability"
        return "logloss" if probability and not slices else "misclassification"
    if regression and metric in ("logloss", "misclassification"):
        raise ValueError(f"{metric} is a classification error; use 'absolute' or 'squared'.")
    if not regression and metric in ("absolute", "squared"):
        raise ValueError(f"{metric} is a regression error; use 'logloss' or "
                         "'misclassification'.")
    return metric


def row_errors(session: DebugSession, metric: str = "auto") -> np.ndarray:
    """One error per bound row (or the prediction, for ``"mean_prediction"``).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.6]})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 1, 0], task="binary")
    >>> row_errors(s, "misclassification").tolist()
    [0.0, 1.0, 1.0]
    """
    metric = resolve_metric(session, metric)
    scores = session.predictions()
    if metric == "mean_prediction":
        return scores[:, 0].astype(np.float64)
    if metric == "misclassification":
        adapter, y = session.adapter, session.y.to_numpy()
        if session.task == "binary":
            positive = scores[:, 0] > 0 if adapter.output_kind == "decision" \
                else scores[:, 0] >= 0.5
            return (positive != (y == adapter.pos_label)).astype(np.float64)
        predicted = np.asarray(adapter.classes)[np.argmax(scores, axis=1)]
        return (predicted != y).astype(np.float64)
    return residuals(session, metric).to_numpy(dtype=np.float64)


def rows_metric(session: DebugSession, metric: str = "auto") -> float:
    """Mean error (or prediction) over every bound row; NaN for no rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 3.0]}), [2.0, 3.0],
    ...          task="regression")
    >>> rows_metric(s, "absolute")
    0.5
    """
    values = row_errors(session, metric)
    return float(values.mean()) if len(values) else math.nan


def rows_summary(session: DebugSession, positions: np.ndarray, metric: str = "auto", *,
                 slices: bool = False) -> dict[str, Any]:
    """Return the numbers a cohort or slice finding records for the rows at ``positions``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 3.0]}), [2.0, 3.0],
    ...          task="regression")
    >>> rows_summary(s, np.array([0]))["value"]
    1.0
    """
    metric = resolve_metric(session, metric, slices=slices)
    errors = row_errors(session, metric)
    scores = session.predictions()[positions, 0]
    out = {"metric": metric, "value": float(errors[positions].mean()),
           "overall": float(errors.mean()), "mean_prediction": float(scores.mean()),
           "error_rate": None, "mean_label": None}
    if session.y is not None and session.task != "regression":
        out["error_rate"] = float(row_errors(session, "misclassification")[positions].mean())
        if session.task == "binary":
            truth = session.y.to_numpy()[positions]
            out["mean_label"] = float(np.mean(truth == session.adapter.pos_label))
    elif session.y is not None:
        out["mean_label"] = float(session.y.to_numpy(dtype=np.float64)[positions].mean())
    return out


def score_row(session: DebugSession, row: Mapping[str, Any], label: Any = None) -> dict:
    """Score one row of canonical values as the generated tests will: ``prediction``/``error``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 2.0, pd.DataFrame({"a": [1.0]}), task="regression")
    >>> score_row(s, {"a": 4.0})
    {'prediction': [8.0], 'error': None}
    """
    rows = frame({f: [v] for f, v in row.items()}, dtype_specs(session.X),
                 index=[canon(label) if label is not None else 0])
    try:
        scores = session.predict(rows, check_finite=False)[0]
    except ModelError as exc:
        return {"prediction": None, "error": str(exc)}
    return {"prediction": [canon(float(v)) for v in scores], "error": None}


# -- per-group thresholds ----------------------------------------------------------------------
def group_air(session: DebugSession, thresholds: Sequence[tuple[Any, float]],
              group_columns: Sequence[str], *, bins: Mapping[str, Sequence[float]] | None = None,
              favourable: Literal["negative", "positive"] = "negative",
              reference: Any = None) -> pd.DataFrame:
    """Group metrics with one threshold per group: favourable rate and adverse impact ratio.

    Parameters
    ----------
    session : DebugSession
        A binary classifier bound with labels.
    thresholds : sequence of (group, threshold)
        One threshold per group (a group of several columns is a tuple).
    group_columns : list of str
        The sensitive features (bound, or columns of ``X``).
    bins : mapping, default=None
        Bin edges of numeric group columns (as the fairness groups use them).
    favourable : {"negative", "positive"}, default="negative"
        The favourable prediction (credit: not flagged as a defaulter).
    reference : object, default=None
        The reference group of the ratio (default: the largest).

    Returns
    -------
    pandas.DataFrame
        One row per group, in the order of ``thresholds``: ``group, threshold, count,
        selection_rate, favourable_rate, air, accuracy, tpr, fpr``; ``attrs`` holds the
        ``reference``, the ``worst_air`` and the overall ``accuracy``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary")
    >>> table = group_air(s, [("a", 0.5), ("b", 0.3)], ["g"], reference="a")
    >>> table["air"].tolist()
    [1.0, 0.0]
    """
    if session.task != "binary":
        raise ValueError(f"per-group thresholds need a binary classifier; the session's task "
                         f"is {session.task}.")
    if favourable not in ("negative", "positive"):
        raise ValueError(f"favourable must be 'negative' or 'positive'; got {favourable!r}.")
    columns = list(group_columns)
    sweep = threshold_sweep(session, sensitive_features=columns, bins=dict(bins) if bins
                            else None)
    groups = [canon(g) for g in sweep.groups[:-1]]
    given = {canon(g): float(t) for g, t in thresholds}
    unknown = [g for g in given if g not in groups]
    missing = [g for g in groups if g not in given]
    if unknown or missing:
        raise ValueError(f"thresholds must name each group of {columns} once: groups are "
                         f"{groups}; unknown {unknown}, without a threshold {missing}.")
    table = sweep.at_groups([given[g] for g in groups]).reset_index(drop=True)
    rate = table["selection_rate"].to_numpy(dtype=np.float64)
    favourable_rate = 1.0 - rate if favourable == "negative" else rate
    counts = table["count"].to_numpy()[:-1]
    ref = groups[int(np.argmax(counts))] if reference is None else canon(reference)
    if ref not in groups:
        raise ValueError(f"reference group {reference!r} is not among the groups {groups}.")
    base = favourable_rate[groups.index(ref)]
    with np.errstate(divide="ignore", invalid="ignore"):
        air = favourable_rate / base if base > 0 else np.full(len(rate), np.nan)
    at = [groups.index(canon(g)) for g, _ in thresholds]
    out = pd.DataFrame({"group": pd.Series([groups[i] for i in at], dtype=object),
                        "threshold": [given[groups[i]] for i in at],
                        "count": counts[at].astype(np.int64),
                        "selection_rate": rate[at], "favourable_rate": favourable_rate[at],
                        "air": air[at]})
    for column in ("accuracy", "tpr", "fpr"):
        out[column] = table[column].to_numpy(dtype=np.float64)[at]
    out.attrs.update(reference=ref, accuracy=float(table["accuracy"].iloc[-1]),
                     worst_air=worst_air(table[["count", "selection_rate"]],
                                         reference=groups.index(ref), favourable=favourable))
    return out


# -- checks ------------------------------------------------------------------------------------
def _close(observed: Any, expected: Any, abs_tol: float, rel_tol: float) -> bool:
    if expected is None or observed is None:
        return (observed is None or math.isnan(observed)) and (
            expected is None or math.isnan(expected))
    if math.isnan(observed) or math.isinf(expected) or math.isinf(observed):
        return observed == expected
    return abs(observed - expected) <= max(abs_tol, rel_tol * abs(expected))


def assert_finding(observed: Any, expected: Any, *, mode: Literal["holds", "fixed"] = "holds",
                   fixed: Literal["changed", "lower"] = "changed", abs_tol: float = 0.05,
                   rel_tol: float = 0.05, what: str = "the value") -> None:
    """Assert that a finding still holds (``mode="holds"``) or no longer does (``"fixed"``).

    The finding holds when every observed number is within ``max(abs_tol, rel_tol *
    |recorded|)`` of the recorded one (None recorded: the model gave NaN). It is fixed when
    it does not hold, or, with ``fixed="lower"`` (errors of cohorts and slices), when the
    observed error is below the recorded one by more than the tolerance.

    Raises
    ------
    AssertionError
        With the numbers and what to do next.

    Examples
    --------
    >>> assert_finding([0.93], [0.9])
    >>> assert_finding(0.2, 0.5, mode="fixed", fixed="lower")
    """
    obs = [observed] if np.ndim(observed) == 0 else list(observed)
    exp = [expected] if np.ndim(expected) == 0 else list(expected)
    obs = [None if o is None else float(o) for o in obs]
    if len(obs) != len(exp):
        raise AssertionError(f"{what}: {len(obs)} numbers observed, {len(exp)} recorded; the "
                             "model's outputs changed: regenerate the tests.")
    holds = all(_close(o, e, abs_tol, rel_tol) for o, e in zip(obs, exp, strict=True))
    shown = f"observed {_fmt(obs)}, recorded {_fmt(exp)} (tolerance ±max({abs_tol:g}, " \
            f"{rel_tol:g}×recorded))"
    if mode == "holds":
        if not holds:
            raise AssertionError(f"{what} changed: {shown}. The finding no longer holds; if "
                                 "the model was fixed on purpose, delete this test or "
                                 "regenerate the file with mode='fixed'.")
        return
    if mode != "fixed":
        raise ValueError(f"mode must be 'holds' or 'fixed'; got {mode!r}.")
    if fixed == "lower":
        lower = all(o is not None and e is not None and o < e - max(abs_tol, rel_tol * abs(e))
                    for o, e in zip(obs, exp, strict=True))
        if not lower:
            raise AssertionError(f"{what} is not lower than recorded: {shown}. The bug is "
                                 "not fixed.")
    elif holds:
        raise AssertionError(f"{what} still holds: {shown}. The bug is not fixed.")


def assert_raises(session: DebugSession, rows: pd.DataFrame, *,
                  mode: Literal["holds", "fixed"] = "holds", what: str = "the model") -> None:
    """Assert the model still raises on ``rows`` (``"holds"``) or now scores them (``"fixed"``).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"].astype(float) * 1.0, pd.DataFrame({"a": [1.0]}),
    ...          task="regression")
    >>> assert_raises(s, pd.DataFrame({"a": ["x"]}))
    """
    try:
        scores = session.predict(rows, check_finite=True)
    except ModelError as exc:
        if mode == "fixed":
            raise AssertionError(f"{what} still raises: {exc}. The bug is not fixed.") from exc
        return
    if mode == "holds":
        raise AssertionError(f"{what} no longer raises (it scores {scores.ravel().tolist()}); "
                             "if the model was fixed on purpose, delete this test or "
                             "regenerate the file with mode='fixed'.")


def _fmt(values: list) -> str:
    text = ", ".join("NaN" if v is None else f"{v:.6g}" for v in values)
    return text if len(values) == 1 else f"[{text}]"
