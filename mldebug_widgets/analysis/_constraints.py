"""Search constraints: which features a search may change, and to which values.

Every search (grid, evolutionary, minimal flip, random attack) draws or edits candidate rows
under one :class:`Constraints`: immutable features keep the prototype's value, numbers stay
within the data range widened by a margin (the seed's rule ``min - |m*min| .. max + |m*max|``)
or a given range, integers stay whole, categories stay known values, and monotone features
only move one way from the prototype.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..schema import FeatureSchema, FeatureSpec

_NUMERIC = ("numeric", "integer")
_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_IQR_TO_STD = 1.349  # IQR of a standard normal: an IQR / 1.349 scale reads like a std


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


def _integer_bounds(lo: float, hi: float) -> tuple[int, int]:
    ilo, ihi = math.ceil(lo), math.floor(hi)
    if ilo > ihi:  # no whole number inside: the nearest one
        ilo = ihi = round((lo + hi) / 2)
    return ilo, ihi


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Constraints:
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
        spec = self.schema[feature]
        if spec.kind not in _NUMERIC:
            raise ValueError(f"{feature} is {spec.kind}; use choices() for its values.")
        if feature in self.ranges:
            lo, hi = self.ranges[feature]
        elif spec.min is None or spec.max is None:
            raise ValueError(f"{feature} has no observed range; give one with "
                             f"ranges={{{feature!r}: (lo, hi)}}.")
        else:
            lo, hi = float(spec.min), float(spec.max)
            lo, hi = lo - abs(self.margin * lo), hi + abs(self.margin * hi)
        direction = self.monotone.get(feature, 0)
        if direction and base_value is not None and not pd.isna(base_value):
            base = float(base_value)
            if direction > 0:
                lo = max(lo, base)
                hi = max(hi, lo)
            else:
                hi = min(hi, base)
                lo = min(lo, hi)
        if spec.kind == "integer":
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

        Parameters
        ----------
        frame : pandas.DataFrame
            Candidate rows (the schema's columns).
        base_row : pandas.DataFrame or pandas.Series
            The prototype (one row).

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
        """
        base = _as_series(base_row)
        columns = {}
        for name in frame.columns:
            values = frame[name].to_numpy()
            if name not in self.schema:
                columns[name] = frame[name]
                continue
            spec, b = self.schema[name], base[name]
            if name in self.immutable:
                new = np.full(len(frame), b, dtype=object if values.dtype == object else None)
            elif spec.kind in _NUMERIC:
                new = self._project_number(name, values, b)
            else:
                new = self._project_category(name, values, b)
            dtype = frame[name].dtype
            if spec.kind == "integer" and spec.dtype in _INT_DTYPES:
                dtype = np.dtype(spec.dtype)
            columns[name] = _with_dtype(new, dtype)
        return pd.DataFrame(columns, index=frame.index, copy=False)

    def _project_number(self, name: str, values: np.ndarray, base: Any) -> np.ndarray:
        lo, hi = self.bounds(name, base)
        numbers = _to_float(values)
        missing = np.isnan(numbers)
        out = np.clip(numbers, lo, hi)
        if self.schema[name].kind == "integer":
            out = np.round(out)
        if missing.any() and not self.may_be_missing(name):
            out[missing] = np.nan if pd.isna(base) else float(base)
        return out

    def _project_category(self, name: str, values: np.ndarray, base: Any) -> np.ndarray:
        allowed = self.choices(name)
        series = pd.Series(values, dtype=object)
        out = series.to_numpy(dtype=object).copy()
        missing = series.isna().to_numpy()
        bad = ~series.isin(list(allowed)).to_numpy() & ~missing
        if bad.any():
            codes = pd.to_numeric(series[bad], errors="coerce").to_numpy(np.float64)
            numeric_codes = allowed.dtype.kind in "iuf"
            for i, code in zip(np.flatnonzero(bad), codes, strict=True):
                out[i] = (allowed[np.argmin(np.abs(allowed - code))]
                          if numeric_codes and not np.isnan(code) else base)
        if missing.any() and not self.may_be_missing(name):
            out[missing] = base
        return out

    def sample(self, rng: np.random.Generator, base_row: pd.DataFrame | pd.Series,
               features: Iterable[str], n: int, *, missing_rate: float = 0.05) -> pd.DataFrame:
        """Draw ``n`` rows: the prototype with ``features`` drawn uniformly within bounds.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness (reproducible searches pass a seeded one).
        base_row : pandas.DataFrame or pandas.Series
            The prototype (one row).
        features : iterable of str
            Features to draw (mutable ones; an immutable feature raises ValueError).
        n : int
            Number of rows.
        missing_rate : float, default=0.05
            Chance of a missing value, for features where :meth:`may_be_missing`.

        Returns
        -------
        pandas.DataFrame
            ``n`` rows with the prototype's columns and a fresh RangeIndex.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> c = Constraints(FeatureSchema([FeatureSpec("n", "integer", min=0, max=3)]), margin=0)
        >>> rows = c.sample(np.random.default_rng(0), pd.Series({"n": 1}), ["n"], 100)
        >>> sorted(set(rows["n"]))
        [0, 1, 2, 3]
        """
        base = _as_frame(base_row)
        features = self.searchable(features, strict=True)
        out = base.iloc[np.zeros(int(n), dtype=np.intp)].reset_index(drop=True)
        b = base.iloc[0]
        for name in features:
            spec = self.schema[name]
            if spec.kind in _NUMERIC:
                lo, hi = self.bounds(name, b[name])
                values = (rng.integers(int(lo), int(hi) + 1, n).astype(np.float64)
                          if spec.kind == "integer" else rng.uniform(lo, hi, n))
            else:
                allowed = self.choices(name)
                values = allowed[rng.integers(0, len(allowed), n)].astype(object)
            if self.may_be_missing(name):
                values = values.astype(np.float64 if spec.kind in _NUMERIC else object)
                values[rng.random(n) < missing_rate] = np.nan
            out[name] = _with_dtype(values, base[name].dtype)
        return out

    def mutate(self, rng: np.random.Generator, frame: pd.DataFrame,
               base_row: pd.DataFrame | pd.Series, features: Iterable[str], *,
               rate: float | None = None, missing_rate: float = 0.05) -> pd.DataFrame:
        """Return mutated, projected copies of rows (at least one feature redrawn per row).

        Each cell of ``features`` mutates with probability ``rate``. A number takes a
        Gaussian step of a random size (``scale * 2**U(-3, 1)``, 40 %), a value drawn from
        the data's percentiles (30 %), a uniform draw within its bounds (15 %) or the
        prototype's value (15 %); a category a random known value (70 %) or the
        prototype's (30 %). Where :meth:`may_be_missing`, a mutated cell becomes missing
        with probability ``missing_rate``.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        frame : pandas.DataFrame
            Rows to mutate (not modified).
        base_row : pandas.DataFrame or pandas.Series
            The prototype (one row).
        features : iterable of str
            Features that may mutate (an immutable one raises ValueError).
        rate : float, default=None
            Mutation probability per cell (default ``min(1, 2 / len(features))``).
        missing_rate : float, default=0.05
            Chance that a mutated cell becomes missing, where allowed.

        Returns
        -------
        pandas.DataFrame
            The mutated rows, passed through :meth:`project`, with ``frame``'s index.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> c = Constraints(FeatureSchema.infer(pd.DataFrame({"x": [0.0, 10.0]})))
        >>> rows = pd.DataFrame({"x": [5.0] * 20})
        >>> out = c.mutate(np.random.default_rng(0), rows, rows.iloc[0], ["x"])
        >>> bool((out["x"] != 5.0).any() and out["x"].between(0, 11).all())
        True
        """
        base = _as_series(base_row)
        features = self.searchable(features, strict=True)
        n, d = len(frame), len(features)
        rate = min(1.0, 2.0 / d) if rate is None else float(rate)
        hits = rng.random((n, d)) < rate
        lonely = ~hits.any(axis=1)  # every row changes at least one feature
        hits[np.flatnonzero(lonely), rng.integers(0, d, int(lonely.sum()))] = True
        scales = self.scales()
        out = frame.copy()
        for j, name in enumerate(features):
            rows = np.flatnonzero(hits[:, j])
            k, spec, b = len(rows), self.schema[name], base[name]
            op = rng.random(k)
            if spec.kind in _NUMERIC:
                x = _to_float(frame[name].to_numpy())[rows]
                lo, hi = self.bounds(name, b)
                start = np.where(np.isnan(x), np.nan if pd.isna(b) else float(b), x)
                step = rng.standard_normal(k) * scales[name] * 2.0 ** rng.uniform(-3, 1, k)
                q = np.asarray(spec.quantiles, dtype=np.float64)
                drawn = (np.interp(rng.uniform(0, 100, k), np.arange(101), q)
                         if len(q) == 101 else rng.uniform(lo, hi, k))
                new = np.select([op < 0.4, op < 0.7, op < 0.85],
                                [start + step, drawn, rng.uniform(lo, hi, k)],
                                np.nan if pd.isna(b) else float(b))
                new = np.where(np.isnan(new) & (op < 0.4), drawn, new)
            else:
                allowed = self.choices(name)
                new = np.where(op < 0.7, allowed[rng.integers(0, len(allowed), k)].astype(object),
                               np.full(k, b, dtype=object))
            if self.may_be_missing(name):
                new = new.astype(np.float64 if spec.kind in _NUMERIC else object)
                new[rng.random(k) < missing_rate] = np.nan
            column = out[name].to_numpy(dtype=np.float64 if spec.kind in _NUMERIC else object,
                                        copy=True)
            column[rows] = new
            out[name] = _with_dtype(column, np.dtype(np.float64) if spec.kind in _NUMERIC
                                    else frame[name].dtype)
        return self.project(out, base)

    def scales(self) -> dict[str, float]:
        """Return a robust, never-zero scale per number, for standardised distances.

        The interquartile range / 1.349 (a standard deviation for normal data) from the
        spec's percentiles; else the 1st-99th percentile span / 4.65; else the range / 4;
        else 1.

        Returns
        -------
        dict
            Numeric or integer feature -> scale.

        Examples
        --------
        >>> import pandas as pd
        >>> c = Constraints(FeatureSchema.infer(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0]})))
        >>> round(c.scales()["x"], 4)
        1.4826
        """
        out = {}
        for name, spec in self.schema.items():
            if spec.kind not in _NUMERIC:
                continue
            q = np.asarray(spec.quantiles, dtype=np.float64)
            candidates = []
            if len(q) == 101:
                candidates += [(q[75] - q[25]) / _IQR_TO_STD, (q[99] - q[1]) / 4.653]
            if spec.min is not None and spec.max is not None:
                candidates.append((float(spec.max) - float(spec.min)) / 4)
            out[name] = next((float(c) for c in candidates if np.isfinite(c) and c > 0), 1.0)
        return out

    def distance(self, frame: pd.DataFrame,
                 base_row: pd.DataFrame | pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Distance of each row from the prototype, and its number of changed features.

        The distance is the L1 norm of the numeric changes in :meth:`scales` units plus 1 per
        changed category; a change to or from missing counts 1.

        Parameters
        ----------
        frame : pandas.DataFrame
            Rows to measure.
        base_row : pandas.DataFrame or pandas.Series
            The prototype (one row).

        Returns
        -------
        tuple of numpy.ndarray
            ``(distance, n_changed)``, one value per row.

        Examples
        --------
        >>> import pandas as pd
        >>> c = Constraints(FeatureSchema.infer(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0],
        ...                                                   "c": list("aabbb")})))
        >>> d, k = c.distance(pd.DataFrame({"x": [2.0, 3.4826], "c": ["a", "b"]}),
        ...                   pd.Series({"x": 2.0, "c": "a"}))
        >>> d.round(4).tolist(), k.tolist()
        ([0.0, 2.0], [0, 2])
        """
        base = _as_series(base_row)
        scales = self.scales()
        dist = np.zeros(len(frame))
        changed = np.zeros(len(frame), dtype=np.int64)
        for name in frame.columns:
            if name not in self.schema:
                continue
            values, b = frame[name].to_numpy(), base[name]
            if name in scales:
                x = _to_float(values)
                bf = np.nan if pd.isna(b) else float(b)
                with np.errstate(invalid="ignore"):
                    step = np.abs(x - bf) / scales[name]
                one_missing = np.isnan(x) != np.isnan(bf)
                step = np.where(one_missing, 1.0, np.nan_to_num(step, nan=0.0))
                diff = step > 0
            else:
                missing = np.asarray(pd.isna(values), dtype=bool)
                same = missing if pd.isna(b) else (~missing & np.asarray(
                    values.astype(object) == b, dtype=bool))
                diff = ~same
                step = diff.astype(np.float64)
            dist += step
            changed += diff
        return dist, changed


def _as_series(base_row: pd.DataFrame | pd.Series) -> pd.Series:
    if isinstance(base_row, pd.DataFrame):
        if len(base_row) != 1:
            raise ValueError(f"base_row must be one row; got {len(base_row)} rows.")
        return base_row.iloc[0]
    if isinstance(base_row, pd.Series):
        return base_row
    raise TypeError(f"base_row must be a one-row DataFrame or a Series; got "
                    f"{type(base_row).__name__}.")


def _as_frame(base_row: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(base_row, pd.DataFrame):
        _as_series(base_row)
        return base_row
    series = _as_series(base_row)
    frame = series.to_frame().T
    return frame.infer_objects()


def _to_float(values: np.ndarray) -> np.ndarray:
    """Return values as float64 (non-numbers become NaN)."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)


def _with_dtype(values: np.ndarray, dtype: Any) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Return a column of ``values`` in ``dtype`` where possible (ints stay ints unless NaN)."""
    if isinstance(dtype, np.dtype):
        if values.dtype == dtype:
            return values
        if dtype.kind in "iub" and values.dtype != object:
            floats = values.astype(np.float64)
            return floats if np.isnan(floats).any() else values.astype(dtype)
        try:
            return values.astype(dtype)
        except (TypeError, ValueError):
            return _to_float(values) if dtype.kind in "iub" else values
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):
        return values
