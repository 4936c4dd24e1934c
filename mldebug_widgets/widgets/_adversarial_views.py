"""The adversarial panel's views: the surface heat map, the found-rows table, the attack report."""

from __future__ import annotations

import html
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_description import DescriptionStyle

from ..schema import is_missing
from . import _plots
from ._editors import same

CHANGED = "background:#fde0c5;font-weight:bold"
ERROR = "<span class='mld-error' style='color:#b00020'>{}</span>"
WARNING = "<span class='mld-warning' style='color:#8a5300'>⚠ {}</span>"


def _text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "NaN" if is_missing(value) else f"{value:.4g}"
    return "NaN" if is_missing(value) else html.escape(str(value))


def found_table(rows: pd.DataFrame, prototype: pd.DataFrame, features: list[str],
                extra: list[str], prototype_extra: dict) -> str:
    """Return found rows as HTML: the prototype first, changed cells highlighted.

    ``features`` are the columns shown (the changed ones), ``extra`` the scores after them
    (the prototype's in ``prototype_extra``).
    """
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["#", *features, *extra])
    base = prototype.iloc[0]
    lines = [f"<tr><td>prototype</td>{''.join(f'<td>{_text(base[f])}</td>' for f in features)}"
             + "".join(f"<td>{_text(prototype_extra.get(c, np.nan))}</td>" for c in extra)
             + "</tr>"]
    for i, (_, row) in enumerate(rows.iterrows()):
        cells = [f"<td style='{CHANGED}'>{_text(row[f])}</td>" if not same(row[f], base[f])
                 else f"<td>{_text(row[f])}</td>" for f in features]
        cells += [f"<td>{_text(row[c])}</td>" for c in extra]
        lines.append(f"<tr><td>{i}</td>{''.join(cells)}</tr>")
    return (f"<table class='mld-found-rows'><tr>{head}</tr>{''.join(lines)}</table>"
            "<small>highlighted: changed from the prototype</small>")


def changed_features(rows: pd.DataFrame, prototype: pd.DataFrame, limit: int = 12) -> list[str]:
    """Return the features any found row changed, in column order (at most ``limit``)."""
    base = prototype.iloc[0]
    changed = [f for f in prototype.columns
               if any(not same(v, base[f]) for v in rows[f])] if len(rows) else []
    return changed[:limit]


class ConstraintsEditor:
    """The constraints editor: a lock checkbox per feature, (min, max) boxes per number.

    A feature is locked when the schema makes it immutable; numbers get the observed range.
    The rows (some 270 widget models on the demo data) are built when the accordion is first
    opened, or when code asks for :attr:`locks` or :attr:`ranges`: until then the editor
    holds the schema's defaults and the page has nothing more to draw.
    """

    def __init__(self, session: Any):
        self.session = session
        self._locks: dict[str, w.Checkbox] | None = None
        self._ranges: dict[str, tuple[w.FloatText, w.FloatText]] = {}
        self.widget = w.Accordion(children=[w.VBox()], titles=("constraints",),
                                  selected_index=None)
        self.widget.add_class("mld-constraints")
        self.widget.observe(lambda c: c["new"] is not None and self.build(), "selected_index")

    @property
    def locks(self) -> dict[str, w.Checkbox]:
        """Feature → its lock checkbox (ticked: never changed by a search)."""
        self.build()
        return self._locks

    @property
    def ranges(self) -> dict[str, tuple[w.FloatText, w.FloatText]]:
        """Numeric feature → its (min, max) boxes."""
        self.build()
        return self._ranges

    def build(self) -> None:
        """Build the rows (once)."""
        if self._locks is not None:
            return
        schema, features = self.session.schema, self.session.features
        lock_layout, range_layout = w.Layout(width="150px"), w.Layout(width="110px")
        lock_style, range_style, row_layout = CheckboxStyle(), DescriptionStyle(), w.Layout()
        self._locks = {f: w.Checkbox(value=not schema[f].mutable, description=f, indent=False,
                                     layout=lock_layout, style=lock_style) for f in features}
        self._ranges = {f: tuple(w.FloatText(value=float(v), layout=range_layout,
                                             style=range_style)
                                 for v in (schema[f].min, schema[f].max)) for f in features
                        if schema[f].kind in ("numeric", "integer")
                        and schema[f].min is not None}
        rows = [w.HBox([self._locks[f], *self._ranges.get(f, ())], layout=row_layout)
                for f in features]
        self.widget.children[0].children = [w.HTML(
            "<small>ticked: locked (never changed); numbers: the searched range (a changed "
            "range replaces the data range widened by the margin)</small>"), *rows]

    def values(self) -> tuple[list[str], dict[str, tuple[float, float]]]:
        """Return the locked features and the ranges changed from the schema's.

        Raises
        ------
        ValueError
            If a range is empty (min > max).
        """
        schema = self.session.schema
        if self._locks is None:  # never opened: the schema's defaults
            return [f for f in self.session.features if not schema[f].mutable], {}
        ranges = {f: (lo.value, hi.value) for f, (lo, hi) in self._ranges.items()
                  if (lo.value, hi.value) != (schema[f].min, schema[f].max)}
        for f, (lo, hi) in ranges.items():
            if not lo <= hi:
                raise ValueError(f"the range of {f} is empty ({lo:g} > {hi:g}); set min ≤ max "
                                 "in the constraints editor.")
        return [f for f, box in self._locks.items() if box.value], ranges


