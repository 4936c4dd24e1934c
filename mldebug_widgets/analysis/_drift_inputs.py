"""Input checks of :mod:`~mldebug_widgets.analysis.monitoring`: batches, options, feature kinds.

The error messages (constants, so tests share the text), :func:`check_batches` (the two
frames, or a session's rows as reference, and the features to compare), :func:`check_options`
(``bins``, ``alpha``, ``correction``), :func:`feature_kinds` (numeric or categorical per
feature, from the schema or the dtypes) and the two column helpers shared by the drift
statistics and the anomaly encoder (``_plain``: categorical dtype as object; ``_sorted``:
categories in order, by ``str`` when they do not compare).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

_KINDS = {"numeric": "numeric", "integer": "numeric", "categorical": "categorical",
          "boolean": "categorical"}

NOT_A_FRAME = "{name} must be a pandas DataFrame; got {type}. Wrap it: pandas.DataFrame(...)."
EMPTY_BATCH = "the {name} batch is empty (0 rows); pass at least one row to compare."
BOTH_REFERENCES = (
    "pass either a reference frame or session= (whose rows are the reference), not both: "
    "drift(current=batch, session=session) or drift(reference, batch)."
)
NO_REFERENCE = "pass a reference frame, or session= to use the session's rows as reference."
COLUMN_MISMATCH = (
    "reference and current have different columns: missing from current {missing}, not in "
    "reference {extra}. Align the batches, or pass features=[...] to compare shared columns."
)
SESSION_COLUMNS = (
    "current lacks columns of session.X that the model needs: {missing}; pass a batch with "
    "every column of session.X."
)
UNKNOWN_FEATURES = "features {names} are not columns of both batches; columns are {columns}."
BAD_BINS = "bins must be an integer >= 2 (e.g. bins=10 for deciles); got {bins!r}."
BAD_ALPHA = "alpha must be a number between 0 and 1 (e.g. alpha=0.05); got {alpha!r}."
BAD_CORRECTION = "correction must be 'bonferroni' or 'bh'; got {correction!r}."
NOT_NUMERIC = (
    "{name!r} is numeric but the {batch} column has dtype {dtype}; convert it "
    "(pandas.to_numeric) or declare it categorical: schema={{{name!r}: {{'kind': "
    "'categorical'}}}}."
)


def _sorted(values: Any) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _plain(column: pd.Series) -> pd.Series:
    return column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column


def feature_kinds(reference: pd.DataFrame, current: pd.DataFrame, features: list[str],
                  schema: Any) -> dict[str, str]:
    """Return ``"numeric"`` or ``"categorical"`` per feature, from the schema or the dtypes.

    Examples
    --------
    >>> ref = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [True, False]})
    >>> feature_kinds(ref, ref, ["a", "b", "c"], {"a": {"kind": "categorical"}})
    {'a': 'categorical', 'b': 'categorical', 'c': 'categorical'}
    """
    kinds = {}
    for name in features:
        spec = schema.get(name) if schema is not None else None
        declared = spec.kind if hasattr(spec, "kind") else (spec or {}).get("kind")
        if declared is not None and declared not in _KINDS:
            raise ValueError(f"kind of {name!r} must be one of {sorted(_KINDS)}; "
                             f"got {declared!r}.")
        column = reference[name]
        numeric = (pd.api.types.is_numeric_dtype(column)
                   and not pd.api.types.is_bool_dtype(column))
        kinds[name] = _KINDS[declared] if declared else ("numeric" if numeric else "categorical")
        for batch, frame in (("reference", reference), ("current", current)):
            col = frame[name]
            if (kinds[name] == "numeric" and not pd.api.types.is_numeric_dtype(col)
                    and col.notna().any()):
                raise TypeError(NOT_NUMERIC.format(name=name, batch=batch, dtype=col.dtype))
    return kinds


def check_batches(reference: Any, current: Any, session: Any, features: Sequence[str] | None
                  ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Validate the two batches (the session's rows as reference) and the features."""
    if session is not None:
        if reference is not None:
            raise ValueError(BOTH_REFERENCES)
        reference = session.X
    elif reference is None:
        raise ValueError(NO_REFERENCE)
    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(NOT_A_FRAME.format(name=name, type=type(frame).__name__))
        if frame.columns.has_duplicates:
            dup = list(frame.columns[frame.columns.duplicated()])
            raise ValueError(f"{name} has duplicate column names {dup}; make them unique.")
        if len(frame) == 0:
            raise ValueError(EMPTY_BATCH.format(name=name))
    if session is not None:
        missing = [c for c in session.features if c not in current.columns]
        if missing:
            raise ValueError(SESSION_COLUMNS.format(missing=missing))
    if features is None:
        missing = [c for c in reference.columns if c not in current.columns]
        extra = [c for c in current.columns if c not in reference.columns]
        if missing or extra:
            raise ValueError(COLUMN_MISMATCH.format(missing=missing, extra=extra))
        return reference, current, list(reference.columns)
    features = [features] if isinstance(features, str) else list(features)
    unknown = [f for f in features if f not in reference.columns or f not in current.columns]
    if unknown or not features:
        raise ValueError(UNKNOWN_FEATURES.format(names=unknown, columns=list(reference.columns)))
    return reference, current, features


def check_options(bins: Any, alpha: Any, correction: Any) -> None:
    """Raise ValueError for ``bins`` < 2, ``alpha`` outside (0, 1) or an unknown correction."""
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise ValueError(BAD_BINS.format(bins=bins))
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(BAD_ALPHA.format(alpha=alpha))
    if correction not in ("bonferroni", "bh"):
        raise ValueError(BAD_CORRECTION.format(correction=correction))
