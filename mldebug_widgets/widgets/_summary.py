"""SessionSummary: the dashboard's header (model, data, metrics, selection, what was flagged)."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import numpy as np
from sklearn import metrics as skm

from ..analysis import residuals
from ..analysis.attack import AttackResult
from ..analysis.flip import FlipResult
from ..session import DebugSession
from ._common import format_score, target_name
from ._editors import same
from ._fairness_views import BAND
from ._fairness_views import name as group_name
from .adversarial import MODE_LABELS

#: cohorts smaller than this are not summarised in an aggregates-only (shared) dashboard
MIN_SHARED_COHORT = 10
#: a residual is an outlier when its size is in the top ``OUTLIER_SHARE`` of all rows
OUTLIER_SHARE = 0.01
METRIC_LABELS = {"accuracy": "accuracy", "roc_auc": "ROC AUC", "log_loss": "log-loss",
                 "rmse": "RMSE", "mae": "MAE", "r2": "R²"}


def headline_metrics(session: DebugSession) -> dict[str, float]:
    """Return the session's headline metrics on the bound rows (cached per model version).

    Binary: accuracy (score ≥ 0.5 for probabilities and decisions already made, ≥ 0 for
    decision scores), ROC AUC (not for a model that outputs decisions) and log-loss (for
    probabilities); multiclass: accuracy and log-loss; regression: RMSE, MAE and R². All are
    scikit-learn's, on ``session.predictions()``: no predict call once those are cached.

    Parameters
    ----------
    session : DebugSession
        A session with labels.

    Returns
    -------
    dict
        Metric name -> value; empty without labels.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}); y = pd.Series([0, 0, 1, 1])
    >>> model = LogisticRegression().fit(X, y)
    >>> m = headline_metrics(bind(model, X, y))
    >>> sorted(m), m["accuracy"] == model.score(X, y)
    (['accuracy', 'log_loss', 'roc_auc'], True)
    """
    if session.y is None:
        return {}
    return dict(session.cached("summary-metrics", lambda: _metrics(session)))


def _metrics(session: DebugSession) -> dict[str, float]:
    scores, truth = session.predictions(), session.y.to_numpy()
    kind, adapter = session.adapter.output_kind, session.adapter
    if session.task == "regression":
        truth, predicted = truth.astype(np.float64), scores[:, 0]
        return {"rmse": float(skm.root_mean_squared_error(truth, predicted)),
                "mae": float(skm.mean_absolute_error(truth, predicted)),
                "r2": float(skm.r2_score(truth, predicted))}
    if session.task == "multiclass":
        out = {"accuracy": float(skm.accuracy_score(
            truth, adapter.classes[np.argmax(scores, axis=1)]))}
        if kind == "probability":
            out["log_loss"] = float(skm.log_loss(truth, scores, labels=list(adapter.classes)))
        return out
    positive = truth == adapter.pos_label
    score = scores[:, 0]
    out = {"accuracy": float(skm.accuracy_score(
        positive, score >= (0.0 if kind == "decision" else 0.5)))}
    if kind != "label" and 0 < positive.sum() < len(positive):
        out["roc_auc"] = float(skm.roc_auc_score(positive, score))
    if kind == "probability":
        out["log_loss"] = float(skm.log_loss(positive, score, labels=[False, True]))
    return out


def describe_model(model: Any) -> str:
    """Name a model: its class, and a pipeline's steps.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> describe_model(make_pipeline(StandardScaler(), LogisticRegression()))
    'Pipeline (standardscaler: StandardScaler → logisticregression: LogisticRegression)'
    """
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        return f"{type(model).__name__} (" + " → ".join(
            f"{step}: {type(est).__name__}" for step, est in steps) + ")"
    if not any(hasattr(model, m) for m in ("predict_proba", "decision_function", "predict")):
        return f"function {getattr(model, '__name__', type(model).__name__)}"
    return type(model).__name__


class SessionSummary(w.VBox):
    """The dashboard's header: what is bound, how well it does, what is selected and flagged.

    It updates on the session's traits (``model_version``, ``selected_rows``, ``focus_row``)
    and on the panels it is given; nothing here calls the model (the metrics and residuals
    come from the session's cache).

    Parameters
    ----------
    session : DebugSession
        The shared session.
    slicer : FairnessSlicer, default=None
        Its group table's flagged ratios and its worst slice are reported.
    search : AdversarialSearch, default=None
        The last search's most striking find is reported when a search ends.
    aggregates_only : bool, default=False
        Show no row-level information: no focused row, and no summary of cohorts under
        ``MIN_SHARED_COHORT`` rows.

    Attributes
    ----------
    metrics : dict
        The headline metrics shown (:func:`headline_metrics`).
    flags : dict
        Tool (``"fairness"``, ``"slices"``, ``"adversarial"``, ``"residuals"``) -> what is
        flagged for it (plain text). The fairness and residual lines follow the current
        table and selection; the adversarial line keeps the last search's find.
    model_, metrics_, selection_, flags_ : ipywidgets.HTML
        The four lines (CSS classes ``mld-summary-model``, ``-metrics``, ``-selection``,
        ``-flags``).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]}); y = pd.Series([0, 1, 0, 1])
    >>> session = bind(LogisticRegression().fit(X, y), X, y)
    >>> header = SessionSummary(session)
    >>> session.selected_rows = (1, 3)
    >>> "2</span> rows selected" in header.selection_.value
    True
    """

    def __init__(self, session: DebugSession, *, slicer: Any = None, search: Any = None,
                 aggregates_only: bool = False):
        super().__init__(layout=w.Layout(border="1px solid #d0d0d0", padding="2px 12px",
                                         margin="0 0 8px 0"))
        self.add_class("mld-summary")
        self.session, self.slicer, self.search = session, slicer, search
        self.aggregates_only = aggregates_only
        self.metrics: dict[str, float] = {}
        self.flags: dict[str, str] = {}
        self.model_, self.metrics_ = w.HTML(), w.HTML()
        self.selection_, self.flags_ = w.HTML(), w.HTML()
        for part, css in ((self.model_, "model"), (self.metrics_, "metrics"),
                          (self.selection_, "selection"), (self.flags_, "flags")):
            part.add_class(f"mld-summary-{css}")
        self.children = [self.model_, self.metrics_, self.selection_, self.flags_]
        session.observe(self._on_model, "model_version")
        session.observe(self._on_selection, "selected_rows")
        session.observe(lambda _: self._render_selection(), "focus_row")
        if slicer is not None:  # the slicer re-renders its table on every change that matters
            slicer.table_.observe(lambda _: self._flag_fairness(), "value")
            slicer.slices_list_.observe(lambda _: self._flag_slices(), "options")
        if search is not None:
            search.observe(self._on_search, "running")
        self._on_model()

    # -- sections ------------------------------------------------------------------------
    def _on_model(self, _change: dict | None = None) -> None:
        s = self.session
        find = self.flags.get("adversarial", "")
        if _change is not None and find and not find.startswith("with the previous model"):
            self.flags["adversarial"] = f"with the previous model: {find}"
        sensitive = "" if s.sensitive_features is None else \
            " · sensitive: " + ", ".join(map(str, s.sensitive_features.columns))
        task = s.task + (f" (positive class {s.adapter.pos_label})" if s.task == "binary"
                         else "")
        label = "no labels" if s.y is None else f"label {target_name(s)}"
        self.model_.value = (
            f"<b>Model</b> {html.escape(describe_model(s.model))} · <b>task</b> "
            f"{html.escape(task)}, scored by {html.escape(s.adapter.output_kind)} · "
            f"<b>data</b> {len(s.X):,} rows × {len(s.features)} features · "
            f"{html.escape(label)}{html.escape(sensitive)}")
        self.metrics = headline_metrics(s)
        if self.metrics:
            cells = " · ".join(f"{METRIC_LABELS[k]} <b class='mld-metric-{k}'>{v:.4f}</b>"
                               for k, v in self.metrics.items())
            self.metrics_.value = f"<b>On the {len(s.X):,} bound rows:</b> {cells}"
        else:
            self.metrics_.value = "<b>Metrics:</b> bind the labels (y) to see them"
        self._on_selection()
        self._flag_fairness()
        self._flag_slices()

    def _on_selection(self, _change: dict | None = None) -> None:
        self._render_selection()
        self._flag_residuals()

    def _render_selection(self) -> None:
        s = self.session
        text = (f"<b>Selected:</b> <span class='mld-summary-selected'>"
                f"{len(s.selected_rows):,}</span> rows selected")
        if not self.aggregates_only and s.focus_row is not None:
            try:
                position = s.position(s.focus_row)
            except KeyError:
                position = None
            if position is not None:
                score = s.predictions()[position]
                scores = ", ".join(f"{html.escape(format_score(s, n))} = {v:.4f}"
                                   for n, v in zip(s.output_names, score, strict=True))
                truth = "" if s.y is None else \
                    f" · label {html.escape(str(s.y.iloc[position]))}"
                text += (f" · <b>focused row</b> <span class='mld-summary-focus'>"
                         f"{html.escape(str(s.focus_row))}</span>{truth} · {scores}")
        self.selection_.value = text

    def _flag_fairness(self) -> None:
        table = None if self.slicer is None else self.slicer.table
        if table is None:
            self._set_flag("fairness", "")
            return
        lo, hi = BAND
        names = {"air": "AIR", "disparity": f"{self.slicer.metric} ratio"}
        parts = []
        for column, title in names.items():
            if column not in table:
                continue
            ratio = table[column].iloc[:-1]  # the last row is "overall", not compared
            bad = ratio[(ratio < lo) | (ratio > hi)]
            if len(bad):
                groups = ", ".join(f"{group_name(g)} ({v:.2f})" for g, v in bad.items())
                parts.append(f"{title} outside {lo}–{hi}: {groups}")
        by = " & ".join(map(str, self.slicer.features))
        reference = group_name(self.slicer.reference)
        self._set_flag("fairness", (f"groups by {by} (reference {reference}): "
                                    + "; ".join(parts)) if parts else "")

    def _flag_slices(self) -> None:
        slices = None if self.slicer is None else self.slicer.slices_
        if slices is None or not len(slices.table):
            self._set_flag("slices", "")
            return
        top = slices.table.iloc[0]
        self._set_flag("slices", (
            f"worst slice {top['slice']}: error {top['error']:.3f} on "
            f"{int(top['size']):,} rows (average {slices.average_error:.3f})"))

    def _flag_residuals(self) -> None:
        s = self.session
        n = len(s.selected_rows)
        if s.y is None or n == 0 or (self.aggregates_only and n < MIN_SHARED_COHORT):
            self._set_flag("residuals", "")
            return
        values = residuals(s)
        size = np.abs(values.to_numpy())
        cut = s.cached("summary-outlier-cut", lambda: float(np.quantile(size, 1 - OUTLIER_SHARE)))
        positions = s.X.index.get_indexer(list(s.selected_rows))
        positions = positions[positions >= 0]
        outliers = int((size[positions] >= cut).sum())
        self._set_flag("residuals", (
            f"selected cohort: {n:,} rows, mean {values.name} "
            f"{np.nanmean(values.to_numpy()[positions]):.3g} (all rows "
            f"{np.nanmean(values.to_numpy()):.3g}); {outliers:,} of them among the top "
            f"{OUTLIER_SHARE:.0%} of residuals (|residual| ≥ {cut:.3g})"))

    def _on_search(self, change: dict) -> None:
        if change["new"]:  # a search started; its find is reported when it ends
            return
        try:
            text = self._striking_find()
        except Exception as exc:  # a header never breaks the search's thread
            text = f"could not summarise the search: {type(exc).__name__}: {exc}"
        if text:
            self._set_flag("adversarial", text)

    def _striking_find(self) -> str:
        search, s = self.search, self.session
        result, found = search.result_, search.found_
        if result is None:
            return ""
        if isinstance(result, AttackResult):
            lo, hi = result.prediction_range
            skipped = f" ({result.n_skipped:,} not scored)" if result.n_skipped else ""
            return (f"random attack: {result.n_rows - result.n_skipped:,} random rows scored"
                    f"{skipped} from {lo:.4g} to "
                    f"{hi:.4g} (with missing values {result.range_with_missing[0]:.4g} to "
                    f"{result.range_with_missing[1]:.4g}); {result.n_nonfinite:,} non-finite")
        mode = MODE_LABELS["flip" if isinstance(result, FlipResult) else
                           getattr(result, "objective", "grid")]
        base = search.prototype
        if not len(found):
            return f"{mode} around row {base}: nothing found"
        output = search.output_.value
        k = list(s.output_names).index(output)
        before = float(s.predictions()[s.position(base), k])
        row, original = found.iloc[0], s.row(base).iloc[0]
        changed = [f for f in s.features if not same(row[f], original[f])]
        return (f"{mode} around row {base}: {format_score(s, output)} = "
                f"{row['prediction']:.4f} (prototype {before:.4f}), changing "
                f"{', '.join(changed) or 'nothing'}")

    def _set_flag(self, tool: str, text: str) -> None:
        if text:
            self.flags[tool] = text
        else:
            self.flags.pop(tool, None)
        items = "".join(f"<li class='mld-flag-{tool}'><b>{tool}</b>: {html.escape(text)}</li>"
                        for tool, text in self.flags.items())
        self.flags_.value = ("<b>Flagged so far:</b>" + (f"<ul>{items}</ul>" if items else
                                                          " nothing yet"))