def problems(result: Any) -> str:
    """Return the model's failures and non-finite scores in a search, as status HTML."""
    notes = []
    errors = dict(getattr(result, "errors", None) or {})
    exceptions = getattr(result, "exceptions", None)  # a random attack's, per input pattern
    if exceptions is not None and len(exceptions):
        errors = exceptions.groupby("message")["count"].sum().to_dict()
    if errors:
        first = str(max(errors, key=errors.get)).splitlines()[0][:200]
        notes.append(f"the model raised on {int(sum(errors.values())):,} rows, left out of "
                     f"the results: {first}")
    if getattr(result, "n_nonfinite", 0):
        notes.append(f"the model scored {result.n_nonfinite:,} rows NaN or inf, left out of "
                     "the results")
    return "".join("<br>" + WARNING.format(html.escape(n)) for n in notes)


def attack_report(result: Any) -> str:
    """Return the random attack's findings, ranges, skipped rows and exceptions as HTML."""
    def span(pair: tuple) -> str:
        return "none" if np.isnan(pair[0]) else f"{pair[0]:.4g} … {pair[1]:.4g}"

    findings = "".join(f"<li>{html.escape(line)}</li>" for line in result.summary())
    exceptions, skipped = result.exceptions, int(getattr(result, "n_skipped", 0))
    rows = "".join(
        f"<tr><td>{html.escape(str(r.pattern))}</td><td>{int(r.count):,}</td>"
        + (f"<td>{'' if pd.isna(r.rows_skipped) else f'{int(r.rows_skipped):,}'}</td>"
           if skipped else "")
        + f"<td>{html.escape(str(r.message))[:200]}</td></tr>"
        for r in exceptions.head(8).itertuples()) if len(exceptions) else ""
    table = ("<table class='mld-attack-errors'><tr><th>input pattern</th><th>rows</th>"
             + ("<th>not scored</th>" if skipped else "")
             + f"<th>model error</th></tr>{rows}</table>") if rows else "<i>no exceptions</i>"
    retired = result.retired["pattern"].tolist() if skipped else []
    not_scored = (
        f"<br><span class='mld-attack-skipped'>{skipped:,} rows not scored: each carries an "
        f"input pattern the model raised on in all of at least {result.skip_failing:,} scored "
        f"rows ({html.escape(', '.join(retired[:4]))}{', …' if len(retired) > 4 else ''}; "
        f"{len(retired)} pattern{'s' if len(retired) != 1 else ''}); skip_failing=None scores "
        "every row</span>") if skipped else ""
    return (f"<b>Random attack</b>: {len(result.frame) - skipped:,} rows scored "
            f"({result.n_queries:,} queries{', stopped' if result.cancelled else ''})"
            f"{not_scored}<br>"
            f"prediction range {span(result.prediction_range)}; without missing values "
            f"{span(result.range_without_missing)}; with missing values "
            f"{span(result.range_with_missing)}<br>"
            f"non-finite outputs: {result.n_nonfinite:,}; out of range: "
            f"{result.n_out_of_range:,}; exceptions: {result.n_errors:,}"
            f"<ul class='mld-attack-findings'>{findings}</ul>{table}")


