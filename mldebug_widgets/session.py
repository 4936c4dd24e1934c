"""DebugSession: the one owner of the model, the data and the shared selection state.

Widgets never hold the model or a copy of the data: they ask the session, and they meet
through its traits (``focus_row``, ``selected_rows``, ``model_version``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import traitlets

from . import _errors as E
from ._errors import BindError
from .model import ModelAdapter
from .schema import FeatureSchema


class DebugSession(traitlets.HasTraits):
    """A model bound to data, with a prediction cache and shared selection state.

    Build it with :func:`bind`. The user's model, ``X`` and ``y`` are never modified: the
    session keeps its own copy of the data and only calls the model's prediction methods.

    Attributes
    ----------
    focus_row : object or None
        Index label of the row every widget should look at (the what-if editor loads it).
    selected_rows : tuple
        Index labels of the rows the user selected (a brushed cohort, a slice).
    candidate : dict
        A synthetic row proposed by a search, ``{"base": label, "values": {feature: value},
        "source": text}``: the what-if editor loads row ``base`` with ``values`` applied as
        edits (see :meth:`propose`).
    rules : str
        Model assertions, one rule per line (:mod:`mldebug_widgets.analysis.assertions`):
        the assertions panel writes them, the what-if editor checks the edited row against
        them as you edit.
    model_version : int
        Increases whenever the model changes (:meth:`set_model`, :meth:`refresh`); caches
        and widgets key on it.
    adapter : ModelAdapter
        How the model is called.
    schema : FeatureSchema
        Kinds, ranges and constraints of the features; assign a new one to override it.
    findings : Findings
        What the user marked (rows, cohorts, slices, finds, thresholds), with exports to
        DataFrames, a JSON state, an HTML report and a pytest file (``mldebug_widgets.findings``).
    widget_state : dict
        Widget name -> JSON-able state that widgets and the dashboard keep here so that
        ``save_state`` / ``load_state`` re-open them as they were.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}); y = pd.Series([0, 0, 1, 1])
    >>> session = bind(LogisticRegression().fit(X, y), X, y)
    >>> session.task, session.predictions().shape
    ('binary', (4, 1))
    """

    focus_row = traitlets.Any(None, allow_none=True, help="index label of the focused row")
    selected_rows = traitlets.Tuple(help="index labels of the selected rows")
    candidate = traitlets.Dict(help="a synthetic row proposed by a search")
    rules = traitlets.Unicode("", help="model assertions, one per line (see analysis.assertions)")
    model_version = traitlets.Int(0, help="bumped when the model changes")
    schema = traitlets.Instance(FeatureSchema, help="the features' kinds and constraints")

    def __init__(self, adapter: ModelAdapter, X: pd.DataFrame, y: pd.Series | None,
                 sensitive: pd.DataFrame | None, schema: FeatureSchema):
        super().__init__(schema=schema)
        self.adapter = adapter
        self._X = X
        self._y = y
        self._sensitive = sensitive
        self._cache: dict[tuple, Any] = {}
        from .findings import Findings  # lazy: findings imports analysis, which imports us

        self.findings = Findings(self)
        self.widget_state: dict[str, Any] = {}

    # -- data -------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The bound model (the user's object, never modified)."""
        return self.adapter.model

    @property
    def X(self) -> pd.DataFrame:
        """The bound features (the session's copy; treat it as read-only)."""
        return self._X

    @property
    def y(self) -> pd.Series | None:
        """The bound labels, aligned with :attr:`X`, or None."""
        return self._y

    @property
    def sensitive_features(self) -> pd.DataFrame | None:
        """Sensitive features aligned with :attr:`X` (they need not be model inputs)."""
        return self._sensitive

    @property
    def task(self) -> str:
        """``"binary"``, ``"multiclass"`` or ``"regression"``."""
        return self.adapter.task

    @property
    def output_names(self) -> list:
        """Names of the prediction columns (positive class, each class, or "prediction")."""
        return self.adapter.output_names

    @property
    def features(self) -> list[str]:
        """The feature names, in column order."""
        return list(self._X.columns)

    def row(self, label: Any) -> pd.DataFrame:
        """Return a one-row copy of the row with index ``label``.

        Examples
        --------
        >>> import pandas as pd
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}),
        ...          task="regression")
        >>> s.row(1)["a"].item()
        2.0
        """
        return self._X.iloc[[self.position(label)]].copy()

    def position(self, label: Any) -> int:
        """Return the integer position of the row with index ``label``.

        Examples
        --------
        >>> import pandas as pd
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}, index=[7, 9]),
        ...          task="regression")
        >>> s.position(9)
        1
        """
        try:
            return int(self._X.index.get_loc(label))
        except (KeyError, TypeError):
            raise KeyError(E.UNKNOWN_ROW.format(
                row=label, first=list(self._X.index[:5]))) from None

    # -- predictions ------------------------------------------------------------------
    def propose(self, base: Any, values: dict, *, source: str = "") -> None:
        """Propose a synthetic row: row ``base`` with ``values`` changed (for the what-if editor).

        Parameters
        ----------
        base : object
            Index label of the row the values change.
        values : dict
            Feature -> new value (only the changed features are needed).
        source : str, default=""
            Where the row comes from, shown in the editor's history.

        Raises
        ------
        KeyError
            If ``base`` is not a row or a feature is not a column of ``X``.

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"a": [0.0, 1.0]})
        >>> s = bind(lambda df: df["a"].to_numpy(), X, task="regression")
        >>> s.propose(1, {"a": 5.0}, source="search")
        >>> s.candidate["values"]
        {'a': 5.0}
        """
        self.position(base)  # raises KeyError with the fix
        unknown = [f for f in values if f not in self._X.columns]
        if unknown:
            raise KeyError(f"{unknown} are not columns of X; propose values of its features.")
        self.candidate = {}  # an equal proposal (sent twice) must still notify
        self.candidate = {"base": base, "values": dict(values), "source": source}

    def serve(self, **kwargs: Any) -> Any:
        """Publish this session as a Voila dashboard on 127.0.0.1 (see ``mdw.serve``).

        Parameters
        ----------
        **kwargs
            Options of :func:`mldebug_widgets.serve.serve`: ``port``, ``bins``,
            ``aggregates_only``, ``title``, ``theme``, ``cull_idle_timeout``...

        Returns
        -------
        VoilaServer
            ``.url``, ``.process``, ``.stop()``; also a context manager.

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn.linear_model import LogisticRegression
        >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}); y = pd.Series([0, 0, 1, 1])
        >>> with bind(LogisticRegression().fit(X, y), X, y).serve(port=0) as server:
        ...     server.url.startswith("http://127.0.0.1:")
        True
        """
        from .serve import serve

        return serve(self, **kwargs)

    def predict(self, X: pd.DataFrame, *, check_finite: bool = True) -> np.ndarray:
        """Score arbitrary rows with the bound model: shape ``(n, len(output_names))``.

        Examples
        --------
        >>> import pandas as pd
        >>> s = bind(lambda df: df["a"] * 2.0, pd.DataFrame({"a": [1.0]}), task="regression")
        >>> s.predict(pd.DataFrame({"a": [5.0]})).tolist()
        [[10.0]]
        """
        return self.adapter.predict(X, check_finite=check_finite)

    def predictions(self) -> np.ndarray:
        """Scores of every bound row, computed once per model version (one predict call).

        Examples
        --------
        >>> import pandas as pd
        >>> s = bind(lambda df: df["a"] + 1.0, pd.DataFrame({"a": [1.0]}), task="regression")
        >>> s.predictions().ravel().tolist()
        [2.0]
        """
        return self.cached("predictions", lambda: self.predict(self._X))

    def cached(self, key: Any, compute) -> Any:
        """Memoise ``compute()`` under ``key`` for the current model version.

        Analysis results that depend only on (model, data) are cached here so that every
        widget bound to the session shares them.
        """
        full_key = (self.model_version, key)
        if full_key not in self._cache:
            self._cache[full_key] = compute()
        return self._cache[full_key]

    # -- rebinding --------------------------------------------------------------------
    def set_model(self, model: Any, *, response_method: str = "auto",
                  pos_label: Any = None) -> None:
        """Bind a new model to the same data; every widget bound to the session updates.

        Examples
        --------
        >>> import pandas as pd
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), task="regression")
        >>> s.set_model(lambda df: df["a"] * 3.0)
        >>> s.model_version, s.predictions().item()
        (1, 3.0)
        """
        is_function = not any(hasattr(model, m) for m in
                              ("predict_proba", "decision_function", "predict"))
        task = self.task if is_function else "auto"
        self.adapter = ModelAdapter.from_model(
            model, self._X, self._y, task=task, response_method=response_method,
            pos_label=self.adapter.pos_label if pos_label is None else pos_label)
        self.refresh()

    def refresh(self) -> None:
        """Drop cached predictions after the model was refitted in place, and notify widgets.

        Examples
        --------
        >>> import pandas as pd
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), task="regression")
        >>> s.refresh(); s.model_version
        1
        """
        self._cache.clear()
        self.model_version += 1

    def __repr__(self) -> str:
        return (f"DebugSession({type(self.model).__name__}, task={self.task!r}, "
                f"rows={len(self._X)}, features={self._X.shape[1]})")


