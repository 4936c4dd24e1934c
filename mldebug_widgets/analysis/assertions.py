"""Model assertions: business rules over inputs and predictions, on data, a row or a model.

A rule is ``condition -> action`` in a small parsed language (see ``_rules``; nothing is
evaluated as Python): ``AGE < 21 and prediction > 0.5 -> flag "young applicant high risk"``,
``PAY_AMT1 > LIMIT_BAL -> override 0.5``, ``prediction > 0.9 -> clip 0 0.9``.

Semantics shared by :func:`check_rules`, :func:`check_row` and :class:`RuleModel`:

- conditions are evaluated on the model's own prediction (so whether a rule fires does not
  depend on the other rules);
- a ``flag`` or ``override`` rule fires where its condition holds; a ``clip`` rule fires
  where its condition holds and the prediction lies outside its bounds (where it acts);
- overrides are applied in rule order (a later one wins), then clips in rule order;
- override and clip act on one score: the positive class's probability (binary) or the
  value (regression); for multiclass models rules can only flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..session import DebugSession
from ._rules import Rule, RuleSyntaxError, RuleTypeError, parse_rule, parse_rules
from ._rules_eval import Resolver, apply_actions, check_actions, condition_mask, rules_to_pytest

__all__ = ["AssertionResult", "Rule", "RuleModel", "RuleSyntaxError", "RuleTypeError",
           "check_row", "check_rules", "parse_rule", "parse_rules", "rules_to_pytest"]


@dataclass(frozen=True)
class AssertionResult:
    """Where each rule fires, and the predictions and metrics before and after the rules.

    Attributes
    ----------
    rules : tuple of Rule
        The parsed rules; rule ``i`` is column ``i`` of :attr:`fired`.
    fired : pandas.DataFrame
        Boolean, one row per checked row (index: row labels), one column per rule.
    predictions : numpy.ndarray
        The model's scores of the checked rows, shape ``(n, n_outputs)``.
    overridden : numpy.ndarray
        The scores after the overrides and clips (equal to ``predictions`` for flags).
    metrics : pandas.DataFrame
        Metric -> ``before``, ``after``, ``change`` (empty without labels): accuracy, AUC and
        log-loss for binary probabilities; RMSE and MAE for regression.
    task : str
        The session's task.

    Examples
    --------
    >>> import pandas as pd, mldebug_widgets as mdw
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    >>> s = mdw.bind(lambda df: df["a"] / 4, X, [0, 1, 0, 1], task="binary")
    >>> result = check_rules(s, "a >= 2 -> override 0.9")
    >>> result.violations(0).tolist(), result.overridden.ravel().tolist()
    ([2, 3], [0.0, 0.25, 0.9, 0.9])
    """

    rules: tuple[Rule, ...]
    fired: pd.DataFrame
    predictions: np.ndarray
    overridden: np.ndarray
    metrics: pd.DataFrame
    task: str

    def violations(self, rule: int | Rule) -> pd.Index:
        """Return the labels of the rows where ``rule`` (its number, or the Rule) fires."""
        i = self.rules.index(rule) if isinstance(rule, Rule) else int(rule)
        return self.fired.index[self.fired[i].to_numpy()]

    @property
    def counts(self) -> pd.Series:
        """Rows each rule fires on."""
        return self.fired.sum(axis=0).astype(np.int64)

    @property
    def shares(self) -> pd.Series:
        """Share of the checked rows each rule fires on."""
        return self.counts / max(len(self.fired), 1)

    @property
    def changed(self) -> np.ndarray:
        """Boolean per row: whether the overrides and clips changed its prediction."""
        return (self.overridden != self.predictions).any(axis=1)

    def by_row(self) -> pd.DataFrame:
        """Return the rows where any rule fires: the rules (numbers), flag messages, scores."""
        matrix = self.fired.to_numpy()
        hit = matrix.any(axis=1)
        sub = matrix[hit]
        if sub.shape[1] <= 62:  # one integer code per combination of rules: a fast unique
            codes = sub.astype(np.int64) @ (1 << np.arange(sub.shape[1], dtype=np.int64))
            _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
            patterns = sub[first]
        else:
            patterns, inverse = np.unique(sub, axis=0, return_inverse=True)
        numbers, messages = np.empty(len(patterns), object), np.empty(len(patterns), object)
        for j, pattern in enumerate(patterns):  # one per combination of rules, not per row
            numbers[j] = tuple(np.flatnonzero(pattern).tolist())
            messages[j] = "; ".join(self.rules[i].message for i in numbers[j]
                                    if self.rules[i].message)
        frame = pd.DataFrame({"rules": numbers[inverse.ravel()],
                              "messages": messages[inverse.ravel()]},
                             index=self.fired.index[hit])
        if self.predictions.shape[1] == 1:
            frame["prediction"], frame["overridden"] = (self.predictions[hit, 0],
                                                        self.overridden[hit, 0])
        return frame

    def to_frame(self) -> pd.DataFrame:
        """One row per rule: text, action, message, value or bounds, count and share."""
        return pd.DataFrame({
            "text": [r.text for r in self.rules], "action": [r.action for r in self.rules],
            "message": [r.message for r in self.rules],
            "value": [r.bounds if r.action == "clip" else r.value for r in self.rules],
            "count": self.counts.to_numpy(), "share": self.shares.to_numpy()},
            index=pd.RangeIndex(len(self.rules), name="rule"))

    def summary(self) -> str:
        """Return a few lines of text: each rule's count and share, then the metrics."""
        lines = [f"{len(self.rules)} rule(s) on {len(self.fired):,} rows; "
                 f"{int(self.changed.sum()):,} prediction(s) changed."]
        for i, rule in enumerate(self.rules):
            lines.append(f"  [{i}] {self.counts[i]:,} rows ({self.shares[i]:.1%}): {rule.text}")
        for name, row in self.metrics.iterrows():
            lines.append(f"  {name}: {row['before']:.4f} -> {row['after']:.4f}")
        return "\n".join(lines)


