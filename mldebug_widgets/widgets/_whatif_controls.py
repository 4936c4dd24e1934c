"""The what-if editor's controls: its widgets built and laid out, the editors kept in step.

``_Controls`` is mixed into :class:`~mldebug_widgets.widgets.whatif.WhatIfEditor`: ``_build``
makes the row box, presets, one editor (and missing toggle) per feature, the ICE and
sensitivity figures and the history / code / explain accordion; ``_sync_editors`` writes the
edited row into the editors; the ``_on_*`` handlers turn widget events into the panel's public
actions (``set_value``, ``pick``, the shown feature). It relies on the state and actions
defined in ``whatif``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import numpy as np
import traitlets
from ipywidgets.widgets.widget_bool import ToggleButtonStyle
from ipywidgets.widgets.widget_description import DescriptionStyle
from ipywidgets.widgets.widget_string import LabelStyle

from .._errors import SchemaError
from ..schema import is_missing
from . import _plots
from ._common import target_name
from ._editors import MISSING, css_name, make_editor, option, parse_label
from ._explain import ExplainPanel

PRESETS = ("highest prediction", "lowest prediction", "largest error", "random")


class _Controls:
    """The editor's widgets, their layout and their event handlers (a ``WhatIfEditor`` mixin)."""

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

    def _on_shown(self, _change: dict) -> None:
        if self.result_ is not None and not self._loading:
            self._render_ice()
            if _change["name"] == "output":
                self._render_sensitivity()
