"""Group fairness metrics: confusion counts, rates, AUC and Wilson intervals per sensitive group.

Everything is computed from confusion counts gathered with ``numpy.bincount`` (one pass over
the rows per metric family, whatever the number of groups). A metric whose denominator is
zero is undefined and returned as NaN, never 0 or 0.5 (scikit-learn returns 0 with a warning
in those cases). Comparisons between groups (``disparity``, ``adverse_impact_ratio``,
``marginal_effect``, ``standardised_mean_difference``) live in :mod:`._fairness_compare` and
are importable from here; threshold sweeps live in :mod:`.thresholds`, the grouping in
:mod:`._fairness_groups`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..session import DebugSession
from ._fairness_compare import (
    Disparity,
    adverse_impact_ratio,
    disparity,
    marginal_effect,
    standardised_mean_difference,
)
from ._fairness_groups import (
    MISSING,
    NO_SENSITIVE,
    OVERALL,
    Bins,
    _bins_key,
    _check_threshold,
    _grouping,
    _py,
    _with_overall,
    sensitive_groups,
)
from .residuals import compute_residuals

__all__ = [
    "ALL_CLASSES", "CLASSIFICATION_METRICS", "MISSING", "NO_SENSITIVE", "OVERALL", "RATES",
    "REGRESSION_METRICS", "Disparity", "adverse_impact_ratio", "confusion_counts", "disparity",
    "group_metrics", "marginal_effect", "rates", "sensitive_groups",
    "standardised_mean_difference", "wilson_interval",
]
ALL_CLASSES = "all"
RATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # numerator, denominator counts
    "prevalence": (("tp", "fn"), ("tp", "fp", "tn", "fn")),
    "selection_rate": (("tp", "fp"), ("tp", "fp", "tn", "fn")),
    "accuracy": (("tp", "tn"), ("tp", "fp", "tn", "fn")),
    "tpr": (("tp",), ("tp", "fn")),
    "precision": (("tp",), ("tp", "fp")),
    "specificity": (("tn",), ("tn", "fp")),
    "npv": (("tn",), ("tn", "fn")),
    "fpr": (("fp",), ("fp", "tn")),
    "fdr": (("fp",), ("tp", "fp")),
    "fnr": (("fn",), ("tp", "fn")),
    "for": (("fn",), ("fn", "tn")),
}
CLASSIFICATION_METRICS = ("count", *RATES, "auc", "logloss")
REGRESSION_METRICS = ("count", "mae", "rmse", "mean_prediction", "mean_label")
NEEDS_Y = ("group metrics need the true labels: bind the model with y, e.g. "
           "mdw.bind(model, X, y, sensitive_features=['SEX']).")


# -- counts and rates -----------------------------------------------------------------------
def confusion_counts(truth: np.ndarray, pred: np.ndarray, codes: np.ndarray,
                     n_groups: int) -> dict[str, np.ndarray]:
    """Per-group ``tp, fp, tn, fn`` (int arrays of ``n_groups + 1``, the last one overall).

    Examples
    --------
    >>> import numpy as np
    >>> c = confusion_counts(np.array([1, 0, 1]), np.array([1, 1, 0]), np.array([0, 0, 1]), 2)
    >>> {k: v.tolist() for k, v in c.items()}
    {'tp': [1, 0, 1], 'fp': [1, 0, 1], 'tn': [0, 0, 0], 'fn': [0, 1, 1]}
    """
    truth, pred = np.asarray(truth, dtype=bool), np.asarray(pred, dtype=bool)
    cell = 2 * truth.view(np.uint8) + pred.view(np.uint8)  # 0 tn, 1 fp, 2 fn, 3 tp
    per_group = np.bincount(codes * 4 + cell, minlength=4 * n_groups).reshape(n_groups, 4)
    per_group = np.vstack([per_group, per_group.sum(axis=0)])
    return {"tp": per_group[:, 3], "fp": per_group[:, 1], "tn": per_group[:, 0],
            "fn": per_group[:, 2]}


def rates(counts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every rate metric from confusion counts; NaN where the denominator is zero.

    Examples
    --------
    >>> import numpy as np
    >>> r = rates({"tp": np.array([0]), "fp": np.array([1]), "tn": np.array([3]),
    ...            "fn": np.array([0])})
    >>> r["fpr"].tolist(), r["tpr"].tolist()
    ([0.25], [nan])
    """
    out = {}
    for name, (num, den) in RATES.items():
        numerator = sum(np.asarray(counts[c], dtype=np.float64) for c in num)
        denominator = sum(np.asarray(counts[c], dtype=np.float64) for c in den)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(denominator > 0, numerator / denominator, np.nan)
    return out