class SurfaceMap:
    """A heat map of a 2-D prediction surface; a click on a cell calls ``on_cell(r, c)``."""

    def __init__(self, on_cell: Any) -> None:
        self.colors = bq.ColorScale(scheme="viridis")
        self.rows, self.columns = bq.OrdinalScale(), bq.OrdinalScale()  # low values: bottom
        self._on_cell = on_cell
        self.map = self._heatmap(np.zeros((2, 2)), np.arange(2.0), np.arange(2.0))
        self.row_axis = bq.Axis(scale=self.rows, side="left", label="",
                                label_offset="7ex")
        self.column_axis = bq.Axis(scale=self.columns, label="")
        self.figure = bq.Figure(
            marks=[self.map], axes=[self.column_axis, self.row_axis, bq.ColorAxis(
                scale=self.colors, side="right")],
            title="", animation_duration=0, fig_margin=dict(top=40, bottom=60, left=80,
                                                            right=80),
            layout=w.Layout(width="100%", max_width="640px", height="420px"))
        self.figure.add_class("mld-heatmap")

    def draw(self, surface: np.ndarray, row_values: np.ndarray, column_values: np.ndarray,
             row_name: str, column_name: str, title: str) -> None:
        """Draw ``surface`` (rows: ``row_values``, columns: ``column_values``)."""
        old, self.map = self.map, self._heatmap(
            np.where(np.isfinite(surface), surface, np.nan), _positions(row_values),
            _positions(column_values))
        self.figure.marks = [self.map]  # a new shape needs a new mark (traits check sizes)
        old.close()
        for axis, name, values in ((self.row_axis, row_name, row_values),
                                   (self.column_axis, column_name, column_values)):
            axis.label, axis.tick_format = _axis_label(name, values), _tick_format(values)
        self.figure.title = title

    def _heatmap(self, color: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> Any:
        mark = bq.GridHeatMap(color=color, row=rows, column=columns, scales={
            "row": self.rows, "column": self.columns, "color": self.colors})
        # bqplot's front end sends the cell's datum: rowNum / columnNum are its indices,
        # row / column its values on the axes
        mark.on_element_click(lambda _mark, event: self._on_cell(
            int(event["data"]["rowNum"]), int(event["data"]["columnNum"])))
        return mark


def _positions(values: np.ndarray) -> np.ndarray:
    """Numeric grid values as they are; categories (and missing) by position."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.arange(len(values), dtype=np.float64)
    return numbers.round(6) if np.isfinite(numbers).all() else np.arange(len(values),
                                                                         dtype=np.float64)


def _tick_format(values: np.ndarray) -> str | None:
    """Return a short d3 format for numeric grid values (57.1k, 1.14M, 0.25), else None."""
    if not _numeric(values) or not len(values):
        return None
    return ".3~s" if np.abs(np.asarray(values, dtype=np.float64)).max() >= 1e4 else ".4~g"


def _numeric(values: np.ndarray) -> bool:
    try:
        return bool(np.isfinite(np.asarray(values, dtype=np.float64)).all())
    except (TypeError, ValueError):
        return False


def _axis_label(name: str, values: np.ndarray) -> str:
    if _numeric(values):
        return name
    return f"{name}: " + ", ".join(f"{i}={_text(v)}" for i, v in enumerate(values))


class PredictionHistogram:
    """The random attack's prediction distribution, rows with and without missing values."""

    def __init__(self) -> None:
        x, y = bq.LinearScale(), bq.LinearScale(min=0)
        self.without = bq.Bars(x=[], y=[], scales={"x": x, "y": y}, colors=[_plots.EDITED],
                               opacities=[0.6], labels=["no missing value"],
                               display_legend=True, padding=0.05)
        self.with_missing = bq.Bars(x=[], y=[], scales={"x": x, "y": y},
                                    colors=[_plots.MARKER], opacities=[0.6],
                                    labels=["some missing value"], display_legend=True,
                                    padding=0.05)
        self.figure = bq.Figure(
            marks=[self.without, self.with_missing],
            axes=[bq.Axis(scale=x, label="prediction"),
                  bq.Axis(scale=y, side="left", label="share of rows",
                          tick_format=".0%")],
            title="prediction distribution under attack", animation_duration=0,
            legend_location="top", fig_margin=dict(top=40, bottom=50, left=70, right=20),
            layout=w.Layout(width="100%", max_width="640px", height="280px"))
        self.figure.add_class("mld-attack-histogram")

    def draw(self, prediction: np.ndarray, has_missing: np.ndarray, bins: int = 30) -> None:
        """Draw both distributions as shares of their own rows (30 common bins)."""
        finite = np.isfinite(prediction)
        if not finite.any():
            return
        edges = np.histogram_bin_edges(prediction[finite], bins=bins)
        centres = (edges[:-1] + edges[1:]) / 2
        for bars, part in ((self.without, finite & ~has_missing),
                           (self.with_missing, finite & has_missing)):
            counts = np.histogram(prediction[part], bins=edges)[0].astype(np.float64)
            with bars.hold_sync():
                bars.x, bars.y = centres, counts / max(counts.sum(), 1.0)
