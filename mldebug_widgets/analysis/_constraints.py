"""Search constraints: which features a search may change, and to which values.

Every search (grid, evolutionary, minimal flip, random attack) draws or edits candidate rows
under one :class:`Constraints`: immutable features keep the prototype's value, numbers stay
within the data range widened by a margin (the seed's rule ``min - |m*min| .. max + |m*max|``)
or a given range, integers stay whole, categories stay known values, and monotone features
only move one way from the prototype.

The rules are applied to many rows at once by ``_projection`` (vectorised), and the random
moves and distances (``sample``, ``mutate``, ``scales``, ``distance``) come from ``_mutation``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..schema import FeatureSchema, FeatureSpec
from ._mutation import _Moves
from ._projection import NUMERIC as _NUMERIC
from ._projection import integer_bounds as _integer_bounds
from ._projection import project_frame, static_range


def grid_values(spec: FeatureSpec | tuple[float, float], resolution: int = 10,
                margin: float = 0.1, *, integer: bool | None = None) -> np.ndarray:
    """Grid of a feature by the seed's rule: uniform over the range widened by a margin.

    Numbers: ``resolution`` evenly spaced points from ``min - |margin*min|`` to
    ``max + |margin*max|``; integers are rounded (``numpy.round``), kept within the widened
    range and made unique. Categorical and boolean features: all their categories.

    Parameters
    ----------
    spec : FeatureSpec or (min, max)
        The feature, or its range.
    resolution : int, default=10
        Number of points for a number (fewer for integers when rounding merges points).
    margin : float, default=0.1
        Relative widening of the range on each side (0 keeps the observed range).
    integer : bool, default=None
        Round to integers (default: ``spec.kind == "integer"``; False for a range).

    Returns
    -------
    numpy.ndarray
        float64 points, int64 for integers, the categories for categorical features.

    Examples
    --------
    >>> grid_values((-10.0, 50.0), 5).tolist()
    [-11.0, 5.5, 22.0, 38.5, 55.0]
    >>> grid_values((-10.0, 50.0), 5, integer=True).tolist()
    [-11, 6, 22, 38, 55]
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) \
            or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2; got {resolution!r}.")
    if isinstance(spec, FeatureSpec):
        if spec.kind in ("categorical", "boolean"):
            return np.asarray(list(spec.categories), dtype=object)
        if spec.min is None or spec.max is None:
            raise ValueError(f"{spec.name} has no observed range; give one with "
                             f"ranges={{{spec.name!r}: (lo, hi)}}.")
        lo, hi = float(spec.min), float(spec.max)
        integer = spec.kind == "integer" if integer is None else integer
    else:
        lo, hi = (float(v) for v in spec)
    lo, hi = lo - abs(margin * lo), hi + abs(margin * hi)
    if not lo <= hi:
        raise ValueError(f"the range ({lo}, {hi}) is empty; pass min <= max.")
    points = np.linspace(lo, hi, int(resolution))
    if integer:
        ilo, ihi = _integer_bounds(lo, hi)
        return np.unique(np.clip(np.round(points), ilo, ihi)).astype(np.int64)
    return points


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Constraints(_Moves):
    """Which features a search may change, and within which values.

    Parameters
    ----------
    schema : FeatureSchema
        Kinds, ranges and categories of the features.
    immutable : frozenset of str, default=frozenset()
        Features never changed (they keep the prototype's value).
    ranges : mapping, default={}
        Feature -> ``(lo, hi)``: the searchable range of a number, replacing the widened
        data range (the margin does not apply to it).
    margin : float, default=0.1
        Widen the observed range to ``min - |margin*min| .. max + |margin*max|``.
    monotone : mapping, default={}
        Feature -> +1 (may only increase from the prototype) or -1 (only decrease).
    allow_missing : bool, default=False
        Whether a search may set a value to missing (only for features whose spec allows
        missing values).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"age": [20, 60], "income": [0.0, 100.0]})
    >>> s = bind(lambda df: df["income"] / 100, X, task="regression",
    ...          schema={"age": {"mutable": False}})
    >>> c = Constraints.from_session(s, monotone={"income": 1})
    >>> c.searchable(), c.bounds("income"), c.bounds("income", base_value=50.0)
    (['income'], (0.0, 110.0), (50.0, 110.0))
    >>> c.project(pd.DataFrame({"age": [99], "income": [500.0]}), X.iloc[0]).values.tolist()
    [[20.0, 110.0]]
    """

    schema: FeatureSchema
    immutable: frozenset = frozenset()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    margin: float = 0.1
    monotone: Mapping[str, int] = field(default_factory=dict)
    allow_missing: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.schema, FeatureSchema):
            raise TypeError(f"schema must be a FeatureSchema; got {type(self.schema).__name__}.")
        object.__setattr__(self, "immutable", frozenset(self.immutable))
        self._check_names(self.immutable, "immutable")
        self._check_names(self.ranges, "ranges")
        self._check_names(self.monotone, "monotone")
        ranges = {}
        for name, bounds in dict(self.ranges).items():
            if self.schema[name].kind not in _NUMERIC:
                raise ValueError(f"ranges apply to numbers; {name} is "
                                 f"{self.schema[name].kind}.")
            lo, hi = (float(v) for v in bounds)
            if not lo <= hi:
                raise ValueError(f"ranges[{name!r}] = {tuple(bounds)} is empty; pass (lo, hi) "
                                 "with lo <= hi.")
            ranges[name] = (lo, hi)
        for name, direction in dict(self.monotone).items():
            if direction not in (1, -1):
                raise ValueError(f"monotone[{name!r}] must be +1 (only increase) or -1 (only "
                                 f"decrease); got {direction!r}.")
            if self.schema[name].kind not in _NUMERIC:
                raise ValueError(f"monotone applies to numbers; {name} is "
                                 f"{self.schema[name].kind}.")
        if not (isinstance(self.margin, int | float) and self.margin >= 0):
            raise ValueError(f"margin must be a number >= 0; got {self.margin!r}.")
        object.__setattr__(self, "ranges", _frozen(ranges))
        object.__setattr__(self, "monotone", _frozen(self.monotone))

    def _check_names(self, names: Iterable[str], what: str) -> None:
        unknown = [n for n in names if n not in self.schema]
        if unknown:
            raise ValueError(f"{what} names unknown feature(s) {unknown}; features are "
                             f"{list(self.schema)}.")

    @classmethod
    def from_session(cls, session: Any, *, immutable: Iterable[str] | None = None,
                     ranges: Mapping[str, tuple[float, float]] | None = None,
                     margin: float = 0.1, monotone: Mapping[str, int] | None = None,
                     allow_missing: bool = False) -> Constraints:
        """Constraints from a session's schema (immutables: specs with ``mutable=False``).

        Parameters
        ----------
        session : DebugSession
            The bound model and data.
        immutable : iterable of str, default=None
            Features never changed; None takes the schema's immutable features, ``[]``
            frees every feature.
        ranges, margin, monotone, allow_missing
            As in :class:`Constraints`.

        Returns
        -------
        Constraints

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0], "b": [2]}),
        ...          task="regression", schema={"b": {"mutable": False}})
        >>> sorted(Constraints.from_session(s).immutable)
        ['b']
        """
        schema = session.schema
        if immutable is None:
            immutable = [name for name, spec in schema.items() if not spec.mutable]
        elif isinstance(immutable, str):
            immutable = [immutable]
        return cls(schema, frozenset(immutable), dict(ranges or {}), margin,
                   dict(monotone or {}), bool(allow_missing))

    def searchable(self, features: Iterable[str] | None = None, *,
                   strict: bool = False) -> list[str]:
        """Return the requested features (default: all) that a search may change, in order.

        Parameters
        ----------
        features : iterable of str, default=None
            Features to search; None for every feature of the schema.
        strict : bool, default=False
            Raise instead of silently dropping an immutable feature.

        Returns
        -------
        list of str

        Raises
        ------
        ValueError
            For unknown features, or when no requested feature may change.

        Examples
        --------
        >>> import pandas as pd
        >>> c = Constraints(FeatureSchema.infer(pd.DataFrame({"a": [1], "b": [2]})), {"b"})
        >>> c.searchable()
        ['a']
        """
        requested = list(self.schema) if features is None else (
            [features] if isinstance(features, str) else list(features))
        self._check_names(requested, "features")
        fixed = [f for f in requested if f in self.immutable]
        if strict and fixed:
            raise ValueError(f"{fixed} are immutable and a search never changes them; remove "
                             f"them from features or pass immutable=[] to free them.")
        free = [f for f in requested if f not in self.immutable]
        if not free:
            raise ValueError(
                f"every feature is immutable ({sorted(fixed)}), so there is nothing to search; "
                "pass immutable=[] (or a shorter list) or choose mutable features.")
        return free

    def bounds(self, feature: str, base_value: Any = None) -> tuple[float, float]:
        """Searchable ``(lo, hi)`` of a number: widened range or override, then monotone.

        Parameters
        ----------
        feature : str
            A numeric or integer feature.
        base_value : float, default=None
            The prototype's value; with a monotone direction the range starts (+1) or ends
            (-1) there.

        Returns
        -------
        tuple of float
            Whole numbers for integer features.

        Examples
        --------
        >>> c = Constraints(FeatureSchema([FeatureSpec("x", "integer", min=-10, max=55)]))
        >>> c.bounds("x")
        (-11.0, 60.0)
        """
        lo, hi = static_range(self, feature)
        direction = self.monotone.get(feature, 0)
        if direction and base_value is not None and not pd.isna(base_value):
            base = float(base_value)
            if direction > 0:
                lo = max(lo, base)
                hi = max(hi, lo)
            else:
                hi = min(hi, base)
                lo = min(lo, hi)
        if self.schema[feature].kind == "integer":
            lo, hi = (float(v) for v in _integer_bounds(lo, hi))
        return float(lo), float(hi)

    def choices(self, feature: str) -> np.ndarray:
        """Return the allowed values of a categorical or boolean feature (its categories).

        Examples
        --------
        >>> c = Constraints(FeatureSchema([FeatureSpec("c", "categorical", categories=(1, 2))]))
        >>> c.choices("c").tolist()
        [1, 2]
        """
        spec = self.schema[feature]
        if spec.kind in _NUMERIC:
            raise ValueError(f"{feature} is {spec.kind}; use bounds() for its range.")
        if not spec.categories:
            raise ValueError(f"{feature} has no known categories; declare them in the schema.")
        values = np.asarray(list(spec.categories))
        return values.astype(object) if values.dtype.kind in "UST" else values

    def may_be_missing(self, feature: str) -> bool:
        """Whether a search may set ``feature`` to missing.

        Examples
        --------
        >>> c = Constraints(FeatureSchema([FeatureSpec("x", "numeric", allow_missing=True)]))
        >>> c.may_be_missing("x")
        False
        """
        return (self.allow_missing and self.schema[feature].allow_missing
                and feature not in self.immutable)

    def project(self, frame: pd.DataFrame, base_row: pd.DataFrame | pd.Series) -> pd.DataFrame:
        """Return a new frame of the rows moved into the constraints.

        Immutable features get the prototype's value; numbers are clipped to
        :meth:`bounds` (monotone from the prototype) and integers rounded; unknown
        categories snap to the nearest numeric code or else the prototype's value; missing
        values are kept only where :meth:`may_be_missing`, else replaced by the prototype's.
        All rows are projected at once (numpy over the numeric columns).

        Parameters
        ----------
        frame : pandas.DataFrame
            Candidate rows (the schema's columns).
        base_row : pandas.DataFrame or pandas.Series
            The prototype (one row), or a frame of one prototype per row of ``frame``
            (matched by position), when candidates come from different rows.

        Returns
        -------
        pandas.DataFrame
            Same columns, index and (where the values allow) dtypes as ``frame``; integer
            features get the schema's integer dtype unless a value is missing.

        Examples
        --------
        >>> import pandas as pd
        >>> c = Constraints(FeatureSchema([FeatureSpec("n", "integer", "int64", min=0, max=10),
        ...                                FeatureSpec("c", "categorical", categories=(1, 2))]))
        >>> base = pd.Series({"n": 5, "c": 1})
        >>> c.project(pd.DataFrame({"n": [3.6, 99.0], "c": [2, 7]}), base).values.tolist()
        [[4, 2], [11, 2]]
        >>> c = Constraints(c.schema, {"c"}, monotone={"n": 1})
        >>> bases = pd.DataFrame({"n": [2, 8], "c": [1, 2]})
        >>> c.project(pd.DataFrame({"n": [0, 0], "c": [2, 1]}), bases).values.tolist()
        [[2, 1], [8, 2]]
        """
        return project_frame(self, frame, base_row)
