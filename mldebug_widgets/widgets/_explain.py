"""The what-if editor's explanation panel: native ALE (beside alibi's) and Anchors of the row."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd

from ..analysis import ale
from ..integrations import alibi as alibi_integration
from ..session import DebugSession
from . import _plots


class ExplainPanel(w.VBox):
    """ALE of the shown feature and an Anchors rule for the edited row, on demand.

    The native ALE needs nothing; with the ``alibi`` extra installed alibi's ALE is drawn
    over it (they agree) and Anchors explain the row. Without alibi the panel says how to
    install the extra.
    """

    def __init__(self, session: DebugSession, feature: Callable[[], str],
                 row: Callable[[], pd.DataFrame]):
        super().__init__()
        self.add_class("mld-explain")
        self.session, self._feature, self._row = session, feature, row
        self.ale_button_ = w.Button(description="ALE of this feature", icon="line-chart")
        self.ale_button_.on_click(lambda _: self.show_ale())
        self.anchor_button_ = w.Button(description="Anchors of this row", icon="anchor",
                                       disabled=session.task == "regression")
        self.anchor_button_.on_click(lambda _: self.show_anchor())
        self.note_ = w.HTML()
        self.note_.add_class("mld-explain-note")
        x, y = bq.LinearScale(), bq.LinearScale()
        self.native_ = bq.Lines(x=[], y=[], scales={"x": x, "y": y}, colors=[_plots.AVERAGE],
                                labels=["ALE (native)"], display_legend=True, marker="circle")
        self.alibi_ = bq.Lines(x=[], y=[], scales={"x": x, "y": y}, colors=[_plots.EDITED],
                               line_style="dashed", labels=["ALE (alibi)"],
                               display_legend=True, visible=False)
        self.x_axis_ = bq.Axis(scale=x, label="")
        self.figure_ = bq.Figure(marks=[self.native_, self.alibi_], axes=[
            self.x_axis_, bq.Axis(scale=y, side="left", label="effect",
                                  tick_format=".3f")],
            title="", animation_duration=0, legend_location="top-left",
            fig_margin=dict(top=40, bottom=45, left=70, right=20),
            layout=w.Layout(width="100%", height="260px"))
        self.figure_.add_class("mld-ale")
        install = "" if alibi_integration.available() else (
            "<small>alibi is not installed: the native ALE works; for Anchors and alibi's "
            "ALE install <code>mldebug-widgets[alibi]</code> in its own environment (alibi is "
            "BSL 1.1 licensed and needs numpy&lt;2, pandas&lt;3).</small>")
        # the figure joins the panel when first drawn (bqplot errors on a hidden figure)
        self.children = [w.HBox([self.ale_button_, self.anchor_button_]), self.note_,
                         w.HTML(install)]

    def show_ale(self) -> None:
        """Draw the ALE of the feature shown in the editor (and alibi's, when installed)."""
        feature, s = self._feature(), self.session
        try:
            frame = ale(s, feature)
        except ValueError as exc:
            self.note_.value = html.escape(str(exc))
            return
        first = frame[frame["output"] == frame["output"].iloc[0]]
        numeric = s.schema[feature].kind in ("numeric", "integer")
        values = first["value"].to_numpy(dtype=np.float64) if numeric else \
            np.arange(len(first), dtype=np.float64)
        with self.native_.hold_sync():
            self.native_.x, self.native_.y = values, first["ale"].to_numpy(dtype=np.float64)
        self.alibi_.visible = False
        note = f"ALE of {feature}: the average effect of moving it, centred on zero."
        if numeric and alibi_integration.available():
            both = alibi_integration.alibi_ale(s, feature)
            both = both[both["output"] == both["output"].iloc[0]]
            with self.alibi_.hold_sync():
                self.alibi_.x = values
                self.alibi_.y = both["alibi_ale"].to_numpy(dtype=np.float64)
            self.alibi_.visible = True
            note += f" alibi agrees to {both['difference'].abs().max():.1e}."
        elif not numeric:
            note += " Categories in order: " + ", ".join(map(str, first["value"])) + "."
        self.x_axis_.label = feature
        if self.figure_ not in self.children:
            self.children = (*self.children, self.figure_)
        self.note_.value = html.escape(note)

    def show_anchor(self) -> None:
        """Explain the edited row's predicted class with alibi's Anchors."""
        if not alibi_integration.available():
            self.note_.value = html.escape(alibi_integration.INSTALL)
            return
        try:
            result: Any = alibi_integration.anchor(self.session, self._row())
        except (ValueError, ImportError) as exc:
            self.note_.value = html.escape(str(exc))
            return
        self.note_.value = f"<b>Anchor</b>: {html.escape(str(result))}"
