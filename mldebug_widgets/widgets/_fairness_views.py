"""The fairness slicer's views: the group table, the before/after table, the two charts."""

from __future__ import annotations

import html
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd

from . import _plots

BAND = (0.8, 1.25)
RED = " style='color:#b00020;font-weight:bold'"
#: the columns of the group table, per task (the chart metric's interval and the ratios follow)
SHOWN = {
    "binary": ("count", "selection_rate", "accuracy", "tpr", "fpr", "precision", "fnr"),
    "multiclass": ("count", "prevalence", "selection_rate", "accuracy", "tpr", "fpr",
                   "precision"),
    "regression": ("count", "mae", "rmse", "mean_prediction", "mean_label"),
}
COMPARED = ("selection_rate", "accuracy", "tpr", "fpr", "air")


def name(group: Any) -> str:
    """Return a group's display name (``"2 & [0, 30)"`` for an intersection)."""
    if isinstance(group, tuple):
        return "overall" if set(group) == {"overall"} else " & ".join(map(str, group))
    return str(group)


def _cell(value: Any, column: str) -> str:
    if isinstance(value, str):
        return html.escape(value)
    if value is None or not np.isfinite(value):
        return "NaN"
    return f"{int(value):,}" if column == "count" else f"{value:.3f}"


def group_table(table: pd.DataFrame, shown: tuple, reference: Any, flagged: pd.DataFrame,
                metric: str, ratio_columns: tuple, min_support: int) -> str:
    """Return the group table as HTML: flagged ratios in red, the chart metric's 95 % interval."""
    low, high = f"{metric}_low", f"{metric}_high"
    columns = [*shown, *ratio_columns]
    head = "".join(f"<th>{c}</th>" for c in ["group", *columns])
    head += f"<th>{html.escape(metric)} 95% CI</th><th>note</th>" if low in table else \
        "<th>note</th>"
    rows = []
    flag_row = {g: i for i, g in enumerate(flagged.index)}  # positions: no .loc per cell
    flag_col = {c: j for j, c in enumerate(flagged.columns)}
    flags = flagged.to_numpy()
    keys = [c for c in dict.fromkeys([*columns, "count", low, high]) if c in table]
    values = table[keys].to_numpy(dtype=np.float64)  # one block: no Series per column
    data = {c: values[:, j] for j, c in enumerate(keys)}
    for i, group in enumerate(table.index):
        cells = []
        at = flag_row.get(group)
        for c in columns:
            if c in flag_col and at is None:
                cells.append("<td></td>")  # the overall row is not compared with the reference
                continue
            red = c in flag_col and bool(flags[at, flag_col[c]])
            cells.append(f"<td{RED if red else ''}>{_cell(data[c][i], c)}</td>")
        if low in data:
            cells.append(f"<td>[{_cell(data[low][i], low)}, {_cell(data[high][i], high)}]</td>")
        small = at is not None and data["count"][i] < min_support
        note = f"fewer than {min_support} rows: unreliable" if small else ""
        cells.append(f"<td{RED if small else ''}>{note}</td>")
        label = html.escape(name(group)) + (" (reference)" if group == reference else "")
        rows.append(f"<tr><td>{label}</td>{''.join(cells)}</tr>")
    return (f"<table class='mld-fairness-rows'><tr>{head}</tr>{''.join(rows)}</table>"
            f"<small>disparity = {html.escape(metric)} ÷ reference; AIR = favourable rate ÷ "
            f"reference; red: outside {BAND[0]}–{BAND[1]}; NaN: undefined (zero "
            "denominator)</small>")


def before_after(before: pd.DataFrame, after: pd.DataFrame, label: str) -> str:
    """Per group, each compared metric before → after a remediation."""
    columns = [c for c in COMPARED if c in before and c in after]
    head = "".join(f"<th>{c}</th>" for c in ["group", *columns])
    rows = []
    for group in after.index:
        if group not in before.index:
            continue
        cells = "".join(
            f"<td>{_cell(before.loc[group, c], c)} → <b>{_cell(after.loc[group, c], c)}</b></td>"
            for c in columns)
        rows.append(f"<tr><td>{html.escape(name(group))}</td>{cells}</tr>")
    return (f"<b>Before → after</b> <small>({html.escape(label)})</small>"
            f"<table class='mld-before-after-rows'><tr>{head}</tr>{''.join(rows)}</table>")


