"""Benchmark models: fit a simple model on the same data and compare errors row by row.

Rows the model gets wrong and a regularised linear model or a shallow tree gets right point
at bugs (a bad imputation, an overfit pocket); rows only the benchmark gets wrong show what
the model learned beyond the simple structure. :meth:`BenchmarkResult.summary` says how.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ..session import DebugSession
from .residuals import KINDS_BY_TASK, compute_residuals, residuals

BenchmarkKind = Literal["linear", "tree"]
Disagreement = Literal["model_worse", "benchmark_worse", "both_wrong"]
BENCHMARK_KINDS = ("linear", "tree")
DISAGREEMENTS = ("model_worse", "benchmark_worse", "both_wrong")
NEEDS_Y = ("a benchmark needs the true labels: bind the model with y, e.g. "
           "mdw.bind(model, X, y).")
SUMMARY_COLUMNS = ["kind", "value", "in_rows", "overall", "effect", "missing_in_rows",
                   "missing_overall"]
MIN_FREQUENCY = 5  # rarer categories share one one-hot column
TREE_DEPTH, TREE_LEAF = 4, 20


def make_benchmark(X: pd.DataFrame, *, task: str, kind: BenchmarkKind = "linear",
                   schema: Mapping[str, Any] | None = None, random_state: int = 0) -> Pipeline:
    """Build an unfitted benchmark pipeline for the columns of ``X``.

    Numeric columns: median imputation with missing indicators (plus scaling for "linear").
    Categorical columns (object, string, category, bool, or declared categorical/boolean in
    ``schema``, such as integer codes): most-frequent imputation, then one-hot encoding
    (unknown categories ignored, those seen < 5 times grouped). Then ``LogisticRegression(C=1)``
    or ``Ridge(alpha=1)`` ("linear"), or a tree of depth 4 with leaves of ≥ 20 rows ("tree").

    Parameters
    ----------
    X : pandas.DataFrame
        The training columns (only their dtypes and names are read).
    task : {"binary", "multiclass", "regression"}
    kind : {"linear", "tree"}, default="linear"
        Which benchmark.
    schema : FeatureSchema or mapping, default=None
        Feature name -> spec (or kind string); declared categoricals are one-hot encoded.
    random_state : int, default=0
        Seed of the tree.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``"pre"`` and ``"model"``, unfitted.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"x": [1.0, None, 3.0, 4.0], "c": ["a", "b", None, "a"]})
    >>> make_benchmark(X, task="binary").fit(X, [0, 1, 0, 1]).predict_proba(X).shape
    (4, 2)
    """
    if kind not in BENCHMARK_KINDS:
        raise ValueError(f"kind must be one of {BENCHMARK_KINDS}; got {kind!r}. Pass a "
                         "scikit-learn estimator to benchmark(..., estimator=...) for others.")
    if task not in KINDS_BY_TASK:
        raise ValueError(f"task must be one of {tuple(KINDS_BY_TASK)}; got {task!r}.")
    categorical = [c for c in X.columns if _is_categorical(X[c], schema, c)]
    numeric = [c for c in X.columns if c not in set(categorical)]
    scaler = [StandardScaler()] if kind == "linear" else []
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), *scaler),
         numeric),
        ("cat", make_pipeline(FunctionTransformer(_as_objects, feature_names_out="one-to-one"),
                              SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore",
                                            min_frequency=MIN_FREQUENCY)), categorical),
    ])
    tree = dict(max_depth=TREE_DEPTH, min_samples_leaf=TREE_LEAF, random_state=random_state)
    if task == "regression":
        model: Any = Ridge(alpha=1.0) if kind == "linear" else DecisionTreeRegressor(**tree)
    else:
        model = (LogisticRegression(C=1.0, max_iter=1000) if kind == "linear"
                 else DecisionTreeClassifier(**tree))
    return Pipeline([("pre", pre), ("model", model)])


@dataclass(frozen=True)
class BenchmarkResult:
    """The model against a benchmark fitted on the same rows.

    Attributes
    ----------
    estimator : object
        The fitted benchmark (a clone: the user's estimator object is never fitted).
    metrics : pandas.DataFrame
        One row per metric, columns ``model``, ``benchmark``, ``difference`` (model −
        benchmark). Binary: ``log_loss, accuracy, roc_auc, brier``; multiclass:
        ``log_loss, accuracy``; regression: ``rmse, mae, r2``.
    model_residuals, benchmark_residuals : pandas.Series
        Residuals of kind "auto" (see :func:`compute_residuals`), indexed like
        ``session.X``; NaN on the model's side when it gives no probabilities.
    model_wrong, benchmark_wrong : numpy.ndarray of bool
        Per row: misclassified, or absolute residual above ``tolerance`` (regression).
    benchmark_scores : numpy.ndarray of shape (n, k)
        The benchmark's scores, laid out like ``session.predictions()``.
    thresholds : tuple of float or None
        Binary: the decision thresholds of the model and of the benchmark.
    tolerance : float or None
        The absolute residual above which a regression row is wrong.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    >>> s = bind(lambda df: df["a"] ** 2, X, [0.0, 1.0, 2.0, 3.0], task="regression")
    >>> result = benchmark(s, tolerance=0.5)
    >>> result.rows("model_worse").tolist(), result.to_frame()["group"].tolist()
    ([2, 3], ['both_right', 'both_right', 'model_worse', 'model_worse'])
    >>> result.summary("model_worse", s.X)[["in_rows", "overall"]].values.tolist()
    [[2.5, 1.5]]
    """

    estimator: Any
    metrics: pd.DataFrame
    model_residuals: pd.Series
    benchmark_residuals: pd.Series
    model_wrong: np.ndarray
    benchmark_wrong: np.ndarray
    benchmark_scores: np.ndarray
    thresholds: tuple[float, float] | None = None
    tolerance: float | None = None

    def mask(self, which: Disagreement) -> np.ndarray:
        """Boolean mask of the rows in a disagreement set (positions of ``session.X``)."""
        if which not in DISAGREEMENTS:
            raise ValueError(f"which must be one of {DISAGREEMENTS}; got {which!r}.")
        m, b = self.model_wrong, self.benchmark_wrong
        return {"model_worse": m & ~b, "benchmark_worse": b & ~m, "both_wrong": m & b}[which]

    def rows(self, which: Disagreement) -> pd.Index:
        """Index labels of the rows only the model, only the benchmark, or both get wrong."""
        return self.model_residuals.index[self.mask(which)]

    def to_frame(self) -> pd.DataFrame:
        """Per row: both residuals, both wrong flags and the ``group`` (or "both_right")."""
        group = np.full(len(self.model_wrong), "both_right", dtype=object)
        for which in DISAGREEMENTS:
            group[self.mask(which)] = which
        return pd.DataFrame({"model_residual": self.model_residuals.to_numpy(),
                             "benchmark_residual": self.benchmark_residuals.to_numpy(),
                             "model_wrong": self.model_wrong,
                             "benchmark_wrong": self.benchmark_wrong, "group": group},
                            index=self.model_residuals.index)

    def summary(self, which: Disagreement, X: pd.DataFrame, *,
                schema: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """How the rows of a disagreement set differ from all rows, feature by feature.

        Numeric features: ``in_rows`` / ``overall`` are the means (missing values ignored),
        ``effect`` their difference in standard deviations of all rows. Categorical features
        (by dtype or ``schema``): ``value`` is the most over-represented category (NaN for
        missing), ``in_rows`` / ``overall`` its shares, ``effect`` their difference over
        √(p·(1−p)). Sorted by ``|effect|``, largest first (NaN for an empty set).

        Parameters
        ----------
        which : {"model_worse", "benchmark_worse", "both_wrong"}
        X : pandas.DataFrame
            The data the result was computed on (``session.X``).
        schema : FeatureSchema or mapping, default=None
            Feature kinds, e.g. ``session.schema``, to treat integer codes as categories.

        Returns
        -------
        pandas.DataFrame
            Indexed by feature, columns ``kind, value, in_rows, overall, effect,
            missing_in_rows, missing_overall``.
        """
        mask = self.mask(which)
        if not X.index.equals(self.model_residuals.index):
            raise ValueError("X must hold the rows the benchmark was computed on, in the same "
                             "order: pass session.X.")
        records = [_categorical_row(X[c], mask) if _is_categorical(X[c], schema, c)
                   else _numeric_row(X[c], mask) for c in X.columns]
        frame = pd.DataFrame({name: np.array([r[j] for r in records], dtype=object)
                              for j, name in enumerate(SUMMARY_COLUMNS)},
                             index=pd.Index(X.columns, name="feature"))
        frame = frame.astype({c: np.float64 for c in SUMMARY_COLUMNS[2:]})
        order = np.argsort(-np.nan_to_num(np.abs(frame["effect"].to_numpy(float)), nan=-1.0),
                           kind="stable")
        return frame.iloc[order]


def benchmark(
    session: DebugSession,
    *,
    estimator: BenchmarkKind | Any = "linear",
    cv: int | None = None,
    threshold: float | None = None,
    tolerance: float | None = None,
    random_state: int = 0,
) -> BenchmarkResult:
    """Fit a benchmark on the session's data and compare it with the model row by row.

    The benchmark is fitted on the columns the model sees and ``session.y``. By default
    its predictions are **in-sample** (scored on the rows it was fitted on, as the model
    usually is); with ``cv=k`` they are out-of-fold (``cross_val_predict`` with ``k``
    unshuffled, stratified for classifiers, folds) and ``estimator`` is still fitted on
    all rows. A row is wrong when its predicted label differs from ``y`` (binary: score ≥
    threshold; multiclass: the highest score), or, for regression, when its absolute
    residual exceeds ``tolerance``. Models without probabilities get NaN for
    ``log_loss``, ``brier`` and their residuals. Results for ``"linear"`` and ``"tree"``
    are cached per model version.

    Parameters
    ----------
    session : DebugSession
        The bound model and data, with ``y``.
    estimator : {"linear", "tree"} or estimator, default="linear"
        A kind for :func:`make_benchmark`, or an unfitted scikit-learn estimator or
        pipeline (cloned before fitting; it needs ``predict_proba`` for classification).
    cv : int, default=None
        Number of folds for out-of-fold benchmark predictions; None scores in-sample.
    threshold : float, default=None
        Binary only: the model's threshold (0.5 for probabilities, 0.0 for decision
        scores). The benchmark uses it too when the model gives probabilities, else 0.5.
    tolerance : float, default=None
        Regression only: default, the median absolute residual of the benchmark.
    random_state : int, default=0
        Seed of the tree benchmark.

    Returns
    -------
    BenchmarkResult

    Raises
    ------
    ValueError
        Without ``y``, or for an option the task does not have.
    TypeError
        If ``estimator`` is not a scikit-learn estimator that can be refitted.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}); y = [0, 1, 0, 1, 1, 1]
    >>> s = bind(DecisionTreeClassifier(max_depth=1).fit(X, y), X, y)
    >>> result = benchmark(s, estimator="tree")
    >>> result.metrics.loc["accuracy"].round(3).tolist()
    [0.833, 0.667, 0.167]
    >>> result.rows("model_worse").tolist(), result.rows("benchmark_worse").tolist()
    ([1], [0, 2])
    """
    if session.y is None:
        raise ValueError(NEEDS_Y)
    _check_options(session, estimator, cv, threshold, tolerance)

    def compute() -> BenchmarkResult:
        return _compute(session, estimator, cv, threshold, tolerance, random_state)

    if isinstance(estimator, str):
        key = ("benchmark", estimator, cv, threshold, tolerance, random_state)
        return session.cached(key, compute)
    return compute()


def _check_options(session: DebugSession, estimator: Any, cv: Any, threshold: Any,
                   tolerance: Any) -> None:
    if isinstance(estimator, str):
        if estimator not in BENCHMARK_KINDS:
            raise ValueError(f"estimator must be one of {BENCHMARK_KINDS} or an unfitted "
                             f"scikit-learn estimator; got {estimator!r}.")
    elif not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise TypeError(f"estimator must be 'linear', 'tree' or an unfitted scikit-learn "
                        f"estimator (with fit and get_params) that can be refitted on "
                        f"session.X; got {type(estimator).__name__}. Wrap other models in "
                        "a scikit-learn estimator.")
    if cv is not None and (isinstance(cv, bool) or not isinstance(cv, int | np.integer)
                           or cv < 2):
        raise ValueError(f"cv must be None (in-sample) or a number of folds >= 2; got {cv!r}.")
    if threshold is not None and session.task != "binary":
        raise ValueError(f"threshold applies to binary classification; this session is "
                         f"{session.task}: drop threshold=.")
    if tolerance is not None and (session.task != "regression" or not tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0 and applies to regression; got "
                         f"{tolerance!r} for a {session.task} session.")


def _compute(session: DebugSession, estimator: Any, cv: int | None, threshold: float | None,
             tolerance: float | None, random_state: int) -> BenchmarkResult:
    adapter, task = session.adapter, session.task
    X = session.X if adapter.feature_names is None else session.X[adapter.feature_names]
    y = session.y.to_numpy()
    if task == "regression":
        y = y.astype(np.float64)
    est = (make_benchmark(X, task=task, kind=estimator, schema=session.schema,
                          random_state=random_state)
           if isinstance(estimator, str) else clone(estimator))
    method = "predict" if task == "regression" else "predict_proba"
    if not hasattr(est, method):
        raise TypeError(f"a {task} benchmark needs {method}, which "
                        f"{type(est).__name__} does not have; for classifiers wrap it in "
                        "sklearn.calibration.CalibratedClassifierCV.")
    oof = None if cv is None else cross_val_predict(clone(est), X, y, cv=cv, method=method)
    est.fit(X, y)
    raw = np.asarray(getattr(est, method)(X) if oof is None else oof, dtype=np.float64)
    bench = _align(raw, est, adapter)
    scores, output_kind = session.predictions(), adapter.output_kind
    name = KINDS_BY_TASK[task][0]
    probabilistic = task == "regression" or output_kind == "probability"
    model_res = (residuals(session) if probabilistic
                 else pd.Series(np.nan, index=session.X.index, name=name))
    bench_res = pd.Series(compute_residuals(y, bench, task=task, classes=adapter.classes,
                                            pos_label=adapter.pos_label),
                          index=session.X.index, name=name)
    thresholds = None
    if task == "regression":
        tolerance = (float(np.median(np.abs(bench_res.to_numpy())))
                     if tolerance is None else float(tolerance))
        model_wrong = np.abs(model_res.to_numpy()) > tolerance
        bench_wrong = np.abs(bench_res.to_numpy()) > tolerance
        values = [_regression_metrics(y, s[:, 0]) for s in (scores, bench)]
    else:
        if task == "binary":
            default = 0.0 if output_kind == "decision" else 0.5
            threshold = default if threshold is None else float(threshold)
            thresholds = (threshold, threshold if output_kind == "probability" else 0.5)
            truth = y == adapter.pos_label
            predicted = [s[:, 0] >= t for s, t in zip((scores, bench), thresholds, strict=True)]
        else:
            truth = y
            predicted = [adapter.classes[np.argmax(s, axis=1)] for s in (scores, bench)]
        model_wrong, bench_wrong = (np.asarray(p != truth, dtype=bool) for p in predicted)
        values = [_classification_metrics(task, truth, s, p, adapter.classes, prob)
                  for s, p, prob in zip((scores, bench), predicted, (probabilistic, True),
                                        strict=True)]
    metrics = pd.DataFrame({"model": values[0], "benchmark": values[1]})
    metrics["difference"] = metrics["model"] - metrics["benchmark"]
    metrics.index.name = "metric"
    for array in (model_wrong, bench_wrong, bench):
        array.flags.writeable = False  # results are cached and shared by widgets
    return BenchmarkResult(est, metrics, model_res, bench_res, model_wrong, bench_wrong, bench,
                           thresholds=thresholds, tolerance=tolerance)


def _align(raw: np.ndarray, est: Any, adapter: Any) -> np.ndarray:
    """Benchmark output in the layout of ``session.predictions()``."""
    if adapter.task == "regression":
        return raw.reshape(len(raw), 1)
    classes = np.asarray(est.classes_)
    targets = [adapter.pos_label] if adapter.task == "binary" else list(adapter.classes)
    out = np.zeros((len(raw), len(targets)))
    for j, label in enumerate(targets):
        hits = np.flatnonzero(classes == label)
        if len(hits):  # a class absent from y gets probability 0
            out[:, j] = raw[:, hits[0]]
    return out


def _classification_metrics(task: str, truth: np.ndarray, scores: np.ndarray,
                            predicted: np.ndarray, classes: Any,
                            probabilistic: bool) -> dict[str, float]:
    nan = float("nan")
    if task == "multiclass":
        return {"log_loss": skm.log_loss(truth, scores, labels=list(classes))
                if probabilistic else nan,
                "accuracy": skm.accuracy_score(truth, predicted)}
    truth, p = truth.astype(np.int64), scores[:, 0]
    return {"log_loss": skm.log_loss(truth, p, labels=[0, 1]) if probabilistic else nan,
            "accuracy": skm.accuracy_score(truth, predicted.astype(np.int64)),
            "roc_auc": skm.roc_auc_score(truth, p) if 0 < truth.sum() < len(truth) else nan,
            "brier": skm.brier_score_loss(truth, p) if probabilistic else nan}


def _regression_metrics(y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    return {"rmse": skm.root_mean_squared_error(y, prediction),
            "mae": skm.mean_absolute_error(y, prediction), "r2": skm.r2_score(y, prediction)}


def _is_categorical(column: pd.Series, schema: Mapping[str, Any] | None, name: Any) -> bool:
    if schema is not None and str(name) in schema:
        spec = schema[str(name)]
        if getattr(spec, "kind", spec) in ("categorical", "boolean"):
            return True
    return pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column)


def _as_objects(X: Any) -> pd.DataFrame:
    """Categories as objects with NaN for missing (SimpleImputer rejects bool and pd.NA)."""
    frame = pd.DataFrame(X).astype(object)
    return frame.where(frame.notna(), np.nan)


def _share(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _numeric_row(column: pd.Series, mask: np.ndarray) -> list:
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    present, present_rows = values[~missing], values[mask & ~missing]
    overall = float(present.mean()) if len(present) else float("nan")
    in_rows = float(present_rows.mean()) if len(present_rows) else float("nan")
    std = float(present.std()) if len(present) else 0.0
    effect = (in_rows - overall) / std if std > 0 else (0.0 if mask.any() else float("nan"))
    return ["numeric", None, in_rows, overall, effect, _share(missing[mask]),
            _share(missing)]


def _categorical_row(column: pd.Series, mask: np.ndarray) -> list:
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    k = len(uniques)
    overall = np.bincount(codes, minlength=k) / len(codes)
    in_rows = np.bincount(codes[mask], minlength=k) / max(int(mask.sum()), 1)
    spread = np.sqrt(overall * (1 - overall))
    z = np.divide(in_rows - overall, spread, out=np.zeros(k), where=spread > 0)
    best = int(np.argmax(z))
    missing = column.isna().to_numpy()
    effect = float(z[best]) if mask.any() else float("nan")
    return ["categorical", uniques[best], float(in_rows[best]) if mask.any() else float("nan"),
            float(overall[best]), effect, _share(missing[mask]), _share(missing)]
