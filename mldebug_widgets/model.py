"""ModelAdapter: one duck-typed door to the user's model.

Any fitted scikit-learn estimator or Pipeline, any object with ``predict_proba`` /
``decision_function`` / ``predict``, or a plain function ``f(DataFrame) -> array`` is turned
into ``adapter.predict(X) -> ndarray of shape (n, k)``: one column for binary
classification (the positive class's score, as in scikit-learn's partial dependence) and
regression, one column per class for multiclass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from . import _errors as E
from ._errors import BindError, ModelError

Task = Literal["binary", "multiclass", "regression"]
ResponseMethod = Literal["auto", "predict_proba", "decision_function", "predict"]
TASKS = ("auto", "binary", "multiclass", "regression")
RESPONSE_METHODS = ("auto", "predict_proba", "decision_function", "predict")
_METHODS = ("predict_proba", "decision_function", "predict")
SINGLE_THREAD_ROWS = 50_000  # interactive-size calls run on one OpenMP/BLAS thread


@cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()


@dataclass
class ModelAdapter:
    """Call a model on a DataFrame and get scores of shape ``(n, k)``.

    Build it with :meth:`from_model`; the attributes describe what the scores mean.

    Attributes
    ----------
    model : object
        The user's model, never modified.
    task : {"binary", "multiclass", "regression"}
        The learning task.
    response_method : {"predict_proba", "decision_function", "predict", "callable"}
        How the model is called.
    classes : numpy.ndarray or None
        Class labels for classifiers.
    pos_label : object or None
        The positive class for binary classification.
    output_names : list
        One name per score column: the positive class, each class, or ``"prediction"``.
    feature_names : list of str or None
        The columns passed to the model, or None to pass every column of the data.
    as_array : bool
        Pass a numpy array (for estimators fitted without column names).
    n_calls : int
        How many times the model has been called (a cheap spy for tests and benchmarks).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}); y = [0, 0, 1, 1]
    >>> adapter = ModelAdapter.from_model(LogisticRegression().fit(X, y), X, y)
    >>> adapter.task, adapter.predict(X).shape
    ('binary', (4, 1))
    """

    model: Any
    task: Task
    response_method: str
    classes: np.ndarray | None = None
    pos_label: Any = None
    feature_names: list[str] | None = None
    as_array: bool = False
    n_calls: int = field(default=0, compare=False)

    @property
    def output_names(self) -> list:
        """Names of the score columns returned by :meth:`predict`."""
        if self.task == "binary":
            return [self.pos_label]
        if self.task == "multiclass":
            return list(self.classes)
        return ["prediction"]

    @property
    def output_kind(self) -> str:
        """What a score is: ``"probability"``, ``"decision"``, ``"label"`` or ``"value"``."""
        if self.task == "regression":
            return "value"
        return {"predict_proba": "probability", "decision_function": "decision",
                "predict": "label"}.get(self.response_method, "probability")

    @classmethod
    def from_model(
        cls,
        model: Any,
        X: pd.DataFrame,
        y: Any = None,
        *,
        task: str = "auto",
        response_method: str = "auto",
        pos_label: Any = None,
    ) -> ModelAdapter:
        """Validate ``model`` against ``X`` and resolve how to call it.

        Parameters
        ----------
        model : estimator or callable
            A fitted estimator, or a function ``f(DataFrame) -> array``.
        X : pandas.DataFrame
            The data the model will be called on.
        y : array-like, default=None
            Labels, used to name classes of a plain function.
        task : {"auto", "binary", "multiclass", "regression"}, default="auto"
            The task; "auto" infers it from the estimator or the function's output.
        response_method : {"auto", "predict_proba", "decision_function", "predict"}
            For classifiers, "auto" tries predict_proba, then decision_function, then predict.
        pos_label : object, default=None
            The positive class of a binary classifier (default: the last class).

        Returns
        -------
        ModelAdapter

        Raises
        ------
        BindError
            With the fix in the message (unfitted model, missing columns, bad option).

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"a": [1.0, 2.0]})
        >>> ModelAdapter.from_model(lambda df: df["a"] * 2, X, task="regression").task
        'regression'
        """
        if task not in TASKS:
            raise BindError(E.TASK_UNKNOWN.format(allowed=TASKS, task=task))
        if response_method not in RESPONSE_METHODS:
            raise BindError(
                E.RESPONSE_UNKNOWN.format(allowed=RESPONSE_METHODS, method=response_method)
            )
        has_method = any(hasattr(model, m) for m in _METHODS)
        if not has_method and not callable(model):
            raise BindError(E.NOT_A_MODEL.format(type=type(model).__name__))
        if not has_method:
            return _from_callable(cls, model, X, y, task, pos_label)
        _check_fitted(model)
        names = getattr(model, "feature_names_in_", None)
        names = None if names is None else [str(c) for c in names]
        if names is not None:
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise BindError(E.X_MISSING_COLUMNS.format(missing=missing))
            if names == [str(c) for c in X.columns]:
                names = None
        classes = getattr(model, "classes_", None)
        if task == "auto":
            if _is(is_classifier, model) or classes is not None or (
                    hasattr(model, "predict_proba") and not _is(is_regressor, model)):
                task = "binary" if classes is not None and len(classes) <= 2 else "multiclass"
            else:
                task = "regression"
        if task == "regression":
            method = "predict" if response_method == "auto" else response_method
        else:
            method = _resolve_method(model, response_method)
        if classes is None and task != "regression":
            classes = _classes_from_y(y, task)
        classes = None if classes is None else np.asarray(classes)
        if task == "binary" and pos_label is None:
            pos_label = classes[-1]
        as_array = hasattr(model, "n_features_in_") and not hasattr(model, "feature_names_in_")
        adapter = cls(model=model, task=task, response_method=method, classes=classes,
                      pos_label=pos_label, feature_names=names, as_array=as_array)
        adapter.predict(X.iloc[: min(len(X), 5)])
        adapter.n_calls = 0
        return adapter

    def predict(self, X: pd.DataFrame, *, check_finite: bool = True) -> np.ndarray:
        """Score the rows of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame
            Rows with (at least) the model's input columns.
        check_finite : bool, default=True
            Raise :class:`ModelError` if any score is NaN or infinite.

        Returns
        -------
        numpy.ndarray of shape (n_rows, n_outputs)
            float64 scores, one column per name in :attr:`output_names`.

        Raises
        ------
        ModelError
            If the model raises (its message is kept) or returns unusable output.

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"a": [1.0, 2.0]})
        >>> adapter = ModelAdapter.from_model(lambda df: df["a"] * 2, X, task="regression")
        >>> adapter.predict(X).ravel().tolist()
        [2.0, 4.0]
        """
        Xm = X if self.feature_names is None else X[self.feature_names]
        if self.as_array:
            Xm = Xm.to_numpy()
        fn: Callable = (
            self.model if self.response_method == "callable"
            else getattr(self.model, self.response_method)
        )
        self.n_calls += 1
        try:
            if len(Xm) <= SINGLE_THREAD_ROWS:
                # on shared cores, thread fan-out makes small calls slower and noisier
                with _threadpools().limit(limits=1):
                    raw = fn(Xm)
            else:
                raw = fn(Xm)
        except Exception as exc:  # the model's own error, kept with its message
            raise ModelError(
                E.MODEL_RAISED.format(exc_type=type(exc).__name__, message=exc)
            ) from exc
        return self._to_scores(raw, len(X), check_finite)

    def _to_scores(self, raw: Any, n: int, check_finite: bool) -> np.ndarray:
        out = np.asarray(raw)
        if out.ndim == 0 or out.shape[0] != n or out.ndim > 2:
            raise ModelError(E.PRED_SHAPE.format(shape=out.shape, n=n))
        if self.response_method == "predict" and self.task != "regression":
            out = _one_hot(out, self.classes)
        if out.dtype.kind not in "biuf":
            raise ModelError(E.PRED_NOT_NUMERIC.format(dtype=out.dtype))
        out = out.astype(np.float64, copy=False)
        if out.ndim == 1:
            out = out[:, None]
        if self.task == "binary":
            if out.shape[1] == 2:
                out = out[:, [_class_index(self.classes, self.pos_label)]]
            elif out.shape[1] == 1 and self.response_method == "decision_function" and (
                _class_index(self.classes, self.pos_label) == 0
            ):
                out = -out
            if out.shape[1] != 1:
                raise ModelError(E.PRED_SHAPE.format(shape=out.shape, n=n))
        elif self.task == "multiclass" and self.classes is not None:
            if out.shape[1] != len(self.classes):
                raise ModelError(E.PRED_SHAPE.format(shape=out.shape, n=n))
        if check_finite:
            bad = ~np.isfinite(out).all(axis=1)
            if bad.any():
                rows = np.flatnonzero(bad)[:5].tolist()
                raise ModelError(E.PRED_NOT_FINITE.format(bad=int(bad.sum()), rows=rows))
        return out


def _is(check: Callable[[Any], bool], model: Any) -> bool:
    """Ask scikit-learn about an estimator; objects that are not estimators answer False."""
    try:
        return bool(check(model))
    except (AttributeError, TypeError):  # duck-typed models without sklearn's tags
        return False


def _check_fitted(model: Any) -> None:
    if not hasattr(model, "fit"):
        return
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise BindError(E.NOT_FITTED.format(name=type(model).__name__)) from exc
    except TypeError:  # not a scikit-learn estimator: trust it
        return


def _resolve_method(model: Any, response_method: str) -> str:
    available = [m for m in _METHODS if hasattr(model, m)]
    if response_method == "auto":
        return available[0]
    if response_method not in available:
        raise BindError(E.RESPONSE_MISSING.format(
            name=type(model).__name__, method=response_method, available=available))
    return response_method


def _classes_from_y(y: Any, task: str) -> np.ndarray:
    if y is not None:
        return np.unique(np.asarray(y))
    return np.array([0, 1])


def _class_index(classes: np.ndarray | None, label: Any) -> int:
    if classes is None:
        return 1
    hits = np.flatnonzero(classes == label)
    if len(hits) == 0:
        raise BindError(f"pos_label {label!r} is not a class of the model; classes are "
                        f"{list(classes)}.")
    return int(hits[0])


def _one_hot(labels: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    if labels.ndim != 1 or classes is None:
        return labels
    return (labels[:, None] == classes[None, :]).astype(np.float64)


def _from_callable(cls: type, fn: Callable, X: pd.DataFrame, y: Any, task: str,
                   pos_label: Any) -> ModelAdapter:
    probe = cls(model=fn, task="regression", response_method="callable")
    raw = np.asarray(probe.predict(X.iloc[: min(len(X), 50)], check_finite=False))
    if task == "auto":
        task = _guess_callable_task(raw, y)
    classes = None
    if task != "regression":
        k = raw.shape[1] if raw.shape[1] > 1 else 2
        y_classes = None if y is None else np.unique(np.asarray(y))
        if y_classes is not None and (len(y_classes) == k or (k == 2 and len(y_classes) <= 2)):
            classes = y_classes if len(y_classes) == k else np.array([0, 1])
        else:
            classes = np.arange(k)
        if task == "binary" and pos_label is None:
            pos_label = classes[-1]
    adapter = cls(model=fn, task=task, response_method="callable", classes=classes,
                  pos_label=pos_label)
    adapter.predict(X.iloc[: min(len(X), 5)])
    adapter.n_calls = 0
    return adapter


def _guess_callable_task(raw: np.ndarray, y: Any) -> str:
    if raw.shape[1] >= 3:
        return "multiclass"
    if raw.shape[1] == 2:
        return "binary"
    values = raw.ravel()
    if values.dtype.kind not in "biuf":
        raise BindError(E.CALLABLE_TASK)
    in_unit = bool(np.all((values >= 0) & (values <= 1)))
    if y is not None:
        n_classes = len(pd.unique(np.asarray(y)))
        if n_classes <= 2 and in_unit:
            return "binary"
        if n_classes > 2 and not in_unit:
            return "regression"
    if not in_unit:
        return "regression"
    raise BindError(E.CALLABLE_TASK)
