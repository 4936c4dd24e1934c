"""WhatIfEditor: edit any row, see its prediction and its ICE curves change at once."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets
from ipywidgets.widgets.widget_bool import ToggleButtonStyle
from ipywidgets.widgets.widget_description import DescriptionStyle
from ipywidgets.widgets.widget_string import LabelStyle

from .._errors import ModelError, SchemaError
from ..analysis import check_row, feature_grids, ice, residuals, what_if
from ..analysis.sensitivity import WhatIfResult
from ..schema import is_missing
from ..session import DebugSession
from . import _plots
from ._common import as_session, format_score, target_name
from ._editors import (
    MISSING,
    assign,
    css_name,
    fmt,
    literal,
    make_editor,
    option,
    parse_label,
    same,
)
from ._explain import ExplainPanel
from .assertions import violations_html

PRESETS = ("highest prediction", "lowest prediction", "largest error", "random")


class WhatIfEditor(w.VBox):
    """Edit any row of the bound data and watch its prediction and sensitivity change.

    One editor per feature (a number box that accepts values beyond the observed range, a
    dropdown for categories, a missing toggle); the prediction with its change from the
    original row; the ICE curve of the shown feature with the original row's curve, the
    partial dependence and the data density behind it; a bar per feature of how far it can
    move the prediction; an edit history and the row as code. One edit is one batched
    predict call. Setting ``session.focus_row`` (from any widget) loads that row.

    Parameters
    ----------
    session : DebugSession or model
        A session from :func:`mldebug_widgets.bind`, or a model (then pass ``X`` and ``y``).
    X, y : optional
        Data to bind when a model is passed.
    resolution : int, default=20
        Grid points per numeric feature.
    margin : float, default=0.1
        Sweep this fraction beyond the observed range.
    include_missing : bool, default=True
        Also sweep a missing value of each feature.
    pd_rows : int, default=200
        Rows (drawn once, seeded) the partial dependence is averaged over.
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    session : DebugSession
        The shared session.
    row : object
        Index label of the loaded row.
    feature : str
        The feature whose ICE curve is shown.
    output : int
        Which output (class) the curves show.
    edited : pandas.DataFrame
        The row as edited (a copy; the bound data is never changed).
    result_ : WhatIfResult or None
        The prediction and ICE curves of ``edited``.
    history : list of dict
        The edits made to this row: feature, old and new value, prediction after.
    editors_ : dict
        Feature -> its editor widget; ``missing_`` holds the missing toggles.
    ice_figure_, sensitivity_figure_ : bqplot.Figure
        The ICE plot and the per-feature range bars.
    prediction_, message_ : ipywidgets.HTML
        The prediction text and the error/warning line.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> editor = mdw.WhatIfEditor(model, data.X, data.y)
    >>> editor.set_value("PAY_0", 3)
    >>> editor.history[-1]["feature"]
    'PAY_0'
    """

    row = traitlets.Any(None, allow_none=True, help="index label of the loaded row")
    feature = traitlets.Unicode(help="feature whose ICE curve is shown")
    output = traitlets.Int(0, help="output (class) shown in the curves")

    def __init__(self, session: Any, X: Any = None, y: Any = None, *, resolution: int = 20,
                 margin: float = 0.1, include_missing: bool = True, pd_rows: int = 200,
                 **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-whatif")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        self.resolution, self.margin, self.include_missing = resolution, margin, include_missing
        self.pd_rows = pd_rows
        self.edited: pd.DataFrame | None = None
        self.result_: WhatIfResult | None = None
        self.history: list[dict] = []
        self._loading = False
        self._marks: dict = {}
        self._build()
        self.session.observe(self._on_focus, "focus_row")
        self.session.observe(self._on_candidate, "candidate")
        self.session.observe(self._render_rules, "rules")
        self.session.observe(self._on_model, "model_version")
        self.session.observe(self._on_schema, "schema")
        if self.session.focus_row is None:
            self.session.focus_row = self.session.X.index[0]
        else:
            self.load(self.session.focus_row)

    @classmethod
    def from_estimator(cls, model: Any, X: Any, y: Any = None, **kwargs: Any) -> WhatIfEditor:
        """Bind ``model`` to ``X`` and ``y`` and open the editor on the new session.

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"a": [0.0, 1.0]})
        >>> WhatIfEditor.from_estimator(lambda df: df["a"] * 2, X, task="regression").row
        0
        """
        return cls(model, X, y, **kwargs)

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.session
        self.row_box_ = w.Text(description="Row", layout=w.Layout(width="180px"),
                               continuous_update=False)
        self.row_box_.add_class("mld-row")
        self.row_box_.observe(self._on_row_box, "value")
        prev_btn = w.Button(icon="chevron-left", tooltip="previous row",
                            layout=w.Layout(width="36px"))
        next_btn = w.Button(icon="chevron-right", tooltip="next row",
                            layout=w.Layout(width="36px"))
        prev_btn.on_click(lambda _: self.step(-1))
        next_btn.on_click(lambda _: self.step(1))
        presets = [p for p in PRESETS if p != "largest error" or s.y is not None]
        self.preset_ = w.Dropdown(options=[("go to…", "")] + [(p, p) for p in presets],
                                  layout=w.Layout(width="170px"))
        self.preset_.observe(self._on_preset, "value")
        reset_btn = w.Button(description="Reset", icon="undo", tooltip="back to the data row")
        undo_btn = w.Button(description="Undo", tooltip="undo the last edit")
        reset_btn.on_click(lambda _: self.reset())
        undo_btn.on_click(lambda _: self.undo())
        for btn in (reset_btn, undo_btn):
            btn.layout.width = "90px"
        self.controls_ = w.HBox([self.row_box_, prev_btn, next_btn, self.preset_, reset_btn,
                                 undo_btn])
        self.prediction_ = w.HTML()
        self.prediction_.add_class("mld-prediction")
        self.message_ = w.HTML()
        self.message_.add_class("mld-message")
        self.rules_ = w.HTML()
        self.rules_.add_class("mld-rules-check")
        self.feature_select_ = w.Dropdown(options=s.features, description="ICE of",
                                          layout=w.Layout(width="260px"))
        traitlets.link((self.feature_select_, "value"), (self, "feature"))
        self.output_select_ = w.Dropdown(
            options=[(f"{target_name(s)} = {c}", i) for i, c in enumerate(s.output_names)],
            description="class", layout=w.Layout(
                width="220px", display="" if s.task == "multiclass" else "none"))
        traitlets.link((self.output_select_, "value"), (self, "output"))
        self.ice_figure_ = _plots.ice_figure()
        self.sensitivity_figure_, self._bars = _plots.sensitivity_figure(
            self._on_bar_click, len(s.features))
        self.history_ = w.HTML()
        self.history_.add_class("mld-history")
        self.code_ = w.Textarea(layout=w.Layout(width="100%", height="140px"))
        self.code_.add_class("mld-code")
        self.explain_ = ExplainPanel(s, lambda: self.feature, lambda: self.edited)
        extras = w.Accordion(children=[self.history_, self.code_, self.explain_], titles=(
            "Edit history", "Row as code (copy into a notebook)", "Explain (ALE, Anchors)"))
        self.editor_panel_ = w.VBox(layout=w.Layout(width="360px", max_height="640px",
                                                    overflow="auto"))
        self._build_editors()
        plots = w.VBox([w.HBox([self.feature_select_, self.output_select_]),
                        self.ice_figure_, w.HTML(_plots.LEGEND), self.sensitivity_figure_],
                       layout=w.Layout(flex="1 1 auto", min_width="420px"))
        self.children = [self.controls_, self.prediction_, self.rules_, self.message_,
                         w.HBox([self.editor_panel_, plots]), extras]
        self.observe(self._on_shown, names=["feature", "output"])

    def _build_editors(self) -> None:
        self.editors_: dict[str, w.Widget] = {}
        self.missing_: dict[str, w.ToggleButton] = {}
        rows = []
        # one Layout and one style model shared by all rows' labels, toggles and boxes: the
        # page builds a third as many widget models (the editors keep their own layouts,
        # whose border marks an edited value)
        label_layout, toggle_layout, row_layout = (w.Layout(width="120px"),
                                                   w.Layout(width="44px"), w.Layout())
        label_style, toggle_style, editor_style = (LabelStyle(), ToggleButtonStyle(),
                                                   DescriptionStyle())
        for name in self.session.features:
            spec = self.session.schema[name]
            editor = make_editor(spec, style=editor_style)
            editor.observe(lambda c, n=name: self._on_editor(n, c["new"]), "value")
            editor.add_class(f"mld-edit-{css_name(name)}")
            label = w.Label(name + ("" if spec.mutable else " (fixed)"), layout=label_layout,
                            style=label_style,
                            tooltip=None if spec.mutable else "immutable: searches keep it fixed")
            label.add_class("mld-feature-label")
            parts = [label, editor]
            if spec.kind in ("numeric", "integer"):
                toggle = w.ToggleButton(description="NA", tooltip="set missing",
                                        layout=toggle_layout, style=toggle_style)
                toggle.observe(lambda c, n=name: self._on_missing(n, c["new"]), "value")
                self.missing_[name] = toggle
                parts.append(toggle)
            self.editors_[name] = editor
            rows.append(w.HBox(parts, layout=row_layout))
        self.editor_panel_.children = rows
        self._reset_grids()

    def _reset_grids(self) -> None:
        self._grids = feature_grids(self.session, resolution=self.resolution,
                                    margin=self.margin, include_missing=self.include_missing)
        self._note = ""

    # -- public actions ------------------------------------------------------------------
    def load(self, label: Any) -> None:
        """Load the bound row ``label`` into the editors (the history starts afresh)."""
        try:
            original = self.session.row(label)
        except KeyError as exc:
            self._show_error(str(exc.args[0]))
            return
        self.row = label
        self._original = original
        self._original_ice = None  # the first what-if of a loaded row is the original's
        self.edited = original.copy()
        self.history = []
        self._sync_editors()
        with self.row_box_.hold_trait_notifications():
            self._loading = True
            self.row_box_.value = str(label)
            self._loading = False
        self._recompute()

    def set_value(self, feature: str, value: Any) -> None:
        """Edit one feature of the loaded row (what typing in its editor does).

        Raises
        ------
        SchemaError
            If the value is not valid for the feature (also shown in the widget).
        """
        spec = self.session.schema[feature]
        try:
            value = spec.validate(value)
        except SchemaError as exc:
            self._show_error(str(exc))
            raise
        old = self.edited[feature].iloc[0]
        if same(old, value):
            return
        self.edited = assign(self.edited, feature, value)
        self._sync_editors([feature])
        self._loading = True  # the plot follows the edit; draw it once, below
        try:
            self.feature = feature
        finally:
            self._loading = False
        if self._recompute():
            self.history.append({"feature": feature, "old": old, "new": value,
                                 "prediction": float(self.result_.prediction[self.output])})
            self._render_history()

    def load_values(self, label: Any, values: dict, *, source: str = "") -> None:
        """Load row ``label`` with ``values`` applied as edits, in one recompute.

        What a proposed synthetic row (``session.propose``, e.g. an adversarial find)
        does: each changed feature enters the history, so undo walks back to the data.
        """
        self.load(label)
        if self.row != label:
            return
        old = {f: self.edited[f].iloc[0] for f in values}
        edited = self.edited
        for feature, value in values.items():
            edited = assign(edited, feature, self.session.schema[feature].validate(value))
        self.edited = edited
        self._sync_editors(list(values))
        if self._recompute():
            prediction = float(self.result_.prediction[self.output])
            for feature, value in values.items():
                if not same(old[feature], value):
                    self.history.append({"feature": feature, "old": old[feature],
                                         "new": value, "prediction": prediction,
                                         "source": source})
            self._render_history()

    def reset(self) -> None:
        """Restore the loaded row's values from the data."""
        if self.row is not None:
            self.load(self.row)

    def undo(self) -> None:
        """Undo the last edit."""
        if not self.history:
            return
        last = self.history.pop()
        self.edited = assign(self.edited, last["feature"], last["old"])
        self._sync_editors([last["feature"]])
        self._recompute()
        self._render_history()

    def step(self, offset: int) -> None:
        """Move to the row ``offset`` positions after the loaded one (wrapping around)."""
        index = self.session.X.index
        position = (self.session.position(self.row) + offset) % len(index)
        self.session.focus_row = index[position]

    def pick(self, preset: str) -> None:
        """Go to a row chosen by a preset: one of ``PRESETS``."""
        s = self.session
        scores = s.predictions()[:, self.output]
        if preset == "highest prediction":
            position = int(np.argmax(scores))
        elif preset == "lowest prediction":
            position = int(np.argmin(scores))
        elif preset == "largest error" and s.y is not None:
            position = int(np.argmax(_errors(s)))
        elif preset == "random":
            position = int(np.random.default_rng().integers(len(s.X)))
        else:
            raise ValueError(f"preset must be one of {PRESETS}; got {preset!r}.")
        s.focus_row = s.X.index[position]

    def row_as_code(self) -> str:
        """Python code that rebuilds the edited row as a one-row DataFrame."""
        body = ",\n".join(f"    {c!r}: [{literal(self.edited[c].iloc[0])}]"
                           for c in self.edited.columns)
        return (f"import numpy as np\nimport pandas as pd\n\nrow = pd.DataFrame({{\n{body},\n}}, "
                f"index=[{literal(self.row)}])\n")

    # -- computing and drawing -----------------------------------------------------------
    def _recompute(self) -> bool:
        try:
            self.result_ = self._what_if(self.edited)
        except (ModelError, SchemaError, ValueError, TypeError) as exc:
            self._show_error(str(exc))
            return False
        if self._original_ice is None and self.edited.equals(self._original):
            self._original_ice = self.result_.ice
        self.message_.value = self._note
        self._render_prediction()
        self._render_rules()
        self._render_ice()
        self._render_sensitivity()
        self.code_.value = self.row_as_code()
        return True

    def _render_rules(self, _change: dict | None = None) -> None:
        """Check the edited row against ``session.rules`` (no model call: the score is known)."""
        text = self.session.rules
        if not text.strip() or self.result_ is None:
            self.rules_.value = ""
            return
        try:
            fired = check_row(self.session, self.edited, text,
                              prediction=self.result_.prediction)
        except ValueError as exc:  # the assertions panel shows rule errors; say it briefly
            self.rules_.value = f"<small>rules not checked: {html.escape(str(exc))[:120]}</small>"
            return
        self.rules_.value = violations_html(fired)

    def _what_if(self, row: pd.DataFrame) -> WhatIfResult:
        """One predict call; if the model fails on the swept missing values, sweep without."""
        try:
            return what_if(self.session, row, grid=self._grids)
        except ModelError as exc:
            swept_missing = any(is_missing(g[-1]) for g in self._grids.values() if len(g))
            if not swept_missing or row.isna().any(axis=None):
                raise
            self._grids = {f: g[[not is_missing(v) for v in g]] for f, g in self._grids.items()}
            self._note = ("<div class='mld-warning' style='color:#8a5300'>⚠ The model fails on "
                          "missing values, so they are not swept: "
                          f"{html.escape(str(exc))}</div>")
            return what_if(self.session, row, grid=self._grids)

    def _render_prediction(self) -> None:
        s = self.session
        position = s.position(self.row)
        original = s.predictions()[position]
        now = self.result_.prediction
        lines = []
        for i, name in enumerate(s.output_names):
            label = format_score(s, name)
            delta = now[i] - original[i]
            sign = "+" if delta >= 0 else "−"
            change = "" if abs(delta) < 1e-12 else \
                f" <span class='mld-delta'>({sign}{abs(delta):.4f} from {original[i]:.4f})</span>"
            lines.append(f"<b>{html.escape(label)} = {now[i]:.4f}</b>{change}")
        changed = [c for c in s.features if not same(self.edited[c].iloc[0],
                                                      self._original[c].iloc[0])]
        note = f" · edited: {', '.join(map(html.escape, changed))}" if changed else ""
        truth = "" if s.y is None else f" · label {html.escape(str(s.y.iloc[position]))}"
        self.prediction_.value = (
            f"<div style='font-size:1.15em'>{'<br>'.join(lines)}</div>"
            f"<small>row {html.escape(str(self.row))}{truth}{note}</small>")
        for name, editor in self.editors_.items():
            if name in changed:
                editor.add_class("mld-changed")
                editor.layout.border = f"2px solid {_plots.AVERAGE}"
            else:
                editor.remove_class("mld-changed")
                editor.layout.border = None

    def _partial_dependence(self) -> dict[str, np.ndarray]:
        s = self.session

        def compute():
            rng = np.random.default_rng(0)
            n = min(self.pd_rows, len(s.X))
            rows = s.X.index[np.sort(rng.choice(len(s.X), size=n, replace=False))]
            return ice(s, list(rows), grid=self._grids).average()

        key = ("whatif-pd", self.pd_rows, tuple((f, len(g)) for f, g in self._grids.items()))
        return s.cached(key, compute)

    def _render_ice(self) -> None:
        feature = self.feature or self.session.features[0]
        spec = self.session.schema[feature]
        values = self._grids[feature]
        finite = np.array([not is_missing(v) for v in values])
        k = self.output
        curve = self.result_.ice.curve(feature, output=k)
        original = (self._original_ice or self.result_.ice).curve(feature, output=k)
        average = self._partial_dependence()[feature][:, k]
        current = self.edited[feature].iloc[0]
        categorical = spec.kind in ("categorical", "boolean")
        density_x, density_y = self._density(feature, values[finite], categorical)
        self._marks = _plots.draw_ice(
            self.ice_figure_, x=values[finite], categorical=categorical, edited=curve[finite],
            original=original[finite], average=average[finite],
            current_x=None if is_missing(current) else current,
            current_y=None if is_missing(current) else float(self.result_.prediction[k]),
            density_x=density_x, density_y=density_y,
            missing_y=float(curve[~finite][0]) if (~finite).any() else None,
            y_label=format_score(self.session, self.session.output_names[k]), x_label=feature)
        self.ice_figure_.title = f"ICE of {feature} for row {self.row}"

    def _density(self, feature: str, values: np.ndarray, categorical: bool):
        column = self.session.X[feature]
        if categorical:
            counts = self.session.cached(("value_counts", feature), column.value_counts)
            return list(values), [int(counts.get(v, 0)) for v in values]
        lo, hi = float(np.min(values)), float(np.max(values))

        def histogram():
            data = column.to_numpy(dtype=float)
            counts, edges = np.histogram(data[np.isfinite(data)], bins=30, range=(lo, hi))
            return (edges[:-1] + edges[1:]) / 2, counts

        return self.session.cached(("histogram", feature, lo, hi), histogram)

    def _render_sensitivity(self) -> None:
        ranges = self.result_.ice.ranges(output=self.output)
        self._bars.scales["x"].domain = list(ranges.index[::-1])  # largest on top
        with self._bars.hold_sync():
            self._bars.x = list(ranges.index)
            self._bars.y = ranges.to_numpy()

    def _render_history(self) -> None:
        if not self.history:
            self.history_.value = "<i>no edits yet</i>"
            return
        rows = "".join(
            f"<tr><td>{i + 1}</td><td>{html.escape(h['feature'])}</td>"
            f"<td>{html.escape(fmt(h['old']))} → {html.escape(fmt(h['new']))}</td>"
            f"<td>{h['prediction']:.4f}</td></tr>" for i, h in enumerate(self.history))
        self.history_.value = ("<table><tr><th>#</th><th>feature</th><th>change</th>"
                               f"<th>prediction</th></tr>{rows}</table>")

    def _show_error(self, text: str) -> None:
        self.message_.value = (f"<div class='mld-error' style='color:#b00020'>⚠ "
                               f"{html.escape(text)}</div>")

    def _sync_editors(self, features: list[str] | None = None) -> None:
        self._loading = True
        try:
            for name in features or self.session.features:
                value = self.edited[name].iloc[0]
                editor = self.editors_[name]
                missing = is_missing(value)
                if name in self.missing_:
                    self.missing_[name].value = missing
                    editor.disabled = missing
                    if not missing:
                        editor.value = float(value) if isinstance(editor, w.FloatText) \
                            else int(value)
                else:
                    editor.value = MISSING if missing else option(editor, value)
        finally:
            self._loading = False

    # -- event handlers (thin) -----------------------------------------------------------
    def _on_editor(self, feature: str, value: Any) -> None:
        if self._loading:
            return
        if value == MISSING:
            value = np.nan
        elif isinstance(self.editors_[feature], w.Dropdown):
            value = self.editors_[feature].options[self.editors_[feature].index][1]
        try:
            self.set_value(feature, value)
        except SchemaError:
            pass  # shown in the widget by set_value

    def _on_missing(self, feature: str, missing: bool) -> None:
        if self._loading:
            return
        self.editors_[feature].disabled = missing
        self.set_value(feature, np.nan if missing else self.editors_[feature].value)

    def _on_row_box(self, change: dict) -> None:
        if self._loading or not change["new"].strip():
            return
        self.session.focus_row = parse_label(self.session.X.index, change["new"].strip())

    def _on_preset(self, change: dict) -> None:
        if change["new"]:
            self.pick(change["new"])
            self.preset_.value = ""

    def _on_bar_click(self, _mark: Any, event: dict) -> None:
        index = event.get("data", {}).get("index")
        if index is not None:
            self.feature = str(self._bars.x[index])

    def _on_focus(self, change: dict) -> None:
        if change["new"] is not None:
            self.load(change["new"])

    def _on_candidate(self, change: dict) -> None:
        proposal = change["new"]
        if proposal:
            try:
                self.load_values(proposal["base"], proposal["values"],
                                 source=proposal.get("source", ""))
            except SchemaError as exc:
                self._show_error(str(exc))

    def _on_model(self, _change: dict) -> None:
        self._reset_grids()
        self.load(self.row)

    def _on_schema(self, _change: dict) -> None:
        self._build_editors()
        self.load(self.row)

    def _on_shown(self, _change: dict) -> None:
        if self.result_ is not None and not self._loading:
            self._render_ice()
            if _change["name"] == "output":
                self._render_sensitivity()


def _errors(session: DebugSession) -> np.ndarray:
    """Size of each row's error: logloss for probabilities, |residual| otherwise."""
    if session.task != "regression" and session.adapter.output_kind == "probability":
        return residuals(session).to_numpy()
    kind = "absolute" if session.task == "regression" else "difference"
    return np.abs(residuals(session, kind).to_numpy())
