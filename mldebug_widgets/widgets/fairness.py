"""FairnessSlicer: group metrics, disparities and per-group thresholds, and the worst slices."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets

from ..analysis import (
    cohort_table,
    disparity,
    group_metrics,
    threshold_sweep,
    tradeoff,
    wilson_interval,
    worst_air,
)
from ..analysis.fairness import RATES
from ..session import DebugSession
from . import _fairness_views as views
from ._common import as_session
from ._fairness_remediation import _Remediation
from ._fairness_slices import _WorstSlices


class FairnessSlicer(_Remediation, _WorstSlices, w.VBox):
    """Error and outcome metrics across groups, with thresholds you can move per group.

    Choose the sensitive features (several: their intersection) and the reference group;
    the table shows every group's metrics, the chart metric's 95 % Wilson interval, and the
    ratios to the reference, flagged outside (0.8, 1.25). For a binary classifier a threshold
    move is a lookup in a precomputed sweep (no predict call); the trade-off chart places the
    current thresholds and the optimiser's plan against one shared threshold; the thresholds
    can be applied as a post-processor (or the model refitted with reweighing) and compared
    before/after. Multiclass sessions show one class at a time (one-vs-rest), regression
    sessions their error metrics. The worst slices (up to three predicates) are found on
    demand; picking one publishes its rows as ``session.selected_rows``.

    Parameters
    ----------
    session : DebugSession or model
        A session with labels and sensitive features (or a model with X, y).
    X, y : optional
        Data to bind when a model is passed.
    bins : dict, default=None
        Bin edges for numeric sensitive features, e.g. ``{"AGE": [0, 30, 200]}``.
    favourable : {"negative", "positive"}, default="negative"
        Which predicted outcome is favourable for AIR (negative = not flagged).
    min_support : int, default=30
        Groups with fewer rows are marked unreliable.
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    features : tuple of str
        The sensitive features grouped on (several: their intersection).
    reference : object
        The reference group (default: the largest).
    threshold : float
        The global threshold (moving it resets every group's threshold).
    group_thresholds : tuple of float
        One threshold per group (binary).
    metric : str
        The metric whose disparity the chart shows.
    table : pandas.DataFrame
        The group table on display (with ``air`` and ``disparity`` columns).
    before_ : pandas.DataFrame or None
        The table before the last model change (a post-processor, refit or any new model).
    cohort_table : pandas.DataFrame or None
        The group table of ``session.selected_rows`` (a brushed cohort or a slice) at the
        same thresholds, shown under the main table.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=3_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> slicer = mdw.FairnessSlicer(model, data.X, data.y, sensitive_features=["SEX"])
    >>> slicer.threshold = 0.3
    >>> int(slicer.table.loc["overall", "count"])
    3000
    """

    features = traitlets.Tuple(help="sensitive features grouped on")
    reference = traitlets.Any(None, allow_none=True, help="reference group")
    threshold = traitlets.Float(0.5, help="global threshold")
    group_thresholds = traitlets.Tuple(help="one threshold per group")
    metric = traitlets.Unicode("fpr", help="metric of the disparity chart")

    def __init__(self, session: Any, X: Any = None, y: Any = None, *,
                 bins: dict | None = None, favourable: str = "negative",
                 min_support: int = 30, **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-fairness")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        s = self.session
        if s.y is None:
            raise ValueError("the fairness slicer needs the true labels: bind the model with "
                             "y, e.g. mdw.bind(model, X, y, sensitive_features=['SEX']).")
        if s.sensitive_features is None:
            raise ValueError("no sensitive features are bound; bind them with mdw.bind(model, "
                             "X, y, sensitive_features=['SEX', 'AGE']).")
        self.bins, self.favourable, self.min_support = bins, favourable, min_support
        self.binary = s.task == "binary"
        self.slices_, self.plan_, self.before_ = None, None, None
        self.table: pd.DataFrame | None = None
        self.cohort_table: pd.DataFrame | None = None
        self.before_label_, self._next_label = "", ""
        self._original = (s.model, s.adapter.response_method)
        self._thread: threading.Thread | None = None
        self._moving_all = False
        self._groups: tuple = (None, [])
        self._build()
        self.features = tuple(s.sensitive_features.columns)
        self.observe(self._on_features, "features")
        self.observe(self._on_threshold, "threshold")
        self.observe(self._render, names=["group_thresholds", "metric", "reference"])
        s.observe(self._on_model, "model_version")
        s.observe(lambda _: self._render_cohort(), "selected_rows")
        s.observe(self._on_selected, "selected_rows")
        self._on_model()

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.session
        names = list(s.sensitive_features.columns)
        self.features_select_ = w.SelectMultiple(options=names, value=tuple(names),
                                                 rows=min(len(names), 4),
                                                 description="groups by")
        self.features_select_.add_class("mld-features")
        self.features_select_.observe(self._on_features_select, "value")
        self.reference_select_ = w.Dropdown(description="reference")
        self.reference_select_.observe(self._on_reference_select, "value")
        self.class_select_ = w.Dropdown(options=list(s.output_names) if s.task == "multiclass"
                                        else [], description="class",
                                        layout=w.Layout(display=None if s.task == "multiclass"
                                                        else "none"))
        self.class_select_.observe(lambda _: self._on_model(), "value")
        metrics = [m for m in views.SHOWN[s.task] if m != "count"]
        self.metric = "fpr" if "fpr" in metrics else metrics[0]
        self.metric_select_ = w.Dropdown(options=metrics, value=self.metric, description="chart")
        traitlets.link((self.metric_select_, "value"), (self, "metric"))
        self.threshold_slider_ = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01,
                                               description="threshold", readout_format=".2f",
                                               layout=w.Layout(width="360px"))
        self.threshold_slider_.add_class("mld-threshold")
        traitlets.link((self.threshold_slider_, "value"), (self, "threshold"))
        self.message_ = w.HTML()
        self.message_.add_class("mld-message")
        self.table_ = w.HTML()
        self.table_.add_class("mld-fairness-table")
        self.cohort_ = w.HTML()
        self.cohort_.add_class("mld-cohort")
        self.chart = views.DisparityChart()
        self.tradeoff = views.TradeoffChart()
        self.chart_, self.tradeoff_ = self.chart.figure, self.tradeoff.figure
        self.group_sliders_ = w.VBox()
        self._build_remediation()
        self._build_slices()
        thresholds = [
            self.tradeoff_, w.HTML("<b>Per-group thresholds</b>"),
            w.HBox([self.objective_, self.optimise_button_]), self.plan_note_,
            self.group_sliders_, w.HTML("<b>Remediation</b> (re-binds the session's model)"),
            w.HBox([self.apply_button_, self.refit_button_, self.restore_button_]),
        ] if self.binary else []
        charts = w.HBox([self.chart_, *thresholds[:1]], layout=w.Layout(width="100%"))
        self.children = [
            w.HBox([self.features_select_, w.VBox([self.reference_select_, self.class_select_,
                                                   self.metric_select_])]),
            *([self.threshold_slider_] if self.binary else []), self.message_, self.table_,
            self.cohort_, charts, *thresholds[1:], self.before_after_,
            w.HTML("<b>Worst slices</b> (up to 3 predicates; pick one to select its rows; "
                   "a higher alpha weighs error over size)"),
            w.HBox([self.slices_button_, self.alpha_, self.slices_status_]), self.slices_list_]

    # -- public actions ------------------------------------------------------------------
    def set_group_threshold(self, group: Any, value: float) -> None:
        """Move one group's threshold (what its slider does)."""
        if self._moving_all:
            return
        values = list(self.group_thresholds)
        values[list(self.groups_).index(group)] = float(value)
        self.group_thresholds = tuple(values)

    # -- computing -----------------------------------------------------------------------
    @property
    def groups_(self) -> list:
        """The groups on display (without "overall")."""
        if self._groups[0] is not self.groups_index_:  # a list per grouping, not per render
            self._groups = (self.groups_index_, list(self.groups_index_[:-1]))
        return self._groups[1]

    def _bins(self) -> dict | None:
        return {k: v for k, v in (self.bins or {}).items() if k in self.features} or None

    def _on_features_select(self, change: dict) -> None:
        if change["new"]:
            self.features = tuple(change["new"])
        else:
            self.message_.value = "choose at least one sensitive feature"

    def _on_reference_select(self, change: dict) -> None:
        if change["new"] is not None and self.groups_[change["new"]] != self.reference:
            self.reference = self.groups_[change["new"]]

    def _on_features(self, _change: dict) -> None:
        self.reference = None
        self._guarded(self._on_model)

    def _on_model(self, _change: dict | None = None) -> None:
        s = self.session
        if self.table is not None and _change is not None and _change.get("name") == \
                "model_version":
            self.before_ = self.table.copy()
            self.before_label_ = self._next_label or f"new model {type(s.model).__name__}"
            self._next_label = ""
        grouping = {"sensitive_features": list(self.features), "bins": self._bins()}
        if self.binary:
            self.sweep_ = threshold_sweep(s, **grouping)
            self.groups_index_ = self.sweep_.groups
            self.curve_ = tradeoff(self.sweep_, favourable=self.favourable)
        else:
            self.sweep_ = None
            metrics = group_metrics(s, intervals=True, min_support=self.min_support, **grouping)
            if s.task == "multiclass":
                metrics = metrics.xs(self.class_select_.value, level="class")
            self.metrics_ = metrics
            self.groups_index_ = metrics.index
        self._set_reference_options()
        if self.binary:
            self._make_sliders()
        else:
            self._render()

    def _set_reference_options(self) -> None:
        groups = self.groups_
        if self.reference not in groups:
            counts = (self.sweep_.at(0.5) if self.binary else self.metrics_)["count"]
            self.reference = counts.iloc[:-1].idxmax()
        self.reference_select_.options = [(views.name(g), i) for i, g in enumerate(groups)]
        self.reference_select_.value = groups.index(self.reference)

    def _make_sliders(self) -> None:
        s = self.session
        scores = s.predictions()[:, 0]
        kind = s.adapter.output_kind
        lo, hi = (0.0, 1.0) if kind in ("probability", "label") else \
            (float(np.min(scores)), float(np.max(scores)))
        start = 0.5 if kind in ("probability", "label") else 0.0
        sliders = []
        for group in self.groups_:
            slider = w.FloatSlider(value=start, min=lo, max=hi, step=(hi - lo) / 100 or 0.01,
                                   description=views.name(group), readout_format=".2f",
                                   style={"description_width": "140px"},
                                   layout=w.Layout(width="420px"))
            slider.add_class("mld-group-threshold")
            slider.observe(lambda c, g=group: self.set_group_threshold(g, c["new"]), "value")
            sliders.append(slider)
        self.group_sliders_.children = sliders
        with self.threshold_slider_.hold_trait_notifications():
            self.threshold_slider_.min, self.threshold_slider_.max = lo, hi
            self.threshold_slider_.step = (hi - lo) / 100 or 0.01
        self.tradeoff.draw_curve(self.curve_)
        self.tradeoff.mark(self.tradeoff.plan, np.nan, np.nan)
        self.threshold = start
        self._on_threshold()

    def _on_threshold(self, _change: dict | None = None) -> None:
        if self.binary:
            self._set_group_thresholds([float(self.threshold)] * len(self.groups_))

    def _set_group_thresholds(self, values: list[float]) -> None:
        self._moving_all = True  # one table render for the move, not one per group slider
        try:
            for slider, value in zip(self.group_sliders_.children, values, strict=True):
                slider.value = value
        finally:
            self._moving_all = False
        if tuple(values) == self.group_thresholds:
            self._render()
        else:
            self.group_thresholds = tuple(values)

    def _worst_air(self, table: pd.DataFrame) -> float:
        return worst_air(table, favourable=self.favourable, reference=self.reference)

    # -- drawing -------------------------------------------------------------------------
    def _render(self, _change: dict | None = None) -> None:
        if self.reference not in self.groups_:
            return
        if self.binary:
            if len(self.group_thresholds) != len(self.groups_):
                return
            table = self._binary_table()
        else:
            table = self.metrics_.copy()
        compared = [self.metric]
        if "selection_rate" in table and self.session.task != "regression":
            selection = table["selection_rate"].to_numpy()
            table["favourable_rate"] = 1.0 - selection if self.favourable == "negative" \
                else selection
            compared.insert(0, "favourable_rate")
        ratios = disparity(table, columns=compared, reference=self.reference,
                           band=views.BAND)
        # the overall row (last) has no ratio; numpy columns: no index alignment per render
        if "favourable_rate" in compared:
            table["air"] = np.append(ratios.ratio["favourable_rate"].to_numpy(), np.nan)
        table["disparity"] = np.append(ratios.ratio[self.metric].to_numpy(), np.nan)
        flagged = ratios.flagged.rename(columns={"favourable_rate": "air",
                                                 self.metric: "disparity"})
        self.table = table
        ratio_columns = ("air", "disparity") if "air" in table else ("disparity",)
        self.table_.value = views.group_table(
            table, views.SHOWN[self.session.task], ratios.reference, flagged, self.metric,
            ratio_columns, self.min_support)
        names = [views.name(g) for g in self.groups_]
        self.chart.draw(names, table["disparity"].iloc[:-1].to_numpy(), self.metric,
                        views.name(ratios.reference))
        if self.binary:
            self.tradeoff.mark(self.tradeoff.current, self._worst_air(table),
                               float(table["accuracy"].iloc[-1]))
        self.before_after_.value = "" if self.before_ is None else views.before_after(
            self.before_, table, self.before_label_)
        self.message_.value = ""
        self._render_cohort()

    def _render_cohort(self) -> None:
        """Show the selected rows' own group table (a brushed cohort, a slice)."""
        rows = self.session.selected_rows
        self.cohort_table = None
        if not rows or not self.binary or len(self.group_thresholds) != len(self.groups_):
            self.cohort_.value = "" if not rows else (
                f"<b>Selected cohort</b>: {len(rows):,} rows (group metrics at thresholds "
                "are shown for binary classifiers)")
            return
        table = cohort_table(self.session, rows, list(self.group_thresholds),
                             sensitive_features=list(self.features), bins=self._bins())
        self.cohort_table = table
        self.cohort_.value = views.cohort(table, views.SHOWN["binary"], self.table)

    def _binary_table(self) -> pd.DataFrame:
        table = self.sweep_.at_groups(self.group_thresholds)
        if self.metric in RATES:
            numerator, denominator = RATES[self.metric]
            low, high = wilson_interval(sum(table[c].to_numpy() for c in numerator),
                                        sum(table[c].to_numpy() for c in denominator))
            table[f"{self.metric}_low"], table[f"{self.metric}_high"] = low, high
        return table

    def _guarded(self, action: Any) -> None:
        """Run a button's action; its error goes to the message line, not the log."""
        try:
            action()
        except (ValueError, TypeError) as exc:
            self.message_.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
