"""The prototype row and the scored output of a search, checked once for every search."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Columns a search result adds to the features: a feature must not be named so.
RESERVED = frozenset({"prediction", "benchmark", "objective", "distance", "n_changed"})


def prototype_row(session: Any, row: Any) -> pd.DataFrame:
    """Return the prototype: a copy of row ``row`` of ``session.X``, or of a one-row frame."""
    clash = RESERVED.intersection(session.features)
    if clash:
        raise ValueError(f"features named {sorted(clash)} clash with the result's columns; "
                         "rename them before binding.")
    if isinstance(row, pd.Series):
        raise TypeError("row must be an index label of session.X or a one-row DataFrame; "
                        "got a Series (use series.to_frame().T).")
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise ValueError(f"row must be one row; got {len(row)}. Pass row.iloc[[i]].")
        missing = [c for c in session.features if c not in row.columns]
        if missing:
            raise ValueError(f"row lacks the features {missing}; pass a row of session.X.")
        return row[session.features].copy()
    return session.row(row)


def output_index(session: Any, output: Any) -> int:
    """Return the position of the scored output (a class name or position; None if one)."""
    names = list(session.output_names)
    if output is None:
        if len(names) == 1:
            return 0
        raise ValueError(f"the model has {len(names)} outputs; choose one with output=, "
                         f"one of {names}.")
    if output in names:
        return names.index(output)
    if isinstance(output, int | np.integer) and 0 <= output < len(names):
        return int(output)
    raise ValueError(f"unknown output {output!r}; choose one of {names}.")

