"""ResidualExplorer: residuals against predictions and features, brushable at a million rows."""

from __future__ import annotations

import html
import threading
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets
from bqplot.interacts import BrushSelector

from ..analysis import benchmark, error_tree, residuals
from ..analysis.residuals import KINDS_BY_TASK, bin_labels, with_predictions
from ..analysis.sampling import density_2d, display_sample
from ..session import DebugSession
from . import _plots
from ._common import as_session, target_name
from ._table import RowTable

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#ff7f0e"]
MAX_FACETS = 12
_JITTER = 0.35


class ResidualExplorer(w.VBox):
    """Plot residuals against predictions or any feature; brush rows to inspect and share.

    The kernel keeps every residual; the browser gets a bounded payload whatever the number
    of rows: the most extreme residuals plus a uniform sample as points (``max_points``),
    over a 60 × 40 density grid of all rows. A brush selects every row in its region, drawn
    or not, and publishes them as ``session.selected_rows``; picking a row in a table sets
    ``session.focus_row`` (the what-if editor loads it).

    Parameters
    ----------
    session : DebugSession or model
        A session from :func:`mldebug_widgets.bind` (with ``y``), or a model with ``X, y``.
    X, y : optional
        Data to bind when a model is passed.
    max_points : int, default=2_000
        Points drawn per panel.
    n_extreme : int, default=300
        Of those, rows with the most extreme residuals, always drawn.
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    x_axis : str
        ``"prediction"`` or a feature name.
    kind : str
        The residual kind (see :func:`mldebug_widgets.analysis.residuals`).
    color_by : str
        ``""``, ``"label"`` (the true class) or a feature (sensitive features first).
    facet : str
        ``""`` or a categorical feature: one panel per category (at most 12).
    panels_ : list of dict
        Per panel: its figure, scatter, brush and the positions of its rows.
    selected_table_, worst_table_, rules_table_ : RowTable
        The rows of the selection, the worst rows, the error-tree rules.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> explorer = mdw.ResidualExplorer(model, data.X, data.y)
    >>> explorer.select_region(x=(0.0, 1.0), y=(2.0, 50.0))
    >>> len(explorer.session.selected_rows) > 0
    True
    """

    x_axis = traitlets.Unicode("prediction", help="prediction or a feature")
    kind = traitlets.Unicode("auto", help="residual kind")
    color_by = traitlets.Unicode("", help="'', 'label' or a feature")
    facet = traitlets.Unicode("", help="'' or a categorical feature")

    def __init__(self, session: Any, X: Any = None, y: Any = None, *, max_points: int = 2_000,
                 n_extreme: int = 300, **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-residuals")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        if self.session.y is None:
            raise ValueError("ResidualExplorer needs the true labels: bind the model with y, "
                             "e.g. mdw.bind(model, X, y).")
        self.max_points, self.n_extreme = max_points, n_extreme
        self.panels_: list[dict] = []
        self._selection: tuple[tuple, np.ndarray] = ((), np.zeros(0, dtype=np.intp))
        self._build()
        self.observe(self._redraw, names=["x_axis", "kind", "color_by", "facet"])
        self.observe(self._retable, names=["kind"])
        self.session.observe(self._on_model, "model_version")
        self.session.observe(self._on_selection, "selected_rows")
        self._redraw()
        self._retable()

    @classmethod
    def from_estimator(cls, model: Any, X: Any, y: Any, **kwargs: Any) -> ResidualExplorer:
        """Bind ``model`` to ``X`` and ``y`` (one predict call) and open the explorer."""
        return cls(model, X, y, **kwargs)

    @classmethod
    def from_predictions(cls, y_true: Any, y_pred: Any, X: Any, *, task: str = "auto",
                         **kwargs: Any) -> ResidualExplorer:
        """Open the explorer on precomputed predictions (no live model is needed).

        ``y_pred`` holds one score per row (the positive class's probability, or the value)
        or one column per class; edited rows cannot be scored by such a session.
        """
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        fixed = _FixedPredictions(frame, np.asarray(y_pred))
        bind_keys = ("sensitive_features", "pos_label", "schema")
        bind_kwargs = {k: kwargs.pop(k) for k in bind_keys if k in kwargs}
        return cls(fixed, frame, y_true, task=task, **bind_kwargs, **kwargs)

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.session
        kinds = KINDS_BY_TASK[s.task]
        categorical = [f for f in s.features if s.schema[f].kind in ("categorical", "boolean")
                       or (s.schema[f].kind == "integer" and 0 < len(s.schema[f].categories)
                           <= MAX_FACETS)]
        sensitive = [] if s.sensitive_features is None else list(s.sensitive_features.columns)
        color_options = [("none", ""), (f"true {target_name(s)}", "label")] + \
            [(f"{c} (sensitive)", c) for c in sensitive] + \
            [(c, c) for c in categorical if c not in sensitive]
        self.x_select_ = w.Dropdown(options=["prediction", *s.features], description="x",
                                    layout=w.Layout(width="220px"))
        self.kind_select_ = w.Dropdown(options=[("auto", "auto"), *[(k, k) for k in kinds]],
                                       description="residual", layout=w.Layout(width="220px"))
        self.color_select_ = w.Dropdown(options=color_options, description="colour",
                                        layout=w.Layout(width="240px"))
        self.facet_select_ = w.Dropdown(options=[("none", ""), *[(c, c) for c in categorical]],
                                        description="facet", layout=w.Layout(width="220px"))
        for name, widget in (("x_axis", self.x_select_), ("kind", self.kind_select_),
                             ("color_by", self.color_select_), ("facet", self.facet_select_)):
            traitlets.link((widget, "value"), (self, name))
        clear = w.Button(description="Clear selection", layout=w.Layout(width="140px"))
        clear.on_click(lambda _: self.clear_selection())
        self.controls_ = w.HBox([self.x_select_, self.kind_select_, self.color_select_,
                                 self.facet_select_, clear], layout=w.Layout(flex_flow="wrap"))
        self.summary_ = w.HTML()
        self.summary_.add_class("mld-residual-summary")
        self.legend_ = w.HTML()
        self.plots_ = w.GridBox(layout=w.Layout(width="100%"))
        self.selected_table_ = RowTable(self._focus, title="Selected rows (pick one to load it "
                                        "in the what-if editor)", css_class="mld-selected")
        self.worst_table_ = RowTable(self._focus, title="Largest residuals",
                                     css_class="mld-worst")
        self.depth_ = w.IntSlider(value=3, min=1, max=5, description="depth",
                                  continuous_update=False)
        self.by_class_ = w.Checkbox(value=False, description="one tree per true class",
                                    disabled=s.task == "regression")
        self.depth_.observe(self._retable, "value")
        self.by_class_.observe(self._retable, "value")
        self.rules_note_ = w.HTML()
        self.rules_ = w.Select(options=[], rows=10, layout=w.Layout(width="100%"))
        self.rules_.add_class("mld-rules")
        self.rules_.observe(self._on_rule, "value")
        rules_box = w.VBox([w.HBox([self.depth_, self.by_class_]), self.rules_note_, self.rules_])
        self.tabs_ = w.Tab(children=[self.selected_table_, self.worst_table_, rules_box,
                                     self._build_benchmark()],
                           titles=("Selected rows", "Worst rows", "Error tree", "Benchmark"))
        self.children = [self.controls_, self.summary_, self.plots_, self.legend_, self.tabs_]

    def _build_benchmark(self) -> w.VBox:
        self.benchmark_kind_ = w.Dropdown(options=[("regularised linear model", "linear"),
                                                   ("depth-4 tree", "tree")],
                                          description="benchmark", layout=w.Layout(width="320px"))
        self.benchmark_cv_ = w.Dropdown(options=[("in-sample", None), ("5-fold out-of-fold", 5)],
                                        description="fit", layout=w.Layout(width="240px"))
        self.benchmark_button_ = w.Button(description="Fit benchmark", icon="play")
        self.benchmark_button_.on_click(lambda _: self._run_in_thread())
        self.benchmark_which_ = w.ToggleButtons(
            options=[("model wrong, benchmark right", "model_worse"),
                     ("benchmark wrong, model right", "benchmark_worse")])
        self.benchmark_which_.observe(lambda _: self._show_benchmark(), "value")
        self.benchmark_status_ = w.HTML()
        self.benchmark_status_.add_class("mld-benchmark-status")
        self.benchmark_metrics_ = w.HTML()
        self.benchmark_summary_ = w.HTML()
        select = w.Button(description="Select these rows")
        select.on_click(lambda _: self.select_rows(
            self.benchmark_.rows(self.benchmark_which_.value)) if self.benchmark_ else None)
        self.benchmark_table_ = RowTable(self._focus, css_class="mld-benchmark-rows")
        for table in (self.selected_table_, self.worst_table_, self.benchmark_table_):
            table.follow(self.session)  # a row picked again after focus moved loads again
        self.benchmark_ = None
        self._benchmark_thread: threading.Thread | None = None
        return w.VBox([w.HBox([self.benchmark_kind_, self.benchmark_cv_,
                               self.benchmark_button_]), self.benchmark_status_,
                       self.benchmark_metrics_, w.HBox([self.benchmark_which_, select]),
                       self.benchmark_summary_, self.benchmark_table_])

    # -- public actions ------------------------------------------------------------------
    def run_benchmark(self) -> None:
        """Fit the chosen benchmark model and show where it and the model disagree."""
        self.benchmark_status_.value = "fitting the benchmark…"
        try:
            self.benchmark_ = benchmark(self.session, estimator=self.benchmark_kind_.value,
                                        cv=self.benchmark_cv_.value)
        except (ValueError, TypeError) as exc:
            self.benchmark_status_.value = (f"<span style='color:#b00020'>⚠ "
                                            f"{html.escape(str(exc))}</span>")
            return
        self.benchmark_status_.value = ""
        self._show_benchmark()

    def _run_in_thread(self) -> None:
        """Fit off the UI path: the page stays responsive while a big benchmark fits."""
        self.benchmark_button_.disabled = True

        def work() -> None:
            try:
                self.run_benchmark()
            finally:
                self.benchmark_button_.disabled = False

        self._benchmark_thread = threading.Thread(target=work, daemon=True)
        self._benchmark_thread.start()

    def _show_benchmark(self) -> None:
        result = self.benchmark_
        if result is None:
            return
        metrics = result.metrics
        rows = "".join(
            f"<tr><td>{html.escape(str(name))}</td>" + "".join(
                f"<td>{v:.4g}</td>" for v in metrics.loc[name, ["model", "benchmark",
                                                                 "difference"]]) + "</tr>"
            for name in metrics.index)
        counts = {w_: len(result.rows(w_)) for w_ in ("model_worse", "benchmark_worse",
                                                      "both_wrong")}
        self.benchmark_metrics_.value = (
            "<table><tr><th>metric</th><th>model</th><th>benchmark</th><th>difference</th>"
            f"</tr>{rows}</table><small>{counts['model_worse']:,} rows only the model gets "
            f"wrong · {counts['benchmark_worse']:,} only the benchmark · "
            f"{counts['both_wrong']:,} both</small>")
        which = self.benchmark_which_.value
        summary = result.summary(which, self.session.X, schema=self.session.schema).head(5)
        lines = "".join(
            f"<li><b>{html.escape(str(name))}</b>: "
            + (f"{html.escape(str(r['value']))} is {r['in_rows']:.0%} of these rows vs "
               f"{r['overall']:.0%} overall" if r["kind"] == "categorical" else
               f"mean {r['in_rows']:.4g} here vs {r['overall']:.4g} overall")
            + f" (effect {r['effect']:+.2f})</li>" for name, r in summary.iterrows())
        self.benchmark_summary_.value = f"<small>How these rows differ:</small><ul>{lines}</ul>"
        ys = self._residuals()
        order = _largest(np.flatnonzero(result.mask(which)), ys, self.benchmark_table_.max_rows)
        frame = with_predictions(self.session, order).assign(residual=ys[order])
        self.benchmark_table_.show(frame, label_columns=self._label_columns(frame))

    def select_region(self, *, x: tuple[float, float], y: tuple[float, float],
                      panel: int = 0) -> None:
        """Select every row of ``panel`` whose (x, residual) lies in the box (what a brush does).

        The selection is over all rows, drawn or not, and is published on the session.
        """
        xs, ys = self._coordinates()
        positions = self.panels_[panel]["rows"]
        inside = (xs[positions] >= min(x)) & (xs[positions] <= max(x)) & \
            (ys[positions] >= min(y)) & (ys[positions] <= max(y))
        chosen = positions[inside]
        labels = tuple(self.session.X.index[chosen].tolist())
        self._selection = (labels, chosen)  # the positions, so the redraw needs no lookup
        self.session.selected_rows = labels

    def select_rows(self, labels: Any) -> None:
        """Publish rows (index labels) as the session's selection."""
        self.session.selected_rows = tuple(labels)

    def clear_selection(self) -> None:
        """Drop the selection (for every widget of the session)."""
        self.session.selected_rows = ()
        for panel in self.panels_:
            panel["brush"].selected_x = None
            panel["brush"].selected_y = None

    # -- data ----------------------------------------------------------------------------
    def _residuals(self) -> np.ndarray:
        return residuals(self.session, self.kind).to_numpy()

    def _coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Return x and y of every bound row (categories become jittered codes), cached."""
        s = self.session

        def x_values() -> np.ndarray:
            if self.x_axis == "prediction":
                return s.predictions()[:, 0] if s.task != "multiclass" \
                    else s.predictions().max(axis=1)
            labels = self._categories(self.x_axis)
            if labels is not None:
                jitter = np.random.default_rng(0).uniform(-_JITTER, _JITTER, len(labels))
                return labels.codes.astype(np.float64) + jitter
            return s.X[self.x_axis].to_numpy(dtype=np.float64, na_value=np.nan)

        xs = s.cached(("residual-x", self.x_axis), x_values)
        return xs, self._residuals()

    def _categories(self, feature: str) -> pd.Categorical | None:
        spec = self.session.schema[feature]
        if spec.kind in ("categorical", "boolean") or (
                spec.kind == "integer" and 0 < len(spec.categories) <= MAX_FACETS):
            return self.session.cached(("bins", feature),
                                       lambda: bin_labels(self.session, feature, MAX_FACETS))
        return None

    def _colors(self) -> tuple[np.ndarray | None, list[str]]:
        s = self.session
        if not self.color_by:
            return None, []

        def compute() -> tuple[np.ndarray, list[str]]:
            if self.color_by == "label":
                labels = pd.Categorical(s.y.to_numpy())
            elif s.sensitive_features is not None and self.color_by in s.sensitive_features:
                column = s.sensitive_features[self.color_by]
                labels = pd.Categorical(column.to_numpy()) if column.nunique() <= 10 \
                    else pd.Categorical(pd.qcut(column, 4, duplicates="drop"))
            else:
                labels = self._categories(self.color_by)
            names = [str(c) for c in labels.categories][: len(PALETTE) - 1]
            # the last colour is for the rest: categories past the palette, and missing
            codes = np.where((labels.codes < 0) | (labels.codes >= len(names)),
                             len(PALETTE) - 1, labels.codes).astype(np.float64)
            if len(labels.categories) > len(names) or (labels.codes < 0).any():
                names.append("other / missing")
            return codes, names

        return s.cached(("residual-colours", self.color_by), compute)

    # -- drawing -------------------------------------------------------------------------
    def _redraw(self, _change: dict | None = None) -> None:
        s = self.session
        xs, ys = self._coordinates()
        codes, names = self._colors()
        if self.facet:
            labels = self._categories(self.facet)
            groups = [(f"{self.facet} = {c}", np.flatnonzero(labels.codes == k))
                      for k, c in enumerate(labels.categories)][:MAX_FACETS]
            groups = [(title, rows) for title, rows in groups if len(rows)]
        else:
            groups = [("", np.arange(len(xs)))]
        budget = max(200, self.max_points // len(groups))
        old, self.panels_ = self.panels_, []
        self.panels_ = [self._panel(title, rows, xs, ys, codes, budget, len(groups) > 1)
                        for title, rows in groups]
        columns = 1 if len(groups) == 1 else min(3, len(groups))
        self.plots_.layout.grid_template_columns = " ".join(["1fr"] * columns)
        self.plots_.children = [p["figure"] for p in self.panels_]
        seen: set[int] = set()
        for panel in old:  # close the replaced figures, marks, scales and brushes
            _close_tree(panel["figure"], seen)
        drawn = sum(len(p["scatter"].x) for p in self.panels_)
        res_name = residuals(s, self.kind).name
        self.summary_.value = (
            f"<b>{len(xs):,}</b> rows · residual <b>{html.escape(res_name)}</b> mean "
            f"{np.nanmean(ys):.4g} · drawn: {drawn:,} points (the {self.n_extreme} most extreme "
            "and a uniform sample) over the density of all rows · brush to select")
        self.legend_.value = " &nbsp; ".join(
            f"<span style='color:{PALETTE[i]}'>● {html.escape(n)}</span>"
            for i, n in enumerate(names))
        self._on_selection()

    def _panel(self, title: str, rows: np.ndarray, xs: np.ndarray, ys: np.ndarray,
               codes: np.ndarray | None, budget: int, small: bool) -> dict:
        sample = rows[display_sample(ys[rows], max_points=budget,
                                     n_extreme=min(self.n_extreme, budget // 2))]
        x_scale, y_scale = bq.LinearScale(), bq.LinearScale()
        xc, yc, counts = density_2d(xs[rows], ys[rows])
        cell_y, cell_x = np.nonzero(np.isfinite(counts))  # one grey square per non-empty cell
        density = bq.Scatter(x=xc[cell_x], y=yc[cell_y], color=np.log1p(counts[cell_y, cell_x]),
                             scales={"x": x_scale, "y": y_scale,
                                     "color": bq.ColorScale(colors=["#ececec", "#8a8a8a"])},
                             marker="square", default_size=110, stroke="transparent",
                             opacities=[0.8])
        scales = {"x": x_scale, "y": y_scale}
        extra = {}
        if codes is not None:
            scales["color"] = bq.OrdinalColorScale(domain=list(range(len(PALETTE))),
                                                   colors=PALETTE)
            extra["color"] = codes[sample]
        scatter = bq.Scatter(x=xs[sample], y=ys[sample], scales=scales, default_size=12,
                             opacities=[0.7], colors=[_plots.EDITED],
                             stroke="transparent", **extra)
        highlight = bq.Scatter(x=[], y=[], scales={"x": x_scale, "y": y_scale},
                               colors=[_plots.AVERAGE], default_size=28, stroke="black",
                               stroke_width=0.5)
        brush = BrushSelector(x_scale=x_scale, y_scale=y_scale, marks=[scatter],
                              color="orange")
        panel = {"rows": rows, "sample": sample, "scatter": scatter, "highlight": highlight,
                 "brush": brush}
        brush.observe(lambda c, p=panel: self._on_brush(p, c), names=["brushing", "selected_x",
                                                                      "selected_y"])
        x_label = "prediction" if self.x_axis == "prediction" else self.x_axis
        figure = bq.Figure(
            marks=[density, scatter, highlight], interaction=brush, title=title,
            axes=[bq.Axis(scale=x_scale, label=x_label, tick_format=".3~g",
                          grid_lines="none"),
                  bq.Axis(scale=y_scale, side="left", label="residual", label_offset="45px",
                          tick_format=".3~g", grid_lines="dashed")],
            animation_duration=0, fig_margin=dict(top=35, bottom=45, left=60, right=15),
            layout=w.Layout(width="100%", height="260px" if small else "380px"))
        figure.add_class("mld-residual-plot")
        panel["figure"] = figure
        return panel

    def _on_brush(self, panel: dict, change: dict) -> None:
        brush = panel["brush"]
        if brush.brushing or brush.selected_x is None or brush.selected_y is None:
            return
        if change["name"] == "brushing" or not brush.brushing:
            position = self.panels_.index(panel)
            self.select_region(x=tuple(brush.selected_x), y=tuple(brush.selected_y),
                               panel=position)

    # -- session events ------------------------------------------------------------------
    def _on_selection(self, _change: dict | None = None) -> None:
        s = self.session
        selected = np.zeros(len(s.X), dtype=bool)
        if s.selected_rows and self._selection[0] is s.selected_rows:
            selected[self._selection[1]] = True
        elif s.selected_rows:
            selected[s.X.index.get_indexer(list(s.selected_rows))] = True
        xs, ys = self._coordinates()
        for panel in self.panels_:
            rows = panel["rows"][selected[panel["rows"]]]
            shown = rows[display_sample(ys[rows], max_points=500, n_extreme=100)] \
                if len(rows) else rows
            with panel["highlight"].hold_sync():
                panel["highlight"].x = xs[shown]
                panel["highlight"].y = ys[shown]
        positions = np.flatnonzero(selected)
        order = _largest(positions, ys, self.selected_table_.max_rows)
        frame = with_predictions(s, order).assign(residual=ys[order])
        self.selected_table_.show(
            frame, label_columns=self._label_columns(frame),
            note=f"{len(positions):,} rows selected; largest residuals first" if len(positions)
            else "Brush the plot (or pick an error-tree rule) to select rows.")

    def _retable(self, _change: dict | None = None) -> None:
        s = self.session
        ys = self._residuals()
        order = _largest(np.arange(len(ys)), ys, self.worst_table_.max_rows)
        frame = with_predictions(s, order).assign(residual=ys[order])
        self.worst_table_.show(frame, label_columns=self._label_columns(frame))
        tree = error_tree(s, kind=self.kind, max_depth=self.depth_.value,
                          by_class=self.by_class_.value)
        self._tree = tree
        options = []
        for leaf, rule in tree.rules.iterrows():
            prefix = f"true {rule['class']} · " if "class" in rule.index else ""
            options.append((f"{prefix}mean {rule['mean_residual']:.3g} · "
                            f"{int(rule['support']):,} rows · {rule['rule']}", int(leaf)))
        with self.rules_.hold_trait_notifications():
            self.rules_.options = options
            self.rules_.value = None
        r2 = ", ".join(f"{'all' if k is None else k}: {v:.2f}" for k, v in tree.r2.items())
        self.rules_note_.value = (f"<small>A depth-{self.depth_.value} tree fitted to the "
                                  f"residuals (R² {r2}). Pick a rule to select its rows."
                                  "</small>")

    def _on_rule(self, change: dict) -> None:
        if change["new"] is not None:
            self.select_rows(self._tree.rows(change["new"], self.session.X.index))

    def _on_model(self, _change: dict) -> None:
        self.benchmark_ = None
        self.benchmark_metrics_.value = self.benchmark_summary_.value = ""
        self._redraw()
        self._retable()

    def _focus(self, label: Any) -> None:
        self.session.focus_row = label

    def _label_columns(self, frame: pd.DataFrame) -> tuple[str, ...]:
        predictions = [c for c in frame.columns if c == "prediction" or c.startswith("P(")]
        return (*predictions[:1], "residual")


def _largest(positions: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Return the ``k`` positions with the largest values, largest first."""
    if len(positions) > k:
        keep = np.argpartition(-values[positions], k - 1)[:k]
        positions = np.sort(positions[keep])
    return positions[np.argsort(-values[positions], kind="stable")]


def _close_tree(widget: w.Widget, seen: set[int]) -> None:
    """Close a widget and every widget it holds (marks, scales, axes, brush, layout)."""
    if id(widget) in seen:
        return
    seen.add(id(widget))
    for name in widget.keys:
        value = getattr(widget, name, None)
        items = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, w.Widget):
                _close_tree(item, seen)
    widget.close()


class _FixedPredictions:
    """A 'model' that returns precomputed predictions for the bound rows, by index label."""

    def __init__(self, X: pd.DataFrame, values: np.ndarray):
        self._X, self._values = X, values

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        positions = self._X.index.get_indexer(frame.index)
        known = (positions >= 0).all() and frame.reset_index(drop=True).equals(
            self._X.iloc[positions].reset_index(drop=True))
        if not known:
            raise ValueError("this session was built from fixed predictions: only the bound "
                             "rows have one. Bind a live model to score edited rows.")
        return self._values[positions]