def bind(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    sensitive_features: Any = None,
    task: str = "auto",
    response_method: str = "auto",
    pos_label: Any = None,
    schema: FeatureSchema | Mapping[str, Mapping[str, Any]] | None = None,
) -> DebugSession:
    """Bind a model to data and return the :class:`DebugSession` every widget shares.

    Parameters
    ----------
    model : estimator or callable
        A fitted scikit-learn estimator or Pipeline (anything with ``predict_proba``,
        ``decision_function`` or ``predict``), or a function ``f(DataFrame) -> array`` for
        xgboost, lightgbm, H2O, torch and other models.
    X : pandas.DataFrame or 2-D array
        The rows to debug, with the columns the model takes (extra columns are allowed for
        a fitted scikit-learn model and are not passed to it).
    y : array-like, default=None
        Labels aligned with ``X``.
    sensitive_features : str, list of str, Series or DataFrame, default=None
        Column names of ``X``, or values aligned with ``X`` (they need not be model inputs).
    task : {"auto", "binary", "multiclass", "regression"}, default="auto"
        The task; inferred from the estimator, or from a function's output and ``y``.
    response_method : {"auto", "predict_proba", "decision_function", "predict"}
        How to score a classifier; "auto" tries them in this order.
    pos_label : object, default=None
        The positive class for binary tasks (default: the last class).
    schema : FeatureSchema or mapping, default=None
        A schema, or overrides of the inferred one, e.g. ``{"AGE": {"mutable": False}}``.

    Returns
    -------
    DebugSession

    Raises
    ------
    BindError
        For input that cannot be bound; the message says how to fix it.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0]}); y = [0.0, 1.0, 4.0]
    >>> bind(DecisionTreeRegressor().fit(X, y), X, y).task
    'regression'
    """
    X = _as_frame(X, model)
    y = _as_target(y, X)
    sensitive = _as_sensitive(sensitive_features, X)
    adapter = ModelAdapter.from_model(model, X, y, task=task, response_method=response_method,
                                      pos_label=pos_label)
    if not isinstance(schema, FeatureSchema):
        schema = FeatureSchema.infer(X).override(schema or {})
    return DebugSession(adapter, X, y, sensitive, schema)


