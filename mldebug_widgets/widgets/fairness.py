"""FairnessSlicer: group metrics, disparities and per-group thresholds, and the worst slices."""

from __future__ import annotations

import html
import threading
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets

from ..analysis import disparity, find_slices, optimise_thresholds, threshold_sweep
from ..analysis.fair_thresholds import OBJECTIVES
from ..session import DebugSession
from . import _plots
from ._common import as_session

SHOWN = ("count", "selection_rate", "accuracy", "tpr", "fpr", "precision", "fnr")
BAND = (0.8, 1.25)


class FairnessSlicer(w.VBox):
    """Error and outcome metrics across groups, with thresholds you can move per group.

    A threshold move is a lookup in a precomputed sweep (one sort per group): no predict
    call, whatever the number of rows. Disparities are ratios to the reference group and are
    flagged outside (0.8, 1.25); the adverse impact ratio (AIR) uses the favourable outcome
    you choose (for credit: predicted non-default). The worst slices of up to three
    predicates are found on demand; picking one publishes its rows as
    ``session.selected_rows``.

    Parameters
    ----------
    session : DebugSession or model
        A binary classification session with sensitive features (or a model with X, y).
    X, y : optional
        Data to bind when a model is passed.
    bins : dict, default=None
        Bin edges for numeric sensitive features, e.g. ``{"AGE": [0, 30, 200]}``.
    favourable : {"negative", "positive"}, default="negative"
        Which predicted outcome is favourable for AIR (negative = not flagged).
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    threshold : float
        The global threshold (moving it resets every group's threshold).
    group_thresholds : tuple of float
        One threshold per group.
    metric : str
        The metric whose disparity the bar chart shows.
    table : pandas.DataFrame
        The group table at the current thresholds (with ``air`` and ``disparity`` columns).

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

    threshold = traitlets.Float(0.5, help="global threshold")
    group_thresholds = traitlets.Tuple(help="one threshold per group")
    metric = traitlets.Unicode("fpr", help="metric of the disparity chart")

    def __init__(self, session: Any, X: Any = None, y: Any = None, *,
                 bins: dict | None = None, favourable: str = "negative", **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-fairness")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        if self.session.task != "binary":
            raise ValueError("the fairness slicer's thresholds need a binary classifier; "
                             f"this session is {self.session.task}. Use "
                             "mdw.analysis.group_metrics(session) for its group metrics.")
        self.bins, self.favourable = bins, favourable
        self.slices_ = None
        self._thread: threading.Thread | None = None
        self._moving_all = False
        self._build()
        self.observe(self._on_threshold, "threshold")
        self.observe(self._render, names=["group_thresholds", "metric"])
        self.session.observe(self._on_model, "model_version")
        self._on_model()

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        self.threshold_slider_ = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01,
                                               description="threshold", readout_format=".2f",
                                               layout=w.Layout(width="360px"))
        self.threshold_slider_.add_class("mld-threshold")
        traitlets.link((self.threshold_slider_, "value"), (self, "threshold"))
        self.metric_select_ = w.Dropdown(options=[m for m in SHOWN if m != "count"],
                                         value="fpr", description="chart")
        traitlets.link((self.metric_select_, "value"), (self, "metric"))
        self.group_sliders_ = w.VBox()
        self.table_ = w.HTML()
        self.table_.add_class("mld-fairness-table")
        x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0)
        self._bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": y_scale},
                             colors=[_plots.EDITED], padding=0.3)
        self._band = bq.Lines(x=[], y=[], scales={"x": x_scale, "y": y_scale},
                              colors=[_plots.MARKER], line_style="dashed")
        self.chart_ = bq.Figure(marks=[self._bars, self._band], axes=[
            bq.Axis(scale=x_scale), bq.Axis(scale=y_scale, side="left", tick_format=".2~g",
                                             label="ratio to reference")],
            title="", animation_duration=0, fig_margin=dict(top=40, bottom=60, left=60,
                                                              right=20),
            layout=w.Layout(width="100%", height="280px"))
        self.chart_.add_class("mld-fairness-chart")
        self.objective_ = w.Dropdown(options=[(o.replace("_", " "), o) for o in OBJECTIVES],
                                     value="air", description="optimise for",
                                     layout=w.Layout(width="300px"))
        self.optimise_button_ = w.Button(description="Optimise thresholds", icon="magic")
        self.optimise_button_.on_click(lambda _: self.optimise())
        self.plan_note_ = w.HTML()
        self.plan_note_.add_class("mld-plan")
        self.slices_button_ = w.Button(description="Find worst slices", icon="search")
        self.slices_button_.on_click(lambda _: self._find_in_thread())
        self.slices_status_ = w.HTML()
        self.slices_list_ = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.slices_list_.add_class("mld-slices")
        self.slices_list_.observe(self._on_slice, "value")
        self.children = [
            w.HBox([self.threshold_slider_, self.metric_select_]), self.table_, self.chart_,
            w.HTML("<b>Per-group thresholds</b>"),
            w.HBox([self.objective_, self.optimise_button_]), self.plan_note_,
            self.group_sliders_,
            w.HTML("<b>Worst slices</b> (up to 3 predicates; pick one to select its rows)"),
            w.HBox([self.slices_button_, self.slices_status_]), self.slices_list_]

    # -- public actions ------------------------------------------------------------------
    def set_group_threshold(self, group: Any, value: float) -> None:
        """Move one group's threshold (what its slider does)."""
        if self._moving_all:
            return
        position = list(self.sweep_.groups[:-1]).index(group)
        values = list(self.group_thresholds)
        values[position] = float(value)
        self.group_thresholds = tuple(values)

    def optimise(self) -> None:
        """Set every group's threshold to the most accurate plan that meets the objective."""
        plan = optimise_thresholds(self.session, self.objective_.value, sweep=self.sweep_,
                                   favourable=self.favourable)
        self._moving_all = True
        try:
            for slider, value in zip(self.group_sliders_.children, plan.thresholds.values(),
                                     strict=True):
                slider.value = value
        finally:
            self._moving_all = False
        self.group_thresholds = tuple(plan.thresholds.values())
        self.plan_ = plan
        met = "met" if plan.feasible else "not reachable on the grid (best single threshold)"
        self.plan_note_.value = (f"<small>{html.escape(plan.objective.replace('_', ' '))}: "
                                 f"{met}; overall accuracy {plan.accuracy:.4f}</small>")

    def find_slices(self) -> None:
        """Find the worst slices of the bound data and list them."""
        self.slices_status_.value = "searching…"
        self.slices_ = find_slices(self.session)
        frame = self.slices_.to_frame()
        self.slices_list_.options = [
            (f"error {r.error:.3f} · {int(r.size):,} rows · {r.slice}", i)
            for i, r in enumerate(frame.itertuples())]
        self.slices_status_.value = f"{len(frame)} slices"

    def _find_in_thread(self) -> None:
        self.slices_button_.disabled = True

        def work() -> None:
            try:
                self.find_slices()
            except ValueError as exc:
                self.slices_status_.value = html.escape(str(exc))
            finally:
                self.slices_button_.disabled = False

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()

    # -- computing and drawing -----------------------------------------------------------
    def _on_model(self, _change: dict | None = None) -> None:
        s = self.session
        self.sweep_ = threshold_sweep(s, bins=self.bins)
        scores = s.predictions()[:, 0]
        lo, hi = (0.0, 1.0) if s.adapter.output_kind == "probability" else \
            (float(np.min(scores)), float(np.max(scores)))
        start = 0.5 if s.adapter.output_kind == "probability" else 0.0
        sliders = []
        for group in self.sweep_.groups[:-1]:
            slider = w.FloatSlider(value=start, min=lo, max=hi, step=(hi - lo) / 100,
                                   description=_name(group), readout_format=".2f",
                                   style={"description_width": "140px"},
                                   layout=w.Layout(width="420px"))
            slider.add_class("mld-group-threshold")
            slider.observe(lambda c, g=group: self.set_group_threshold(g, c["new"]), "value")
            sliders.append(slider)
        self.group_sliders_.children = sliders
        with self.threshold_slider_.hold_trait_notifications():
            self.threshold_slider_.min, self.threshold_slider_.max = lo, hi
        self.threshold = start
        self._on_threshold()

    def _on_threshold(self, _change: dict | None = None) -> None:
        self._moving_all = True  # one table render for the move, not one per group slider
        try:
            for slider in self.group_sliders_.children:
                slider.value = self.threshold
        finally:
            self._moving_all = False
        self.group_thresholds = tuple(float(self.threshold)
                                      for _ in self.group_sliders_.children)

    def _render(self, _change: dict | None = None) -> None:
        if len(self.group_thresholds) != len(self.sweep_.groups) - 1:
            return
        table = self.sweep_.at_groups(self.group_thresholds)
        table["favourable_rate"] = 1.0 - table["selection_rate"] \
            if self.favourable == "negative" else table["selection_rate"]
        ratios = disparity(table, columns=["favourable_rate", self.metric], band=BAND)
        table["air"] = ratios.ratio["favourable_rate"]  # the overall row has no ratio
        table["disparity"] = ratios.ratio[self.metric]
        flagged = ratios.flagged.rename(columns={"favourable_rate": "air",
                                                 self.metric: "disparity"})
        self.table = table
        self.table_.value = _html_table(table, ratios.reference, flagged, self.metric)
        groups = table.iloc[:-1]
        reference = groups.index.get_loc(ratios.reference)
        names = [_name(g) for g in groups.index]
        with self._bars.hold_sync():
            self._bars.x, self._bars.y = names, np.nan_to_num(
                table["disparity"].iloc[:-1].to_numpy(), nan=0.0)
        with self._band.hold_sync():
            self._band.x = [names[0], names[-1], names[-1], names[0]]
            self._band.y = [BAND[0], BAND[0], BAND[1], BAND[1]]
        self.chart_.title = (f"{self.metric} of each group ÷ {names[reference]} "
                             f"(flagged outside {BAND[0]}–{BAND[1]})")

    def _on_slice(self, change: dict) -> None:
        if change["new"] is not None and self.slices_ is not None:
            self.session.selected_rows = tuple(self.slices_.rows(change["new"]).tolist())