def _positions(session: DebugSession, rows: Any) -> np.ndarray | None:
    if rows is None:
        return None
    values = np.asarray(rows)
    if values.dtype == bool:
        if len(values) != len(session.X):
            raise ValueError(f"a boolean rows mask needs one value per row ({len(session.X)}); "
                             f"got {len(values)}.")
        return np.flatnonzero(values)
    positions = session.X.index.get_indexer(pd.Index(values))
    if (positions < 0).any():
        raise KeyError(f"rows {pd.Index(values)[positions < 0][:5].tolist()} are not in the "
                       "session's data; pass index labels of session.X or a boolean mask.")
    return positions


def _metrics(session: DebugSession, y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    kind = session.adapter.output_kind
    if session.task == "regression":
        return {"rmse": float(np.sqrt(skm.mean_squared_error(y, scores[:, 0]))),
                "mae": skm.mean_absolute_error(y, scores[:, 0])}
    if session.task == "binary":
        truth, p = (y == session.adapter.pos_label).astype(int), scores[:, 0]
        values = {"accuracy": skm.accuracy_score(truth, p >= (0 if kind == "decision" else 0.5))}
        if kind != "label":
            values["auc"] = skm.roc_auc_score(truth, p) if len(np.unique(truth)) == 2 else np.nan
        if kind == "probability":
            values["log_loss"] = skm.log_loss(truth, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])
        return values
    classes = np.asarray(session.output_names)
    values = {"accuracy": skm.accuracy_score(y, classes[scores.argmax(axis=1)])}
    if kind == "probability":
        values["log_loss"] = skm.log_loss(y, scores, labels=classes)
    return values


def _metrics_table(session: DebugSession, y: np.ndarray | None, before: np.ndarray,
                   after: np.ndarray, every_row: bool) -> pd.DataFrame:
    if y is None or len(y) == 0:
        return pd.DataFrame(columns=["before", "after", "change"], dtype=float)
    first = session.cached(("assertions.metrics",), lambda: _metrics(session, y, before)) \
        if every_row else _metrics(session, y, before)  # the model's own: once per version
    second = first if np.array_equal(before, after) else _metrics(session, y, after)
    frame = pd.DataFrame({"before": first, "after": second}).astype(float)
    return frame.assign(change=frame["after"] - frame["before"])


def check_rules(session: DebugSession, rules: Any, *, rows: Any = None) -> AssertionResult:
    """Apply rules to the session's rows at once (vectorised; no Python loop per row).

    Parameters
    ----------
    session : DebugSession
        The bound model and data; its cached predictions are used (no new model call).
    rules : str, Rule or list
        One rule per line of a text (``#`` comments), a parsed rule, or a list of both.
    rows : array-like, default=None
        Index labels or a boolean mask of the rows to check; default every row.

    Returns
    -------
    AssertionResult

    Raises
    ------
    RuleSyntaxError
        For a rule that does not parse or names an unknown feature (with ``.line``).
    ValueError
        For an override or clip on a multiclass model, or an override outside [0, 1] of a
        probability.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=1_000)
    >>> s = mdw.bind(mdw.datasets.demo_model(data, kind="logistic"), data.X, data.y)
    >>> result = check_rules(s, 'EDUCATION in (0, 5, 6) -> flag "undocumented code"')
    >>> int(result.counts[0]) == int(data.X["EDUCATION"].isin([0, 5, 6]).sum())
    True
    """
    parsed = parse_rules(rules, features=session.X)
    probability = session.adapter.output_kind == "probability"
    check_actions(parsed, session.task, probability)
    take = _positions(session, rows)
    labels = None if session.y is None else session.y.to_numpy()
    resolver = Resolver(session.X, scores=session.predictions(), names=session.output_names,
                        task=session.task, probability=probability,
                        classes=session.adapter.classes, labels=labels, take=take)
    masks = [condition_mask(rule, resolver) for rule in parsed]
    before = resolver.scores
    if session.task == "multiclass":
        after = before.copy()
        fired = np.column_stack(masks) if masks else np.zeros((resolver.n, 0), dtype=bool)
    else:
        score, fired = apply_actions(parsed, masks, before[:, 0])
        after = score[:, None]
    index = session.X.index if take is None else session.X.index[take]
    return AssertionResult(parsed, pd.DataFrame(fired, index=index), before, after,
                           _metrics_table(session, resolver.labels, before, after, take is None),
                           session.task)


