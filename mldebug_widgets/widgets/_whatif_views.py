"""The what-if editor's views: the edited row's result rendered into the panel's widgets.

``_Views`` is mixed into :class:`~mldebug_widgets.widgets.whatif.WhatIfEditor`: the
prediction text with its change from the data row (and the edited editors marked), the rules
check, the ICE plot (edited and original curves, partial dependence, data density), the
per-feature sensitivity bars, the edit history and the error line. It only draws: the
``WhatIfResult`` it renders is computed in ``whatif``.
"""

from __future__ import annotations

import html

import numpy as np

from ..analysis import check_row, ice
from ..schema import is_missing
from . import _plots
from ._common import format_score
from ._editors import fmt, same
from .assertions import violations_html


class _Views:
    """Rendering of ``result_`` into the panel's widgets (a ``WhatIfEditor`` mixin)."""

    # -- drawing -------------------------------------------------------------------------
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
