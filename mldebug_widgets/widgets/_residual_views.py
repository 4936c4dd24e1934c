"""The residual explorer's plots: one bqplot panel per facet, its highlight, and its disposal.

A panel is a dict (``rows``, ``sample``, ``scatter``, ``highlight``, ``brush``, ``figure``):
grey density squares for every non-empty 60 × 40 cell of its rows, a bounded sample of them as
coloured points (the most extreme residuals plus a uniform sample), the selected rows drawn
over them, and a brush wired back to the explorer. Replaced panels are closed with every widget
they hold; ``largest`` orders the rows the explorer's tables show.
"""

from __future__ import annotations

from collections.abc import Callable

import bqplot as bq
import ipywidgets as w
import numpy as np
from bqplot.interacts import BrushSelector

from ..analysis.sampling import density_2d, display_sample
from . import _plots

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#ff7f0e"]


def facet_panel(title: str, rows: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                codes: np.ndarray | None, budget: int, small: bool, *, x_label: str,
                n_extreme: int, on_brush: Callable[[dict, dict], None]) -> dict:
    """Build the panel of ``rows`` (positions into ``xs``, ``ys``); ``on_brush(panel, change)``."""
    sample = rows[display_sample(ys[rows], max_points=budget,
                                 n_extreme=min(n_extreme, budget // 2))]
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
    brush.observe(lambda c, p=panel: on_brush(p, c), names=["brushing", "selected_x",
                                                            "selected_y"])
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


def highlight(panels: list[dict], selected: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> None:
    """Draw each panel's selected rows (a boolean mask over all rows) over its points."""
    for panel in panels:
        rows = panel["rows"][selected[panel["rows"]]]
        shown = rows[display_sample(ys[rows], max_points=500, n_extreme=100)] \
            if len(rows) else rows
        with panel["highlight"].hold_sync():
            panel["highlight"].x = xs[shown]
            panel["highlight"].y = ys[shown]


def largest(positions: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Return the ``k`` positions with the largest values, largest first.

    Examples
    --------
    >>> largest(np.arange(5), np.array([0.1, 3.0, -2.0, 3.0, 1.0]), 3).tolist()
    [1, 3, 4]
    """
    if len(positions) > k:
        keep = np.argpartition(-values[positions], k - 1)[:k]
        positions = np.sort(positions[keep])
    return positions[np.argsort(-values[positions], kind="stable")]


def close_tree(widget: w.Widget, seen: set[int]) -> None:
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
                close_tree(item, seen)
    widget.close()