def check_row(session: DebugSession, row_frame: pd.DataFrame, rules: Any, *,
              prediction: Any = None) -> list[Rule]:
    """Return the rules that fire on one (edited) row, for the what-if editor.

    Parameters
    ----------
    session : DebugSession
        The bound model; its labels are looked up by the row's index label (a row not in
        the data has a missing label).
    row_frame : pandas.DataFrame
        One row with the session's columns.
    rules : str, Rule or list
        As in :func:`check_rules`.
    prediction : array-like, default=None
        The row's scores if already known (the editor has them): no model call. Otherwise
        the row is predicted once, and only if a rule reads the prediction.

    Returns
    -------
    list of Rule
        The fired rules, in rule order.

    Examples
    --------
    >>> import pandas as pd, mldebug_widgets as mdw
    >>> s = mdw.bind(lambda df: df["a"] / 10, pd.DataFrame({"a": [1.0, 5.0]}), task="regression")
    >>> row = s.row(0).assign(a=9.0)
    >>> check_row(s, row, ["a > 8 -> flag 'big'", "prediction < 0.5 -> flag 'low'"])
    [Rule("a > 8 -> flag 'big'")]
    """
    if not isinstance(row_frame, pd.DataFrame) or len(row_frame) != 1:
        raise ValueError("row_frame must be a one-row DataFrame, e.g. session.row(label).")
    parsed = parse_rules(rules, features=session.X)
    probability = session.adapter.output_kind == "probability"
    check_actions(parsed, session.task, probability)
    if not parsed:
        return []
    if prediction is not None:
        scores = np.asarray(prediction, dtype=np.float64).reshape(1, -1)
    elif any(r.uses_prediction or r.action == "clip" for r in parsed):
        scores = session.predict(row_frame, check_finite=False)
    else:
        scores = np.full((1, len(session.output_names)), np.nan)
    labels = None if session.y is None else session.y.reindex(row_frame.index).to_numpy()
    resolver = Resolver(row_frame, scores=scores, names=session.output_names, task=session.task,
                        probability=probability, classes=session.adapter.classes, labels=labels)
    masks = [condition_mask(rule, resolver) for rule in parsed]
    fired = np.column_stack(masks) if session.task == "multiclass" else \
        apply_actions(parsed, masks, scores[:, 0])[1]
    return [rule for rule, hit in zip(parsed, fired[0], strict=True) if hit]