def _name(group: Any) -> str:
    return " & ".join(map(str, group)) if isinstance(group, tuple) else str(group)


def _html_table(table: pd.DataFrame, reference: Any, flagged: pd.DataFrame,
                metric: str) -> str:
    columns = [*SHOWN, "air", "disparity"]
    head = "".join(f"<th>{c}</th>" for c in ["group", *columns])
    rows = []
    for group, row in table.iterrows():
        cells = []
        for c in columns:
            value = row[c]
            red = c in flagged.columns and group in flagged.index and flagged.loc[group, c]
            text = "NaN" if not np.isfinite(value) else \
                (f"{int(value):,}" if c == "count" else f"{value:.3f}")
            if group not in flagged.index and c in flagged.columns:
                text = ""  # the overall row is not compared with the reference
            style = " style='color:#b00020;font-weight:bold'" if red else ""
            cells.append(f"<td{style}>{text}</td>")
        name = html.escape(_name(group)) + (" (reference)" if group == reference else "")
        rows.append(f"<tr><td>{name}</td>{''.join(cells)}</tr>")
    return (f"<table class='mld-fairness-rows'><tr>{head}</tr>{''.join(rows)}</table>"
            f"<small>disparity = {html.escape(metric)} ÷ reference; AIR = favourable rate ÷ "
            f"reference; red: outside {BAND[0]}–{BAND[1]}; NaN: undefined (zero "
            "denominator)</small>")
