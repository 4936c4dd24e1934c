"""RowTable: a readable table of rows plus a list to pick one (picking calls back)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd


class RowTable(w.VBox):
    """Show rows as an HTML table and a pick list; picking a row calls ``on_pick(label)``.

    Parameters
    ----------
    on_pick : callable
        Called with the index label of the row the user picks.
    title : str
        Shown above the table.
    max_rows : int, default=200
        Rows listed (the table shows the first 25).
    css_class : str, default="mld-rows"
        Class of the component, for styling and tests.
    """

    def __init__(self, on_pick: Callable[[Any], None], *, title: str = "",
                 max_rows: int = 200, css_class: str = "mld-rows"):
        super().__init__()
        self.add_class(css_class)
        self.max_rows = max_rows
        self._on_pick = on_pick
        self.title_ = w.HTML(f"<b>{html.escape(title)}</b>" if title else "")
        self.picker_ = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.picker_.add_class("mld-row-picker")
        self.picker_.observe(self._picked, "value")
        self.table_ = w.HTML(layout=w.Layout(max_height="260px", overflow="auto"))
        self.table_.add_class("mld-row-table")
        self.children = [self.title_, self.picker_, self.table_]
        self.frame = pd.DataFrame()

    def show(self, frame: pd.DataFrame, *, label_columns: tuple[str, ...] = (),
             note: str = "") -> None:
        """Show ``frame`` (indexed by row label); the pick list names rows by label_columns."""
        self.frame = frame.iloc[: self.max_rows]
        options = []
        for label, row in self.frame.iterrows():
            parts = [f"{c} {_short(row[c])}" for c in label_columns if c in row.index]
            options.append((" · ".join([f"row {label}", *parts]), label))
        with self.picker_.hold_trait_notifications():
            self.picker_.options = options
            self.picker_.value = None
        shown = self.frame.iloc[:25]
        header = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["row", *shown.columns])
        body = "".join(
            "<tr>" + f"<td>{html.escape(str(label))}</td>" + "".join(
                f"<td>{html.escape(_short(v))}</td>" for v in row.to_numpy()) + "</tr>"
            for label, row in shown.iterrows())
        more = f"<small>{html.escape(note)}</small>" if note else ""
        self.table_.value = (f"{more}<table style='font-size:0.85em'><tr>{header}</tr>{body}"
                             "</table>")

    def follow(self, session: Any) -> None:
        """Clear the pick when ``session.focus_row`` moves elsewhere (re-picking then loads it)."""
        session.observe(self._on_focus, "focus_row")

    def _on_focus(self, change: dict) -> None:
        if self.picker_.value is not None and self.picker_.value != change["new"]:
            self.picker_.value = None

    def _picked(self, change: dict) -> None:
        if change["new"] is not None:
            self._on_pick(change["new"])


def _short(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "missing" if np.isnan(value) else f"{value:.4g}"
    return str(value)