class RuleModel(BaseEstimator):
    """A model with rules applied to its predictions, as a scikit-learn estimator.

    ``predict_proba`` (binary: overrides and clips set the positive class's probability,
    column 0 is one minus it), ``decision_function`` (when the estimator has it but no
    ``predict_proba``: the rules act on the decision score) and ``predict`` follow the
    wrapped estimator; flags never change predictions (see :meth:`fired`). Bind it like any
    model: ``bind(RuleModel(model, rules).fit(X, y), X, y)``. The positive class is
    ``classes_[1]``.

    Parameters
    ----------
    estimator : estimator
        A fitted estimator is used as is (never refitted or copied); an unfitted one (e.g.
        after :func:`~sklearn.base.clone`) is cloned and fitted in :meth:`fit`.
    rules : str, Rule or list
        As in :func:`check_rules`; they may not read ``label``.
    features : list of str, default=None
        Known feature names to check the rules against; default the columns of ``X``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LinearRegression
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    >>> base = LinearRegression().fit(X, [0.0, 1.0, 2.0])
    >>> RuleModel(base, "a > 1.5 -> override 10").fit(X).predict(X).round(6).tolist()
    [0.0, 1.0, 10.0]
    """

    def __init__(self, estimator: Any, rules: Any, *, features: Any = None):
        self.estimator = estimator
        self.rules = rules
        self.features = features

    def __sklearn_tags__(self):  # noqa: D105 - the wrapped estimator's type (sklearn >= 1.6)
        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        try:
            inner = get_tags(self.estimator)
        except (AttributeError, TypeError):  # a duck-typed model without scikit-learn's tags
            return tags
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags, tags.regressor_tags = inner.classifier_tags, inner.regressor_tags
        return tags

    def fit(self, X: pd.DataFrame, y: Any = None) -> RuleModel:
        """Check the rules against ``X`` (and fit a clone of an unfitted estimator)."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("RuleModel reads features by name; pass X as a pandas DataFrame.")
        try:
            check_is_fitted(self.estimator)
            self.estimator_ = self.estimator
        except NotFittedError:
            self.estimator_ = clone(self.estimator).fit(X, y)
        except TypeError:  # not a scikit-learn estimator: trust it is fitted
            self.estimator_ = self.estimator
        rules = parse_rules(self.rules, features=X if self.features is None else self.features)
        if any(rule.uses_label for rule in rules):
            raise ValueError("a model does not see labels when it predicts; remove label from "
                             "the rules (check_rules can use it).")
        classes = getattr(self.estimator_, "classes_", None)
        self.task_ = "regression" if classes is None else "binary" if len(classes) == 2 \
            else "multiclass"
        self.method_ = "predict" if classes is None else next(
            m for m in ("predict_proba", "decision_function", "predict")
            if hasattr(self.estimator_, m))
        check_actions(rules, self.task_, self.method_ == "predict_proba")
        if classes is not None:
            self.classes_ = np.asarray(classes)
        names = getattr(self.estimator_, "feature_names_in_", None)
        self._model_columns = None if names is None else [str(c) for c in names]
        self.rules_ = rules
        return self

    def _evaluate(self, X: pd.DataFrame) -> tuple:
        """Return (raw output, the score per row, the score after the rules, fired matrix)."""
        check_is_fitted(self, "rules_")
        Xm = X if self._model_columns is None else X[self._model_columns]
        raw = np.asarray(getattr(self.estimator_, self.method_)(Xm))
        names: list = ["prediction"]
        if self.task_ == "multiclass":
            scores, names = raw.astype(float), list(self.classes_)
            if self.method_ == "predict":
                scores = (raw[:, None] == self.classes_[None, :]).astype(float)
        elif self.task_ == "binary":
            names = [self.classes_[1]]
            scores = (raw == self.classes_[1]).astype(float) if self.method_ == "predict" \
                else raw[:, 1] if raw.ndim == 2 else raw
            scores = np.asarray(scores, dtype=float)[:, None]
        else:
            scores = raw.astype(float).reshape(len(X), 1)
        resolver = Resolver(X, scores=scores, names=names, task=self.task_,
                            probability=self.method_ == "predict_proba", classes=getattr(
                                self, "classes_", None))
        masks = [condition_mask(rule, resolver) for rule in self.rules_]
        if self.task_ == "multiclass":
            fired = np.column_stack(masks) if masks else np.zeros((len(X), 0), dtype=bool)
            return raw, scores[:, 0], scores[:, 0], fired
        score, fired = apply_actions(self.rules_, masks, scores[:, 0])
        return raw, scores[:, 0], score, fired

    def fired(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return where each rule fires on ``X``: boolean, one column per rule."""
        return pd.DataFrame(self._evaluate(X)[3], index=X.index)

    @available_if(lambda self: hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return the estimator's probabilities with the rules applied (binary)."""
        raw, base, score, _ = self._evaluate(X)
        out = np.array(raw, dtype=np.float64)
        if self.task_ == "binary":
            changed = score != base
            out[changed, 1], out[changed, 0] = score[changed], 1.0 - score[changed]
        return out

    @available_if(lambda self: hasattr(self.estimator, "decision_function")
                  and not hasattr(self.estimator, "predict_proba"))
    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Return the estimator's decision scores with the rules applied (binary)."""
        raw, _, score, _ = self._evaluate(X)
        return score if self.task_ == "binary" else raw

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return predictions: rule-changed scores decide their rows, the estimator the rest."""
        _, base, score, _ = self._evaluate(X)
        if self.task_ == "regression":
            return score
        Xm = X if self._model_columns is None else X[self._model_columns]
        labels = np.asarray(self.estimator_.predict(Xm)).copy()
        if self.task_ == "binary":
            changed = score != base
            threshold = 0.0 if self.method_ == "decision_function" else 0.5
            labels[changed] = self.classes_[(score[changed] >= threshold).astype(int)]
        return labels

    def score(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> float:
        """Return the accuracy (classifier) or R² (regressor) of :meth:`predict`."""
        check_is_fitted(self, "rules_")
        metric = skm.r2_score if self.task_ == "regression" else skm.accuracy_score
        return float(metric(y, self.predict(X), sample_weight=sample_weight))
