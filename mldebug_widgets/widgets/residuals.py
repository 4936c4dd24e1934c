"""ResidualExplorer: residuals against predictions and features, brushable at a million rows."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets

from ..analysis import error_tree, residuals
from ..analysis.residuals import KINDS_BY_TASK, bin_labels, with_predictions
from ..session import DebugSession
from ._common import as_session, target_name
from ._residual_benchmark import _BenchmarkTab
from ._residual_views import PALETTE, close_tree, facet_panel, highlight, largest
from ._table import RowTable

MAX_FACETS = 12
_JITTER = 0.35


class ResidualExplorer(_BenchmarkTab, w.VBox):
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
        for table in (self.selected_table_, self.worst_table_, self.benchmark_table_):
            table.follow(self.session)  # a row picked again after focus moved loads again
        self.children = [self.controls_, self.summary_, self.plots_, self.legend_, self.tabs_]

    # -- public actions ------------------------------------------------------------------
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
        self.panels_ = [facet_panel(title, rows, xs, ys, codes, budget, len(groups) > 1,
                                    x_label=self.x_axis, n_extreme=self.n_extreme,
                                    on_brush=self._on_brush)
                        for title, rows in groups]
        columns = 1 if len(groups) == 1 else min(3, len(groups))
        self.plots_.layout.grid_template_columns = " ".join(["1fr"] * columns)
        self.plots_.children = [p["figure"] for p in self.panels_]
        seen: set[int] = set()
        for panel in old:  # close the replaced figures, marks, scales and brushes
            close_tree(panel["figure"], seen)
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
        highlight(self.panels_, selected, xs, ys)
        positions = np.flatnonzero(selected)
        order = largest(positions, ys, self.selected_table_.max_rows)
        frame = with_predictions(s, order).assign(residual=ys[order])
        self.selected_table_.show(
            frame, label_columns=self._label_columns(frame),
            note=f"{len(positions):,} rows selected; largest residuals first" if len(positions)
            else "Brush the plot (or pick an error-tree rule) to select rows.")

    def _retable(self, _change: dict | None = None) -> None:
        s = self.session
        ys = self._residuals()
        order = largest(np.arange(len(ys)), ys, self.worst_table_.max_rows)
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
