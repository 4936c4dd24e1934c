"""Discrimination remediation: reweighing for a refit, per-group thresholds as an estimator.

``reweighing_weights`` (Kamiran & Calders, 2012) makes group and label independent in the
weighted training data; ``GroupThresholdClassifier`` wraps a fitted classifier and applies
one decision threshold per group, so a remediation found in the fairness slicer can be
exported, re-bound to a session and compared before/after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..session import DebugSession
from ._fairness_groups import MISSING, Bins, bin_labels, group_edges, sensitive_groups


def _group_keys(groups: Any) -> np.ndarray:
    """One hashable key per row: the value, or a tuple of values for several columns."""
    if isinstance(groups, pd.DataFrame):
        if groups.shape[1] == 1:
            return groups.iloc[:, 0].to_numpy(dtype=object)
        return np.array(list(zip(*(groups[c].to_numpy(dtype=object) for c in groups),
                                 strict=True)) + [None], dtype=object)[:-1]
    return np.asarray(groups, dtype=object)


def reweighing_weights(groups: Any, y: Any) -> np.ndarray:
    """Sample weights that make group membership and label independent (Kamiran & Calders).

    Each row of group ``g`` and label ``c`` gets ``P(g) · P(c) / P(g, c)``: combinations
    that are rarer than independence would predict weigh more. Refit with
    ``model.fit(X, y, sample_weight=weights)`` (for a Pipeline,
    ``**{"<step>__sample_weight": weights}``).

    Parameters
    ----------
    groups : array-like or DataFrame
        The group of each row (several columns: their intersection).
    y : array-like
        The labels.

    Returns
    -------
    numpy.ndarray
        One weight per row; the weights sum to the number of rows.

    Examples
    --------
    >>> reweighing_weights(["a", "a", "a", "b"], [1, 1, 0, 0]).round(3).tolist()
    [0.75, 0.75, 1.5, 0.5]
    """
    keys = _group_keys(groups)
    labels = np.asarray(y)
    if len(keys) != len(labels):
        raise ValueError(f"groups has {len(keys)} rows but y has {len(labels)}; align them.")
    group_codes, group_index = pd.factorize(pd.Series(keys, dtype=object))
    label_codes, label_index = pd.factorize(pd.Series(labels))
    n = len(labels)
    joint = np.zeros((len(group_index), len(label_index)))
    np.add.at(joint, (group_codes, label_codes), 1.0)
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True) / n
    ratio = np.divide(expected, joint, out=np.zeros_like(joint), where=joint > 0)
    return ratio[group_codes, label_codes]  # empty cells have no rows to weigh


class GroupThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier with one decision threshold per group.

    ``predict_proba`` is the wrapped model's; ``predict`` says positive when the positive
    class's probability is at least the row's group threshold. Rows of a group without a
    threshold use ``default_threshold``. Groups are read from ``group_columns`` of the input
    frame, so those columns must be in ``X`` (they are passed on to the model only if it was
    fitted on them).

    Parameters
    ----------
    estimator : fitted classifier
        A binary classifier with ``predict_proba`` and ``classes_``.
    thresholds : mapping
        Group value (a tuple for several columns) -> threshold.
    group_columns : str or list of str
        The column(s) of ``X`` that define the group.
    default_threshold : float, default=0.5
        For groups not in ``thresholds``.
    reject_band : float, default=0.0
        Reject-option classification: within ``±reject_band`` of the threshold the
        unprivileged groups (``favoured_groups``) get the favourable label.
    favoured_groups : sequence, default=()
        Groups that get the favourable label inside the reject band.
    favourable_label : object, default=None
        The favourable class (default: the negative class, e.g. "no default").
    bins : mapping, default=None
        Column -> bin edges for numeric group columns: rows are grouped by their bin label
        (``"[0, 30)"``), as the fairness slicer groups them. Missing values are the group
        ``"missing"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "g": ["a", "b", "a", "b"]})
    >>> base = LogisticRegression().fit(X[["x"]], [0, 0, 1, 1])
    >>> clf = GroupThresholdClassifier(base, {"a": 0.9, "b": 0.1}, "g").fit(X, [0, 0, 1, 1])
    >>> clf.predict(X).tolist()
    [0, 1, 0, 1]
    """

    def __init__(self, estimator: Any, thresholds: Mapping[Any, float],
                 group_columns: str | Sequence[str], *, default_threshold: float = 0.5,
                 reject_band: float = 0.0, favoured_groups: Sequence[Any] = (),
                 favourable_label: Any = None, bins: Mapping[str, Sequence[float]] | None = None):
        self.estimator = estimator
        self.thresholds = thresholds
        self.group_columns = group_columns
        self.default_threshold = default_threshold
        self.reject_band = reject_band
        self.favoured_groups = favoured_groups
        self.favourable_label = favourable_label
        self.bins = bins

    def fit(self, X: pd.DataFrame, y: Any = None) -> GroupThresholdClassifier:
        """Check the wrapped estimator is a fitted binary classifier (nothing is refitted)."""
        check_is_fitted(self.estimator)
        classes = np.asarray(self.estimator.classes_)
        if len(classes) != 2:
            raise ValueError(f"per-group thresholds need a binary classifier; the estimator "
                             f"has classes {classes.tolist()}.")
        self.classes_ = classes
        names = getattr(self.estimator, "feature_names_in_", None)
        self._model_columns = None if names is None else list(names)
        return self

    def _model_input(self, X: pd.DataFrame) -> pd.DataFrame:
        return X if self._model_columns is None else X[self._model_columns]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return the wrapped estimator's probabilities (thresholds change decisions only)."""
        check_is_fitted(self, "classes_")
        return self.estimator.predict_proba(self._model_input(X))

    def group_keys(self, X: pd.DataFrame) -> np.ndarray:
        """Return each row's group key (a tuple for several columns), binned as configured."""
        columns = [self.group_columns] if isinstance(self.group_columns, str) \
            else list(self.group_columns)
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the group column(s) {missing}; pass them with X.")
        bins = dict(self.bins or {})
        labelled = pd.DataFrame({
            c: bin_labels(X[c], bins[c]) if c in bins
            else X[c].astype(object).where(X[c].notna(), MISSING) for c in columns},
            index=X.index)
        return _group_keys(labelled)

    def row_thresholds(self, X: pd.DataFrame) -> np.ndarray:
        """Return the threshold applied to each row of ``X``."""
        table = dict(self.thresholds)
        return np.array([table.get(k, self.default_threshold) for k in self.group_keys(X)],
                        dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Positive when P(positive) ≥ the row's group threshold (with the reject option)."""
        p = self.predict_proba(X)[:, 1]
        thresholds = self.row_thresholds(X)
        positive = p >= thresholds
        if self.reject_band > 0 and len(self.favoured_groups):
            keys = self.group_keys(X)
            chosen = set(self.favoured_groups)
            favoured = np.fromiter((k in chosen for k in keys), dtype=bool, count=len(keys))
            uncertain = np.abs(p - thresholds) <= self.reject_band
            favourable = self.classes_[0] if self.favourable_label is None \
                else self.favourable_label
            positive = np.where(favoured & uncertain, favourable == self.classes_[1], positive)
        return np.where(positive, self.classes_[1], self.classes_[0])


def threshold_classifier(session: DebugSession, thresholds: Mapping[Any, float], *,
                         sensitive_features: Any = None, bins: Bins = None,
                         max_categories: int = 10, reject_band: float = 0.0,
                         favoured_groups: Sequence[Any] = ()) -> GroupThresholdClassifier:
    """Export per-group thresholds of a session as a fitted :class:`GroupThresholdClassifier`.

    The groups are those of the fairness metrics (same sensitive features, same bins), read
    back from the raw columns of ``X``: a binned AGE group ``"[0, 30)"`` becomes the rule
    ``0 <= AGE < 30``. Re-bind the result with ``response_method="predict"`` to see its
    decisions in every widget.

    Parameters
    ----------
    session : DebugSession
        A binary classifier session whose sensitive features are columns of ``X``.
    thresholds : mapping
        Group (a tuple for intersections) -> threshold, e.g. a
        :class:`~mldebug_widgets.analysis.ThresholdPlan`'s ``thresholds``.
    sensitive_features, bins, max_categories
        The grouping, as in :func:`~mldebug_widgets.analysis.group_metrics`.
    reject_band, favoured_groups
        The reject option, see :class:`GroupThresholdClassifier`.

    Returns
    -------
    GroupThresholdClassifier
        Fitted (nothing is refitted: the wrapped model is the session's).

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> s = mdw.bind(model, data.X, data.y, sensitive_features=["AGE"])
    >>> clf = threshold_classifier(s, {"[0, 30)": 0.4}, bins={"AGE": [0, 30, 200]})
    >>> clf.row_thresholds(data.X.head(3)).tolist() == [
    ...     0.4 if a < 30 else 0.5 for a in data.X["AGE"].head(3)]
    True
    """
    if session.task != "binary":
        raise ValueError(f"per-group thresholds need a binary classifier; the session's task "
                         f"is {session.task}.")
    edges = group_edges(session, sensitive_features, bins=bins, max_categories=max_categories)
    absent = [name for name in edges if name not in session.X.columns]
    if absent:
        raise ValueError(f"the sensitive feature(s) {absent} are not columns of X, and the "
                         "exported classifier reads each row's group from X; bind X with "
                         "those columns (the model may ignore them) to export thresholds.")
    columns = list(edges)
    return GroupThresholdClassifier(
        session.model, dict(thresholds), columns[0] if len(columns) == 1 else columns,
        reject_band=reject_band, favoured_groups=tuple(favoured_groups),
        bins={c: e.tolist() for c, e in edges.items() if e is not None} or None,
    ).fit(session.X, session.y)


def reweighed_refit(session: DebugSession, *, model: Any = None, sensitive_features: Any = None,
                    bins: Bins = None, max_categories: int = 10) -> Any:
    """Refit a clone of the session's model on its data with reweighing sample weights.

    The weights (:func:`reweighing_weights`) make the groups of the sensitive features and
    the label independent. The model is refitted on the bound ``X`` and ``y`` (bind training
    data to remediate a model, held-out data to judge the result).

    Parameters
    ----------
    session : DebugSession
        A classifier session with labels and sensitive features.
    model : estimator, default=None
        The (unfitted or fitted) estimator to clone; default the session's model.
    sensitive_features, bins, max_categories
        The grouping, as in :func:`~mldebug_widgets.analysis.group_metrics`.

    Returns
    -------
    estimator
        A fitted clone of the model; the session's model is untouched.

    Raises
    ------
    ValueError
        When the model cannot be cloned or its ``fit`` takes no ``sample_weight``.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> s = mdw.bind(model, data.X, data.y, sensitive_features=["SEX"])
    >>> refit = reweighed_refit(s)
    >>> refit is not model and refit.predict_proba(data.X).shape == (2_000, 2)
    True
    """
    if session.y is None:
        raise ValueError("reweighing needs the true labels: bind the model with y.")
    groups = sensitive_groups(session, sensitive_features, bins=bins,
                              max_categories=max_categories)
    weights = reweighing_weights(groups, session.y)
    try:
        model = clone(session.model if model is None else model)
    except TypeError as exc:
        raise ValueError(f"the model cannot be cloned for a refit ({exc}); refit it yourself "
                         "with sample_weight=mdw.analysis.reweighing_weights(groups, y).") from exc
    last = model.steps[-1][0] if isinstance(model, Pipeline) else None
    key = "sample_weight" if last is None else f"{last}__sample_weight"
    try:
        return model.fit(session.X, session.y, **{key: weights})
    except TypeError as exc:
        raise ValueError(f"{type(model).__name__}.fit takes no sample_weight ({exc}); "
                         "reweighing needs a model that accepts sample weights.") from exc