def _as_frame(X: Any, model: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        frame = X.copy()
    elif isinstance(X, np.ndarray | Sequence) and np.ndim(X) == 2:
        names = getattr(model, "feature_names_in_", None)
        if names is not None:
            raise BindError(E.X_NEEDS_COLUMNS.format(
                name=type(model).__name__, columns=list(names)))
        frame = pd.DataFrame(np.asarray(X))
    else:
        raise BindError(E.X_TYPE.format(type=type(X).__name__))
    if len(frame) == 0:
        raise BindError(E.X_EMPTY)
    if frame.columns.duplicated().any():
        raise BindError(E.X_DUPLICATE_COLUMNS.format(
            names=list(frame.columns[frame.columns.duplicated()])))
    if frame.index.has_duplicates:
        raise BindError(E.X_DUPLICATE_INDEX.format(
            labels=list(frame.index[frame.index.duplicated()][:3])))
    if not all(isinstance(c, str) for c in frame.columns) and getattr(
            model, "feature_names_in_", None) is None:
        frame.columns = [str(c) for c in frame.columns]
    return frame


def _as_target(y: Any, X: pd.DataFrame) -> pd.Series | None:
    if y is None:
        return None
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise BindError("y must be one column; pass the target as a Series.")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series):
        if len(y) != len(X):
            raise BindError(E.Y_LENGTH.format(n_x=len(X), n_y=len(y)))
        if not y.index.equals(X.index):
            raise BindError(E.Y_INDEX)
        return y.copy()
    values = np.asarray(y)
    if values.ndim != 1:
        raise BindError("y must be one-dimensional; pass one label per row of X.")
    if len(values) != len(X):
        raise BindError(E.Y_LENGTH.format(n_x=len(X), n_y=len(values)))
    return pd.Series(values.copy(), index=X.index, name="y")


def _as_sensitive(sensitive: Any, X: pd.DataFrame) -> pd.DataFrame | None:
    if sensitive is None:
        return None
    if isinstance(sensitive, str) or (
            isinstance(sensitive, Sequence) and all(isinstance(s, str) for s in sensitive)):
        names = [sensitive] if isinstance(sensitive, str) else list(sensitive)
        for name in names:
            if name not in X.columns:
                raise BindError(E.SENSITIVE_UNKNOWN.format(name=name))
        return X[names].copy()
    frame = sensitive.to_frame() if isinstance(sensitive, pd.Series) else pd.DataFrame(sensitive)
    if len(frame) != len(X):
        raise BindError(E.SENSITIVE_LENGTH.format(n_s=len(frame), n_x=len(X)))
    if isinstance(sensitive, pd.Series | pd.DataFrame) and not frame.index.equals(X.index):
        raise BindError(E.Y_INDEX.replace("y", "sensitive_features", 1))
    frame = frame.copy()
    frame.index = X.index
    return frame