def wilson_interval(successes: Any, trials: Any, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion; NaN where ``trials`` is 0.

    Parameters
    ----------
    successes, trials : array-like
        Counts.
    z : float, default=1.96
        Normal quantile (1.96 for 95%).

    Returns
    -------
    low, high : numpy.ndarray

    Examples
    --------
    >>> low, high = wilson_interval(8, 10)
    >>> round(float(low), 4), round(float(high), 4)
    (0.4902, 0.9433)
    """
    k, n = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denominator = 1 + z ** 2 / n
        centre = (p + z ** 2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / denominator
    defined = n > 0
    low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    return np.where(defined, low, np.nan), np.where(defined, high, np.nan)


def _auc(truth: np.ndarray, score: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """ROC AUC per group and overall, as the Mann-Whitney U (ties count one half).

    The rows are put in (group, label) blocks by one counting sort of a small-integer key;
    each block's scores are then sorted on their own (``np.sort`` is vectorised where
    ``argsort`` is not), and a group's U is the sum over its positives of the negatives
    below them plus half those tied, two ``searchsorted`` calls on sorted arrays.
    """
    truth = np.asarray(truth, dtype=bool)
    key = codes * 2 + truth
    if 2 * n_groups < np.iinfo(np.int16).max:  # 16-bit keys: numpy's stable sort is a radix sort
        key = key.astype(np.int16)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(key, minlength=2 * n_groups))])
    blocks = score[np.argsort(key, kind="stable")]
    u, n_pos, n_neg = np.zeros(n_groups + 1), np.zeros(n_groups + 1), np.zeros(n_groups + 1)
    for g in range(n_groups + 1):
        if g < n_groups:
            neg = np.sort(blocks[bounds[2 * g]:bounds[2 * g + 1]])
            pos = np.sort(blocks[bounds[2 * g + 1]:bounds[2 * g + 2]])
        else:
            neg, pos = np.sort(score[~truth]), np.sort(score[truth])
        n_pos[g], n_neg[g] = len(pos), len(neg)
        below = np.searchsorted(neg, pos, side="left").sum(dtype=np.int64)
        not_above = np.searchsorted(neg, pos, side="right").sum(dtype=np.int64)
        u[g] = (below + not_above) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = u / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _mean(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    sums = np.bincount(codes, weights=values, minlength=n_groups)
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    return np.append(sums, sums.sum()) / np.append(counts, counts.sum())


def _binary_table(truth, pred, score, loss, codes, n_groups) -> dict[str, np.ndarray]:
    counts = confusion_counts(truth, pred, codes, n_groups)
    table = {"count": sum(counts.values()), **rates(counts)}
    table["auc"] = _auc(truth, score, codes, n_groups)
    table["logloss"] = _mean(loss, codes, n_groups) if loss is not None \
        else np.full(n_groups + 1, np.nan)
    return {**table, **{f"_{k}": v for k, v in counts.items()}}


# -- group metrics --------------------------------------------------------------------------
def group_metrics(session: DebugSession, *, threshold: float = 0.5,
                  sensitive_features: str | Sequence[str] | None = None, bins: Bins = None,
                  max_categories: int = 10, metrics: Sequence[str] | None = None,
                  intervals: bool = False, z: float = 1.96,
                  min_support: int = 30) -> pd.DataFrame:
    """Metrics per group of the sensitive features (their intersection) and overall.

    Parameters
    ----------
    session : DebugSession
        The bound model, data and labels, with sensitive features bound (or named here).
    threshold : float, default=0.5
        Binary: a row is predicted positive when its positive-class score is ``>= threshold``.
        Multiclass predictions are the argmax and ignore it.
    sensitive_features, bins, max_categories
        How rows are grouped; see :func:`sensitive_groups` (numeric features with many
        values, e.g. AGE, fall into quartile bins by default; NaN is the group "missing").
    metrics : list of str, default=None
        Columns to keep; default all of the task's metrics.
    intervals : bool, default=False
        Add Wilson intervals ``<rate>_low, <rate>_high`` for every rate metric.
    z : float, default=1.96
        Normal quantile of the intervals.
    min_support : int, default=30
        Groups with fewer rows get a text in the ``warning`` column (else ``""``).

    Returns
    -------
    pandas.DataFrame
        One row per group (a MultiIndex for several features) plus the row ``"overall"``.
        Classification: ``count, prevalence, selection_rate, accuracy, tpr, precision,
        specificity, npv, fpr, fdr, fnr, for, auc, logloss``; regression: ``count, mae, rmse,
        mean_prediction, mean_label``; then ``warning``. Multiclass frames have an extra last
        index level ``class``: each class one-vs-rest, and ``"all"`` with the count,
        accuracy, multiclass log loss and macro one-vs-rest AUC. A zero denominator gives
        NaN (a group without positives has NaN TPR and FNR); logloss is NaN unless the
        scores are probabilities. Cached per model version.

    Raises
    ------
    ValueError
        No labels, no sensitive features, a metric the task does not have, a bad threshold.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 0], task="binary",
    ...          sensitive_features="g")
    >>> group_metrics(s)[["count", "tpr", "fpr"]]
             count  tpr       fpr
    g
    a            2  1.0  0.000000
    b            2  NaN  0.500000
    overall      4  1.0  0.333333
    """
    allowed = REGRESSION_METRICS if session.task == "regression" else CLASSIFICATION_METRICS
    wanted = list(allowed) if metrics is None else list(metrics)
    for name in wanted:
        if name not in allowed:
            other = "classification" if name in CLASSIFICATION_METRICS else \
                "regression" if name in REGRESSION_METRICS else "unknown"
            raise ValueError(f"metric {name!r} is a {other} metric, but the session's task is "
                             f"{session.task}; choose from {list(allowed)}.")
    if session.y is None:
        raise ValueError(NEEDS_Y)
    threshold = _check_threshold(threshold)
    codes, index = _grouping(session, sensitive_features, bins, max_categories)
    key = ("fairness.group_metrics", tuple(index.names), _bins_key(bins), max_categories,
           sensitive_features if sensitive_features is None or isinstance(
               sensitive_features, str) else tuple(sensitive_features),
           threshold if session.task == "binary" else None)
    table = session.cached(key, lambda: _table(session, codes, index, threshold))
    rate_names = [m for m in wanted if m in RATES]
    frame = table[wanted].copy()
    if intervals:
        for name in rate_names:
            num, den = RATES[name]
            low, high = wilson_interval(table[[f"_{c}" for c in num]].sum(axis=1),
                                        table[[f"_{c}" for c in den]].sum(axis=1), z)
            frame[f"{name}_low"], frame[f"{name}_high"] = low, high
    counts = frame["count"].to_numpy() if "count" in frame else table["count"].to_numpy()
    frame["warning"] = np.where(counts < min_support, [
        f"only {c} rows (< min_support={min_support}): rates are unreliable" for c in counts], "")
    return frame


def _labels(session: DebugSession) -> np.ndarray:
    y = session.y.to_numpy()
    missing = pd.isna(y)
    if missing.any():
        raise ValueError(f"y has {int(missing.sum())} missing value(s); drop or fill those rows "
                         "and bind again.")
    return y


def _table(session: DebugSession, codes: np.ndarray, index: pd.Index,
           threshold: float) -> pd.DataFrame:
    y, scores, n_groups = _labels(session), session.predictions(), len(index)
    full_index = _with_overall(index)
    if session.task == "regression":
        y, p = y.astype(np.float64), scores[:, 0]
        table = {"count": np.append(np.bincount(codes, minlength=n_groups), len(y)),
                 "mae": _mean(np.abs(y - p), codes, n_groups),
                 "rmse": np.sqrt(_mean((y - p) ** 2, codes, n_groups)),
                 "mean_prediction": _mean(p, codes, n_groups),
                 "mean_label": _mean(y, codes, n_groups)}
        return pd.DataFrame(table, index=full_index)
    adapter = session.adapter
    probability = adapter.output_kind == "probability"
    loss = compute_residuals(y, scores, task=session.task, kind="logloss",
                             classes=adapter.classes, pos_label=adapter.pos_label) \
        if probability else None
    if session.task == "binary":
        truth = y == adapter.pos_label
        return pd.DataFrame(_binary_table(truth, scores[:, 0] >= threshold, scores[:, 0], loss,
                                          codes, n_groups), index=full_index)
    classes = np.asarray(adapter.classes)
    pred = classes[np.argmax(scores, axis=1)]
    eps = np.finfo(np.float64).eps
    blocks = []
    for k, cls in enumerate(classes):
        truth, p = y == cls, np.clip(scores[:, k], eps, 1 - eps)
        ovr_loss = -np.where(truth, np.log(p), np.log1p(-p)) if probability else None
        blocks.append(_binary_table(truth, pred == cls, scores[:, k], ovr_loss, codes, n_groups))
    overall = {name: np.full(n_groups + 1, np.nan) for name in blocks[0]}
    overall["count"] = blocks[0]["count"]
    overall["accuracy"] = _mean((pred == y).astype(np.float64), codes, n_groups)
    overall["logloss"] = _mean(loss, codes, n_groups) if loss is not None else overall["logloss"]
    overall["auc"] = np.mean([b["auc"] for b in blocks], axis=0)
    blocks.append(overall)
    n_classes = len(blocks)
    stacked = {name: np.column_stack([b[name] for b in blocks]).ravel() for name in blocks[0]}
    levels = [full_index.get_level_values(i).repeat(n_classes)
              for i in range(full_index.nlevels)]
    level_class = pd.Index([_py(c) for c in classes] + [ALL_CLASSES], dtype=object)
    multi = pd.MultiIndex.from_arrays(
        [*levels, np.tile(level_class.to_numpy(), len(full_index))],
        names=[*full_index.names, "class"])
    return pd.DataFrame(stacked, index=multi)
