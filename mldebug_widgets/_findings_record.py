"""The record of one finding: kind, note, created-at and canonical JSON data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import _findings_values as V

#: the kinds of findings, in the order of :meth:`Findings.to_frames`
KINDS = ("row", "cohort", "slice", "find", "thresholds")


@dataclass(frozen=True)
class Finding:
    """One marked finding: what, when, the user's note and the numbers measured then.

    Attributes
    ----------
    kind : {"row", "cohort", "slice", "find", "thresholds"}
        What was marked.
    note : str
        The user's words.
    created : str
        When it was marked (ISO 8601, UTC).
    data : mapping
        Canonical, read-only JSON data: the row, labels, predicates or thresholds, and the
        predictions and metrics measured when it was marked (see the ``add_*`` methods).

    Examples
    --------
    >>> f = Finding("slice", "noisy", "2024-01-01T00:00:00+00:00", {"size": 3})
    >>> f.to_dict()["data"], Finding.from_dict(f.to_dict()) == f
    ({'size': 3}, True)
    """

    kind: str
    note: str
    created: str
    data: Mapping[str, Any] = field(repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}.")
        if not isinstance(self.note, str):
            raise TypeError(f"note must be a string; got {type(self.note).__name__}.")
        object.__setattr__(self, "data", V.canon(dict(self.data), what="finding data"))

    @property
    def summary(self) -> str:
        """Describe the finding and its headline number in one line."""
        d = self.data
        if self.kind in ("row", "find"):
            where_ = f"row {d['base']!r}" if d.get("base") is not None else "a synthetic row"
            changed = ", ".join(f"{k} = {'missing' if v is None else _short(v)}"
                                for k, v in d["changed"].items())
            score = "raises" if d.get("error") else f"scores {_short(d['prediction'][0])}"
            return f"{where_}{' with ' + changed if changed else ''} {score}"
        if self.kind in ("cohort", "slice"):
            name = f"{d['size']} rows" if self.kind == "cohort" else d["rule"]
            return f"{name}: {d['metric']} {_short(d['value'])} (all rows {_short(d['overall'])})"
        return (f"thresholds on {' × '.join(d['group_columns'])}: worst AIR "
                f"{_short(d['worst_air'])}, accuracy {_short(d['accuracy'])}")

    def to_dict(self) -> dict:
        """Return the plain JSON form (strict JSON: infinities are tagged).

        Examples
        --------
        >>> Finding("cohort", "", "t", {"value": float("inf")}).to_dict()["data"]
        {'value': {'$float': 'inf'}}
        """
        return {"kind": self.kind, "note": self.note, "created": self.created,
                "data": V.thaw(self.data)}

    @classmethod
    def from_dict(cls, record: Mapping) -> Finding:
        """Rebuild a finding from :meth:`to_dict` (or its JSON).

        Examples
        --------
        >>> Finding.from_dict({"kind": "slice", "note": "", "created": "t", "data": {}}).kind
        'slice'
        """
        try:
            return cls(record["kind"], record["note"], record["created"],
                       V.unthaw(record["data"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a finding record ({exc}): it needs kind, note, created and "
                             "data, as Finding.to_dict() writes them.") from None


def _as_mapping(values: Any) -> dict:
    if isinstance(values, pd.DataFrame):
        if len(values) != 1:
            raise ValueError(f"pass one row; got a frame of {len(values)} rows.")
        return {str(c): values[c].iloc[0] for c in values.columns}
    if isinstance(values, pd.Series):
        return {str(k): v for k, v in values.items()}
    if isinstance(values, Mapping):
        return dict(values)
    raise TypeError(f"values must be a dict, a Series or a one-row DataFrame; got "
                    f"{type(values).__name__}.")


def _typed(value: Any, column: pd.Series) -> Any:
    """Make a whole float of an integer column an int (searches return float frames)."""
    if isinstance(value, float) and value.is_integer() and \
            pd.api.types.is_integer_dtype(column.dtype):
        return int(value)
    return value


def _same(a: Any, b: Any) -> bool:
    """Compare canonical cell values: missing equals missing, 1 equals 1.0, True is not 1."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _short(value: Any) -> str:
    if value is None:
        return "NaN"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
