"""Residuals for every task, their summaries by feature, and the largest ones.

Residual analysis finds bugs by plotting errors against predictions and inputs: outliers,
data-quality faults and regions of failure show up where residuals are large.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ..session import DebugSession

ResidualKind = Literal["auto", "raw", "absolute", "squared", "logloss", "deviance", "difference"]
KINDS_BY_TASK = {
    "regression": ("raw", "absolute", "squared"),
    "binary": ("logloss", "deviance", "difference"),
    "multiclass": ("logloss", "deviance"),
}
NEEDS_Y = ("residuals need the true labels: bind the model with y, e.g. "
           "mdw.bind(model, X, y).")


def compute_residuals(y_true: Any, scores: np.ndarray, *, task: str, kind: ResidualKind = "auto",
                      classes: Any = None, pos_label: Any = None,
                      output_kind: str = "probability") -> np.ndarray:
    """Residual of each row from labels and scores (the pure core of :func:`residuals`).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels or values.
    scores : numpy.ndarray of shape (n, k)
        Scores as returned by ``DebugSession.predict``: the positive class's probability for
        binary, one probability per class for multiclass, the value for regression.
    task : {"binary", "multiclass", "regression"}
        The task.
    kind : str, default="auto"
        Regression: ``"raw"`` (y − ŷ, the default), ``"absolute"``, ``"squared"``.
        Binary: ``"logloss"`` (the default: −y·log p − (1−y)·log(1−p)), ``"deviance"``
        (sign(y − p)·√(2·logloss)), ``"difference"`` (y − p). Multiclass: ``"logloss"``
        (−log p of the true class, the default), ``"deviance"`` (√(2·logloss)).
    classes : array-like, default=None
        Class labels in score order (multiclass) or of the binary task.
    pos_label : object, default=None
        The positive class (binary).
    output_kind : str, default="probability"
        What a score is; logloss and deviance need probabilities.

    Returns
    -------
    numpy.ndarray of shape (n,)

    Raises
    ------
    ValueError
        For missing labels, unknown classes, or a kind the task does not have.

    Examples
    --------
    >>> import numpy as np
    >>> compute_residuals([1, 0], np.array([[0.8], [0.4]]), task="binary",
    ...                   classes=[0, 1], pos_label=1).round(4).tolist()
    [0.2231, 0.5108]
    """
    allowed = KINDS_BY_TASK[task]
    kind = allowed[0] if kind == "auto" else kind
    if kind not in allowed:
        raise ValueError(f"kind must be one of {('auto', *allowed)} for {task}; got {kind!r}.")
    y = np.asarray(y_true)
    if len(y) != len(scores):
        raise ValueError(f"y has {len(y)} rows but there are {len(scores)} predictions; "
                         "pass labels aligned with the rows.")
    missing = pd.isna(y)
    if missing.any():
        first = np.flatnonzero(missing)[:5].tolist()
        raise ValueError(f"y has {int(missing.sum())} missing value(s) (first at rows {first}); "
                         "drop or fill those rows before computing residuals.")
    if task == "regression":
        diff = y.astype(np.float64) - scores[:, 0]
        return {"raw": diff, "absolute": np.abs(diff), "squared": diff ** 2}[kind]
    if kind != "difference" and output_kind != "probability":
        raise ValueError(f"{kind} residuals need probabilities, but the model gives "
                         f"{output_kind} scores; bind it with response_method='predict_proba' "
                         "or use kind='difference'.")
    classes = np.asarray(classes)
    unseen = sorted(set(pd.unique(y).tolist()) - set(classes.tolist()), key=str)
    if unseen:
        raise ValueError(f"y holds classes the model never saw: {unseen}; the model knows "
                         f"{classes.tolist()}. Remove those rows or refit the model.")
    eps = np.finfo(np.float64).eps
    if task == "binary":
        truth = (y == pos_label).astype(np.float64)
        p = scores[:, 0]
        if kind == "difference":
            return truth - p
        p = np.clip(p, eps, 1 - eps)
        loss = -np.log(np.where(truth == 1, p, 1 - p))  # as scikit-learn's log_loss
        return loss if kind == "logloss" else np.sign(truth - p) * np.sqrt(2 * loss)
    position = {c: i for i, c in enumerate(classes.tolist())}
    truth_index = np.fromiter((position[v] for v in y.tolist()), dtype=np.intp, count=len(y))
    p_true = np.clip(scores[np.arange(len(y)), truth_index], eps, 1 - eps)
    loss = -np.log(p_true)
    return loss if kind == "logloss" else np.sqrt(2 * loss)


def residuals(session: DebugSession, kind: ResidualKind = "auto") -> pd.Series:
    """One residual per row of the bound data.

    Parameters
    ----------
    session : DebugSession
        The bound model and data (with ``y``).
    kind : str, default="auto"
        See :func:`compute_residuals`: ``"logloss"`` for classifiers and ``"raw"`` for
        regressors by default.

    Returns
    -------
    pandas.Series
        Indexed like ``session.X``, named after the kind; cached per model version.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [1.0, 2.0]})
    >>> s = bind(lambda df: df["a"] * 2, X, [2.0, 5.0], task="regression")
    >>> residuals(s).tolist()
    [0.0, 1.0]
    """
    if session.y is None:
        raise ValueError(NEEDS_Y)
    allowed = KINDS_BY_TASK[session.task]
    name = allowed[0] if kind == "auto" else kind

    def compute() -> pd.Series:
        values = compute_residuals(
            session.y.to_numpy(), session.predictions(), task=session.task, kind=kind,
            classes=session.adapter.classes, pos_label=session.adapter.pos_label,
            output_kind=session.adapter.output_kind)
        return pd.Series(values, index=session.X.index, name=name)

    return session.cached(("residuals", name), compute)


def top_residuals(session: DebugSession, k: int = 20, *, kind: ResidualKind = "auto",
                  largest: bool = True) -> pd.DataFrame:
    """Return the ``k`` rows with the largest (or smallest) residuals and their predictions.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    k : int, default=20
        Number of rows.
    kind : str, default="auto"
        The residual kind.
    largest : bool, default=True
        Largest first; False gives the smallest first.

    Returns
    -------
    pandas.DataFrame
        The rows of ``session.X`` plus ``y``, one ``prediction`` column per output and the
        ``residual``, sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    >>> s = bind(lambda df: df["a"], X, [1.0, 5.0, 2.0], task="regression")
    >>> top_residuals(s, 1, kind="absolute").index.tolist()
    [1]
    """
    res = residuals(session, kind)
    order = np.argsort(-res.to_numpy() if largest else res.to_numpy(), kind="stable")[:k]
    return with_predictions(session, order).assign(residual=res.to_numpy()[order])


def with_predictions(session: DebugSession, positions: np.ndarray) -> pd.DataFrame:
    """Rows at ``positions`` with their label and predictions, for tables of rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"], pd.DataFrame({"a": [1.0, 2.0]}), [0.0, 1.0],
    ...          task="regression")
    >>> with_predictions(s, np.array([1])).columns.tolist()
    ['a', 'y', 'prediction']
    """
    frame = session.X.iloc[positions].copy()
    if session.y is not None:
        frame[session.y.name if session.y.name is not None else "y"] = \
            session.y.to_numpy()[positions]
    scores = session.predictions()[positions]
    names = session.output_names
    if len(names) == 1:
        frame["prediction"] = scores[:, 0]
    else:
        for j, name in enumerate(names):
            frame[f"P({name})"] = scores[:, j]
    return frame


def residual_summary(session: DebugSession, feature: str, *, kind: ResidualKind = "auto",
                     bins: int = 10) -> pd.DataFrame:
    """Residuals summarised per bin of a feature: where along the feature errors are large.

    Numeric features are cut at quantiles (fewer bins if values repeat), categorical ones
    are grouped per category, and missing values form their own bin.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    feature : str
        The feature to group by.
    kind : str, default="auto"
        The residual kind.
    bins : int, default=10
        Quantile bins for a numeric feature.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin, count, mean, q10, median, q90, max``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"c": ["a", "a", "b", None]})
    >>> s = bind(lambda df: df["c"].isna() * 1.0, X, [0.0, 1.0, 4.0, 1.0],
    ...          task="regression")
    >>> residual_summary(s, "c")[["bin", "count", "mean"]].to_dict("list")
    {'bin': ['a', 'b', 'missing'], 'count': [2, 1, 1], 'mean': [0.5, 4.0, 0.0]}
    """
    res = residuals(session, kind).to_numpy()
    labels = bin_labels(session, feature, bins)
    frame = pd.DataFrame({"bin": labels, "residual": res})
    grouped = frame.groupby("bin", sort=False, observed=True)["residual"]
    out = grouped.agg(count="count", mean="mean", max="max")
    quantiles = grouped.quantile([0.1, 0.5, 0.9]).unstack()
    out["q10"], out["median"], out["q90"] = quantiles[0.1], quantiles[0.5], quantiles[0.9]
    order = [b for b in _bin_order(labels) if b in out.index]
    return out.loc[order, ["count", "mean", "q10", "median", "q90", "max"]] \
        .rename_axis("bin").reset_index()


def bin_labels(session: DebugSession, feature: str, bins: int = 10) -> pd.Categorical:
    """Label each row with its bin: quantile interval, category, or ``"missing"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"].fillna(0), pd.DataFrame({"a": [1.0, 2.0, None]}),
    ...          task="regression")
    >>> list(bin_labels(s, "a", bins=1))
    ['[1, 2]', '[1, 2]', 'missing']
    """
    column = session.X[feature]
    spec = session.schema[feature]
    missing = column.isna().to_numpy()
    if spec.kind in ("numeric", "integer") and not (
            spec.kind == "integer" and 0 < len(spec.categories) <= bins):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        edges = np.unique(np.nanquantile(values, np.linspace(0, 1, bins + 1))) \
            if (~missing).any() else np.array([0.0])
        names = [f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == len(edges) - 2 else ')'}"
                 for i in range(len(edges) - 1)] or [f"[{edges[0]:.4g}]"]
        codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(names) - 1)
    else:  # factorize once, then name the few distinct values (fast at a million rows)
        found, uniques = pd.factorize(column, use_na_sentinel=True)
        texts = [str(u) for u in uniques]
        names = [str(c) for c in (spec.categories or sorted(texts))]
        names += sorted(set(texts) - set(names))
        position = {name: i for i, name in enumerate(names)}
        codes = np.array([position[t] for t in texts], dtype=np.intp)[found] if texts \
            else np.zeros(len(column), dtype=np.intp)
    codes = np.where(missing, len(names), codes)
    return pd.Categorical.from_codes(codes, categories=[*names, "missing"])


def _bin_order(labels: pd.Categorical) -> list:
    return list(labels.categories)
