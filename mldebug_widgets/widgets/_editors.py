"""Editor widgets for one feature, and the small value helpers the what-if editor needs."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
from ipywidgets.widgets.widget_description import DescriptionStyle

from ..schema import FeatureSpec, is_missing

MISSING = "(missing)"


def make_editor(spec: FeatureSpec, style: DescriptionStyle | None = None) -> w.Widget:
    """Return the editor matching the feature's kind: number box or dropdown.

    ``style`` may be one style model shared by many editors (fewer models on the page).
    """
    shared = {} if style is None else {"style": style}
    layout = w.Layout(width="150px")
    if spec.kind == "numeric":
        return w.FloatText(layout=layout, step=None, **shared)
    if spec.kind == "integer":
        return w.IntText(layout=layout, **shared)
    options = [(str(c), c) for c in spec.categories] + [(MISSING, MISSING)]
    return w.Dropdown(options=options, layout=layout, **shared)


def option(editor: w.Dropdown, value: Any) -> Any:
    """Return the dropdown option for ``value``, adding it if the schema did not know it."""
    for label, option in editor.options:
        if option == value or label == str(value):
            return option
    editor.options = [*editor.options, (str(value), value)]  # a value the schema did not know
    return value


def assign(frame: pd.DataFrame, feature: str, value: Any) -> pd.DataFrame:
    """Return a copy of a one-row frame with ``feature`` set (ints become float for NaN)."""
    out = frame.copy()
    column = out[feature]
    if is_missing(value) and pd.api.types.is_integer_dtype(column.dtype) and \
            isinstance(column.dtype, np.dtype):
        out[feature] = column.astype(np.float64)
    elif not is_missing(value) and pd.api.types.is_integer_dtype(column.dtype) and \
            isinstance(value, float) and not value.is_integer():
        out[feature] = column.astype(np.float64)
    out.loc[out.index[0], feature] = value
    return out


def same(a: Any, b: Any) -> bool:
    """Compare two cell values, with missing equal to missing."""
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def parse_label(index: pd.Index, text: str) -> Any:
    """Turn typed text into an index label (an int for an integer index)."""
    if pd.api.types.is_integer_dtype(index.dtype):
        try:
            return int(text)
        except ValueError:
            return text
    return text


def literal(value: Any) -> str:
    """Return Python source for a cell value (``np.nan`` for missing)."""
    if is_missing(value):
        return "np.nan"
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def fmt(value: Any) -> str:
    """Format a cell value for the history table."""
    if is_missing(value):
        return "missing"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def css_name(name: str) -> str:
    """Make a feature name safe as a CSS class suffix."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(name))
