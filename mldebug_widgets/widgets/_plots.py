"""bqplot figure builders for the widgets: small, bounded payloads only."""

from __future__ import annotations

import bqplot as bq
import numpy as np

EDITED = "#1f77b4"
ORIGINAL = "#8c8c8c"
AVERAGE = "#ff7f0e"
MARKER = "#d62728"
DENSITY = "#c7c7c7"


def _figure(title: str, css_class: str, **layout) -> bq.Figure:
    fig = bq.Figure(title=title, marks=[], axes=[], animation_duration=0,
                    fig_margin=dict(top=40, bottom=45, left=75, right=20),
                    layout={"width": "100%", "height": "300px", **layout})
    fig.add_class(css_class)
    return fig


def ice_figure() -> bq.Figure:
    """Make an empty figure for one feature's ICE curve; fill it with :func:`draw_ice`."""
    return _figure("", "mld-ice")


def draw_ice(fig: bq.Figure, *, x, categorical: bool, edited, original, average,
             current_x, current_y, density_x, density_y, missing_y=None,
             y_label: str = "prediction", x_label: str = "") -> dict:
    """Redraw ``fig`` with the curves of one feature; return its marks by role.

    The data density is drawn behind the curves on its own scale; a missing-value point,
    which has no place on the x axis, is drawn as a dotted horizontal line.
    """
    xs = bq.OrdinalScale() if categorical else bq.LinearScale()
    ys = bq.LinearScale()
    ds = bq.LinearScale(min=0)
    x = [str(v) for v in x] if categorical else np.asarray(x, dtype=float)
    if categorical:
        density = bq.Bars(x=[str(v) for v in density_x], y=density_y,
                          scales={"x": xs, "y": ds}, colors=[DENSITY], opacities=[0.5],
                          padding=0.4)
    else:
        density = bq.Lines(x=density_x, y=density_y, scales={"x": xs, "y": ds},
                           colors=[DENSITY], fill="bottom", fill_opacities=[0.4],
                           stroke_width=0)
    marks = {
        "density": density,
        "average": bq.Lines(x=x, y=average, scales={"x": xs, "y": ys}, colors=[AVERAGE],
                            stroke_width=2, labels=["partial dependence"],
                            marker="circle" if categorical else None),
        "original": bq.Lines(x=x, y=original, scales={"x": xs, "y": ys}, colors=[ORIGINAL],
                             line_style="dashed", labels=["original row"]),
        "edited": bq.Lines(x=x, y=edited, scales={"x": xs, "y": ys}, colors=[EDITED],
                           stroke_width=3, labels=["this row"],
                           marker="circle" if categorical else None),
        "missing": bq.Lines(x=[x[0], x[-1]], y=[missing_y, missing_y] if missing_y is not None
                            else [np.nan, np.nan], scales={"x": xs, "y": ys},
                            colors=[EDITED], line_style="dotted", labels=["if missing"],
                            visible=missing_y is not None),
        "current": bq.Scatter(
            x=[] if current_y is None else [str(current_x) if categorical else current_x],
            y=[] if current_y is None else [current_y], scales={"x": xs, "y": ys},
            colors=[MARKER], default_size=80),
    }
    with fig.hold_sync():
        fig.marks = list(marks.values())
        fig.axes = [bq.Axis(scale=xs, label=x_label, grid_lines="none"),
                    bq.Axis(scale=ys, side="left", label=y_label, label_offset="50px",
                            tick_format=".3~g", grid_lines="dashed")]
    return marks


LEGEND = (
    f"<span style='color:{EDITED}'>━ this row</span> &nbsp; "
    f"<span style='color:{ORIGINAL}'>╌ original row</span> &nbsp; "
    f"<span style='color:{AVERAGE}'>━ partial dependence</span> &nbsp; "
    f"<span style='color:{EDITED}'>┈ if missing</span> &nbsp; "
    f"<span style='color:{MARKER}'>● current value</span> &nbsp; "
    f"<span style='color:#999'>▇ data density</span>"
)


def sensitivity_figure(on_click, n_features: int) -> tuple[bq.Figure, bq.Bars]:
    """Horizontal bars of how far each feature can move the prediction; click picks one.

    Set the x scale's domain to the features in drawing order, bottom to top (bqplot applies
    an ordinal scale's ``reverse`` only at the first draw, so the order is given explicitly).
    """
    xs, ys = bq.OrdinalScale(), bq.LinearScale(min=0)
    bars = bq.Bars(x=[], y=[], scales={"x": xs, "y": ys}, orientation="horizontal",
                   colors=[EDITED], padding=0.25)
    bars.on_element_click(on_click)
    height = max(340, 16 * n_features + 80)
    fig = _figure("ICE range per feature (click a bar)", "mld-sensitivity", height=f"{height}px")
    fig.fig_margin = dict(top=40, bottom=40, left=110, right=20)
    fig.marks = [bars]
    fig.axes = [bq.Axis(scale=xs, side="left", grid_lines="none"),
                bq.Axis(scale=ys, tick_format=".2~g", grid_lines="dashed")]
    return fig, bars