def cohort(table: pd.DataFrame, shown: tuple, everyone: pd.DataFrame | None) -> str:
    """Return the selected cohort's group table, each rate beside its value on all rows."""
    head = "".join(f"<th>{c}</th>" for c in ["group", *shown])
    rows = []
    for group, row in table.iterrows():
        cells = []
        for c in shown:
            text = _cell(row[c], c)
            if c != "count" and everyone is not None and group in everyone.index:
                text += f" <small>(all {_cell(everyone.loc[group, c], c)})</small>"
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr><td>{html.escape(name(group))}</td>{''.join(cells)}</tr>")
    n = int(table["count"].iloc[-1])
    return (f"<b>Selected cohort</b> ({n:,} rows, at the same thresholds; in brackets: all rows)"
            f"<table class='mld-cohort-rows'><tr>{head}</tr>{''.join(rows)}</table>")


class DisparityChart:
    """Bars of each group's ratio to the reference, with the parity band."""

    def __init__(self) -> None:
        x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0)
        self.bars = bq.Bars(x=[], y=[], scales={"x": x_scale, "y": y_scale},
                            colors=[_plots.EDITED], padding=0.3)
        self.band = bq.Lines(x=[], y=[], scales={"x": x_scale, "y": y_scale},
                             colors=[_plots.MARKER], line_style="dashed")
        self.figure = bq.Figure(
            marks=[self.bars, self.band], axes=[
                bq.Axis(scale=x_scale), bq.Axis(scale=y_scale, side="left", tick_format=".2~g",
                                                label="ratio to reference")],
            title="", animation_duration=0,
            fig_margin=dict(top=40, bottom=60, left=60, right=20),
            layout=w.Layout(width="50%", min_width="320px", height="280px"))
        self.figure.add_class("mld-fairness-chart")

    def draw(self, names: list[str], ratios: np.ndarray, metric: str, reference: str) -> None:
        """Draw one bar per group (NaN ratios as 0) and the band."""
        with self.bars.hold_sync():
            self.bars.x, self.bars.y = names, np.nan_to_num(ratios, nan=0.0)
        with self.band.hold_sync():
            self.band.x = [names[0], names[-1], names[-1], names[0]]
            self.band.y = [BAND[0], BAND[0], BAND[1], BAND[1]]
        self.figure.title = (f"{metric} of each group ÷ {reference} "
                             f"(flagged outside {BAND[0]}–{BAND[1]})")


class TradeoffChart:
    """Accuracy against the worst AIR: the shared-threshold curve, the current rule, a plan."""

    def __init__(self) -> None:
        x_scale, y_scale = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale()
        scales = {"x": x_scale, "y": y_scale}
        self.curve = bq.Lines(x=[], y=[], scales=scales, colors=[_plots.AVERAGE],
                              labels=["one threshold for all"], display_legend=True)
        self.rule = bq.Lines(x=[BAND[0], BAND[0]], y=[0, 1], scales=scales,
                             colors=[_plots.MARKER], line_style="dashed")
        self.current = bq.Scatter(x=[], y=[], scales=scales, colors=[_plots.EDITED],
                                  default_size=80, labels=["current thresholds"],
                                  display_legend=True)
        self.plan = bq.Scatter(x=[], y=[], scales=scales, colors=["#2ca02c"], marker="diamond",
                               default_size=80, labels=["optimised plan"], display_legend=True)
        self.figure = bq.Figure(
            marks=[self.curve, self.rule, self.current, self.plan], axes=[
                bq.Axis(scale=x_scale, label="worst AIR (min over groups of min(r, 1/r))"),
                bq.Axis(scale=y_scale, side="left", tick_format=".3f", label="accuracy")],
            title="accuracy / fairness trade-off", animation_duration=0,
            legend_location="bottom-left",
            fig_margin=dict(top=40, bottom=60, left=70, right=20),
            layout=w.Layout(width="50%", min_width="320px", height="280px"))
        self.figure.add_class("mld-tradeoff")

    def draw_curve(self, curve: pd.DataFrame) -> None:
        """Draw the shared-threshold curve (points with an undefined AIR are left out)."""
        ok = curve["worst_air"].notna() & curve["accuracy"].notna()
        with self.curve.hold_sync():
            self.curve.x = curve["worst_air"][ok].to_numpy()
            self.curve.y = curve["accuracy"][ok].to_numpy()
        accuracy = curve["accuracy"][ok]
        if len(accuracy):
            self.rule.y = [float(accuracy.min()), float(accuracy.max())]

    def mark(self, scatter: bq.Scatter, air: float, accuracy: float) -> None:
        """Place the current rule or the plan (nothing when undefined)."""
        finite = np.isfinite(air) and np.isfinite(accuracy)
        with scatter.hold_sync():
            scatter.x, scatter.y = ([air], [accuracy]) if finite else ([], [])
