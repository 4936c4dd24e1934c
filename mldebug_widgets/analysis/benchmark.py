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
NEEDS_Y = "a benchmark needs the true labels: bind the model with y, e.g. mdw.bind(model, X, y)."
SUMMARY_COLUMNS = ["kind", "value", "in_rows", "overall", "effect", "missing_in_rows",
                   "missing_overall"]
MIN_FREQUENCY, TREE_DEPTH, TREE_LEAF = 5, 4, 20


def make_benchmark(X: pd.DataFrame, *, task: str, kind: BenchmarkKind = "linear",
                   schema: Mapping[str, Any] | None = None, random_state: int = 0) -> Pipeline:
    """Build an unfitted benchmark pipeline for the columns of ``X``.

    Numeric columns: median imputation with missing indicators (and scaling for "linear").
    Categorical columns (object, string, category or bool dtype, or declared categorical in
    ``schema``, such as integer codes): most-frequent imputation and one-hot encoding
    (unknown categories ignored, those seen < 5 times grouped). Then ``LogisticRegression(C=1)``
    or ``Ridge(alpha=1)`` ("linear"), or a tree of depth 4 with leaves of ≥ 20 rows ("tree").

    Parameters
    ----------
    X : pandas.DataFrame
        The training columns (only their names and dtypes are read).
    task : {"binary", "multiclass", "regression"}
    kind : {"linear", "tree"}, default="linear"
    schema : FeatureSchema or mapping, default=None
        Feature name -> spec or kind string, e.g. ``session.schema``.
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
        raise ValueError(f"kind must be one of {BENCHMARK_KINDS}; got {kind!r}. Pass an "
                         "estimator to benchmark(session, estimator=...) for other models.")
    if task not in KINDS_BY_TASK:
        raise ValueError(f"task must be one of {tuple(KINDS_BY_TASK)}; got {task!r}.")
    categorical = [c for c in X.columns if _is_categorical(X[c], schema, c)]
    numeric = [c for c in X.columns if c not in set(categorical)]
    scale = [StandardScaler()] if kind == "linear" else []
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), *scale),
         numeric),
        ("cat", make_pipeline(FunctionTransformer(_as_objects, feature_names_out="one-to-one"),
                              SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", min_frequency=MIN_FREQUENCY)),
         categorical),
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
        Rows ``log_loss, accuracy, roc_auc, brier`` (binary), ``log_loss, accuracy``
        (multiclass) or ``rmse, mae, r2``; columns ``model, benchmark, difference``
        (model − benchmark).
    model_residuals, benchmark_residuals : pandas.Series
        Residuals of kind "auto" (:func:`compute_residuals`) indexed like ``session.X``;
        NaN on the model's side if it gives no probabilities.
    model_wrong, benchmark_wrong : numpy.ndarray of bool
        Misclassified rows, or (regression) absolute residual above ``tolerance``.
    benchmark_scores : numpy.ndarray of shape (n, k)
        The benchmark's scores, laid out like ``session.predictions()``.
    thresholds : tuple of float or None
        Binary: the decision thresholds of the model and of the benchmark.
    tolerance : float or None
        Regression: the absolute residual above which a row is wrong.

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
        """Boolean mask, by position in ``session.X``, of a disagreement set."""
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
        size = np.nan_to_num(frame["effect"].abs().to_numpy(), nan=-1.0)
        return frame.iloc[np.argsort(-size, kind="stable")]


def benchmark(session: DebugSession, *, estimator: BenchmarkKind | Any = "linear",
              cv: int | None = None, threshold: float | None = None,
              tolerance: float | None = None, random_state: int = 0) -> BenchmarkResult:
    """Fit a benchmark on the session's data and compare it with the model row by row.

    The benchmark is fitted on the columns the model sees and ``session.y``. Its scores are
    **in-sample** by default (like the model's, usually); with ``cv=k`` they are
    out-of-fold (``cross_val_predict``, ``k`` unshuffled folds, stratified for classifiers)
    and ``estimator`` is still fitted on all rows. A row is wrong when its predicted label
    is not ``y`` (binary: score ≥ threshold; multiclass: the top score) or, for regression,
    when its absolute residual exceeds ``tolerance``. Without probabilities, the model gets
    NaN ``log_loss``, ``brier`` and residuals. Results of the named kinds are cached per
    model version.

    Parameters
    ----------
    session : DebugSession
        The bound model and data, with ``y``.
    estimator : {"linear", "tree"} or estimator, default="linear"
        A kind of :func:`make_benchmark`, or an unfitted scikit-learn estimator or pipeline
        (cloned, never fitted itself; classifiers need ``predict_proba``).
    cv : int, default=None
        Folds for out-of-fold benchmark scores; None scores in-sample.
    threshold : float, default=None
        Binary: the model's threshold (default 0.5, or 0.0 for decision scores); the
        benchmark uses it too if the model gives probabilities, else 0.5.
    tolerance : float, default=None
        Regression: default, the median absolute residual of the benchmark.
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
    if session.y.isna().any():
        raise ValueError(f"y has {int(session.y.isna().sum())} missing value(s); bind the rows "
                         "with labels only, e.g. bind(model, X[y.notna()], y[y.notna()]).")
    _check_options(session, estimator, cv, threshold, tolerance)

    def compute() -> BenchmarkResult:
        return _compute(session, estimator, cv, threshold, tolerance, random_state)

    if isinstance(estimator, str):
        # schemas are replaced, never mutated: a new one (new categoricals) is a new key
        key = ("benchmark", estimator, cv, threshold, tolerance, random_state,
               id(session.schema))
        return session.cached(key, compute)
    return compute()


def _check_options(session: DebugSession, estimator: Any, cv: Any, threshold: Any,
                   tolerance: Any) -> None:
    if isinstance(estimator, str) and estimator not in BENCHMARK_KINDS:
        raise ValueError(f"estimator must be one of {BENCHMARK_KINDS} or an unfitted "
                         f"scikit-learn estimator; got {estimator!r}.")
    refittable = hasattr(estimator, "fit") and hasattr(estimator, "get_params")
    if not isinstance(estimator, str) and not refittable:
        raise TypeError(f"estimator must be 'linear', 'tree' or an unfitted scikit-learn "
                        f"estimator (with fit and get_params) to refit on session.X; got "
                        f"{type(estimator).__name__}. Wrap other models in an estimator.")
    if cv is not None and (isinstance(cv, bool) or not isinstance(cv, int | np.integer)
                           or cv < 2):
        raise ValueError(f"cv must be None (in-sample) or a number of folds >= 2; got {cv!r}.")
    if threshold is not None and session.task != "binary":
        raise ValueError(f"threshold applies to binary classification, not {session.task}: "
                         "drop threshold=.")
    if tolerance is not None and (session.task != "regression" or not tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0 and applies to regression; got "
                         f"{tolerance!r} for a {session.task} session.")


def _compute(session: DebugSession, estimator: Any, cv: int | None, threshold: float | None,
             tolerance: float | None, random_state: int) -> BenchmarkResult:
    adapter, task = session.adapter, session.task
    X = session.X if adapter.feature_names is None else session.X[adapter.feature_names]
    y = session.y.to_numpy()
    y = y.astype(np.float64) if task == "regression" else y
    est = (make_benchmark(X, task=task, kind=estimator, schema=session.schema,
                          random_state=random_state)
           if isinstance(estimator, str) else clone(estimator))
    method = "predict" if task == "regression" else "predict_proba"
    if not hasattr(est, method):
        raise TypeError(f"a {task} benchmark needs {method}, which {type(est).__name__} does "
                        "not have; wrap a classifier in CalibratedClassifierCV.")
    oof = None if cv is None else cross_val_predict(clone(est), X, y, cv=cv, method=method)
    est.fit(X, y)
    bench = _align(np.asarray(getattr(est, method)(X) if oof is None else oof, dtype=np.float64),
                   est, adapter)
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
        tolerance = float(np.median(np.abs(bench_res)) if tolerance is None else tolerance)
        model_wrong, bench_wrong = (np.abs(r.to_numpy()) > tolerance
                                    for r in (model_res, bench_res))
        values = [_metrics(task, y, s, None, None, True) for s in (scores, bench)]
    else:
        if task == "binary":
            threshold = float((0.0 if output_kind == "decision" else 0.5)
                              if threshold is None else threshold)
            thresholds = (threshold, threshold if output_kind == "probability" else 0.5)
            truth = y == adapter.pos_label
            predicted = [s[:, 0] >= t for s, t in zip((scores, bench), thresholds, strict=True)]
        else:
            truth = y
            predicted = [adapter.classes[np.argmax(s, axis=1)] for s in (scores, bench)]
        model_wrong, bench_wrong = (np.asarray(p != truth, dtype=bool) for p in predicted)
        values = [_metrics(task, truth, s, p, adapter.classes, prob)
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


def _metrics(task: str, truth: np.ndarray, scores: np.ndarray, predicted: Any, classes: Any,
             probabilistic: bool) -> dict[str, float]:
    nan = float("nan")
    if task == "regression":
        return {"rmse": skm.root_mean_squared_error(truth, scores[:, 0]),
                "mae": skm.mean_absolute_error(truth, scores[:, 0]),
                "r2": skm.r2_score(truth, scores[:, 0])}
    if task == "multiclass":
        return {"log_loss": skm.log_loss(truth, scores, labels=list(classes))
                if probabilistic else nan, "accuracy": skm.accuracy_score(truth, predicted)}
    truth, p = truth.astype(np.int64), scores[:, 0]
    return {"log_loss": skm.log_loss(truth, p, labels=[0, 1]) if probabilistic else nan,
            "accuracy": skm.accuracy_score(truth, predicted.astype(np.int64)),
            "roc_auc": skm.roc_auc_score(truth, p) if 0 < truth.sum() < len(truth) else nan,
            "brier": skm.brier_score_loss(truth, p) if probabilistic else nan}


def _is_categorical(column: pd.Series, schema: Mapping[str, Any] | None, name: Any) -> bool:
    spec = schema.get(str(name)) if schema is not None else None
    if getattr(spec, "kind", spec) in ("categorical", "boolean"):
        return True
    return pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column)


def _as_objects(X: Any) -> pd.DataFrame:
    """Categories as objects with NaN for missing (SimpleImputer rejects bool and pd.NA)."""
    frame = pd.DataFrame(X).astype(object)
    return frame.where(frame.notna(), np.nan)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _numeric_row(column: pd.Series, mask: np.ndarray) -> list:
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    overall, in_rows = _mean(values[~missing]), _mean(values[mask & ~missing])
    std = float(values[~missing].std()) if (~missing).any() else 0.0
    effect = (in_rows - overall) / std if std > 0 else (0.0 if mask.any() else float("nan"))
    return ["numeric", None, in_rows, overall, effect, _mean(missing[mask]), _mean(missing)]


def _categorical_row(column: pd.Series, mask: np.ndarray) -> list:
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    k, n_rows = len(uniques), int(mask.sum())
    overall = np.bincount(codes, minlength=k) / len(codes)
    in_rows = np.bincount(codes[mask], minlength=k) / max(n_rows, 1)
    spread = np.sqrt(overall * (1 - overall))
    z = np.divide(in_rows - overall, spread, out=np.zeros(k), where=spread > 0)
    best, nan = int(np.argmax(z)), float("nan")
    missing = column.isna().to_numpy()
    return ["categorical", uniques[best], float(in_rows[best]) if n_rows else nan,
            float(overall[best]), float(z[best]) if n_rows else nan, _mean(missing[mask]),
            _mean(missing)]
