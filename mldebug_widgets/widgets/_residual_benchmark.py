"""The residual explorer's Benchmark tab: what :class:`ResidualExplorer` inherits to compare.

A simple model (a regularised linear model or a depth-4 tree, in-sample or out-of-fold) is
fitted on the session's data in a thread; the tab shows both models' metrics side by side, how
the rows only one of them gets wrong differ from the rest, and those rows (largest residuals
first), which can be published as the selection. It relies on the explorer it is mixed into:
``session``, ``select_rows``, ``_focus``, ``_residuals`` and ``_label_columns``.
"""

from __future__ import annotations

import html
import threading

import ipywidgets as w
import numpy as np

from ..analysis import benchmark
from ..analysis.residuals import with_predictions
from ._residual_views import largest
from ._table import RowTable


class _BenchmarkTab:
    """The Benchmark tab (``benchmark_*_`` widgets, ``benchmark_``, ``run_benchmark``).

    A mixin of :class:`~mldebug_widgets.widgets.residuals.ResidualExplorer`.
    """

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
        order = largest(np.flatnonzero(result.mask(which)), ys, self.benchmark_table_.max_rows)
        frame = with_predictions(self.session, order).assign(residual=ys[order])
        self.benchmark_table_.show(frame, label_columns=self._label_columns(frame))
