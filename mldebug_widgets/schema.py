"""FeatureSchema: what each feature is, which values it may take, and the grid to sweep it.

The schema is inferred from the bound data and can be overridden (a feature marked
immutable, a range widened, integer codes declared categorical). Schemas are immutable
values: :meth:`FeatureSchema.override` returns a new one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import _errors as E
from ._errors import SchemaError

Kind = Literal["numeric", "integer", "categorical", "boolean"]
KINDS = ("numeric", "integer", "categorical", "boolean")
GridStrategy = Literal["quantile", "uniform"]
_MAX_CODES = 50  # integer features with at most this many distinct values keep them


def is_missing(value: Any) -> bool:
    """Return True for None, NaN, NaT and pandas.NA.

    Examples
    --------
    >>> is_missing(float("nan")), is_missing(None), is_missing(0)
    (True, True, False)
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


@dataclass(frozen=True)
class FeatureSpec:
    """One feature's kind, observed values and constraints.

    Attributes
    ----------
    name : str
        The column name.
    kind : {"numeric", "integer", "categorical", "boolean"}
        Decides the editor and the sweep grid.
    dtype : str
        The column's pandas dtype when bound.
    min, max : float or None
        The observed range (numeric and integer), or the range set by an override.
    categories : tuple
        Known values of a categorical or boolean feature, in display order; for an integer
        feature with few distinct values (codes), the observed values.
    quantiles : tuple of float
        The 0th, 1st, ..., 100th percentiles of the observed values (numeric and integer).
    n_missing : int
        Missing values in the bound data.
    allow_missing : bool
        Whether a missing value is a legitimate input (observed, or declared).
    mutable : bool
        False for features a search must not change (for example AGE or SEX).

    Examples
    --------
    >>> spec = FeatureSpec(name="age", kind="integer", dtype="int64", min=18, max=90)
    >>> spec.validate("42"), spec.in_range(120)
    (42, False)
    """

    name: str
    kind: Kind
    dtype: str = "float64"
    min: float | None = None
    max: float | None = None
    categories: tuple = ()
    quantiles: tuple = field(default=(), repr=False)
    n_missing: int = 0
    allow_missing: bool = False
    mutable: bool = True

    def validate(self, value: Any) -> Any:
        """Coerce an edited value to this feature's type or raise :class:`SchemaError`.

        Values beyond the observed range are accepted (probing them is the point of a
        what-if analysis); a missing value is returned as ``nan``.

        Parameters
        ----------
        value : object
            The value typed or chosen by the user.

        Returns
        -------
        object
            ``float`` for numeric, ``int`` for integer, a known category otherwise.

        Examples
        --------
        >>> FeatureSpec(name="x", kind="numeric").validate("1.5")
        1.5
        """
        if is_missing(value) or (isinstance(value, str) and value.strip() == ""):
            return np.nan
        if self.kind in ("numeric", "integer"):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise SchemaError(
                    f"{self.name} is {self.kind}; {value!r} is not a number."
                ) from None
            if self.kind == "integer":
                if not number.is_integer():
                    raise SchemaError(
                        f"{self.name} is an integer feature; {value!r} is not a whole number."
                    )
                return int(number)
            return number
        for category in self.categories:
            if value == category or str(value) == str(category):
                return category
        raise SchemaError(
            f"{value!r} is not a known value of {self.name}; choose one of "
            f"{list(self.categories)}."
        )

    def in_range(self, value: Any) -> bool:
        """Return whether ``value`` lies within the observed range or categories.

        Examples
        --------
        >>> FeatureSpec(name="x", kind="numeric", min=0.0, max=1.0).in_range(2.0)
        False
        """
        if is_missing(value):
            return self.allow_missing
        if self.kind in ("numeric", "integer"):
            return self.min is None or (self.min <= float(value) <= self.max)
        return value in self.categories

    def grid(
        self,
        resolution: int = 20,
        *,
        strategy: GridStrategy = "quantile",
        margin: float = 0.0,
        include_missing: bool = False,
    ) -> np.ndarray:
        """Values to sweep this feature over, for ICE, partial dependence and searches.

        Parameters
        ----------
        resolution : int, default=20
            Number of points for a numeric feature (fewer if the feature has fewer values).
        strategy : {"quantile", "uniform"}, default="quantile"
            Points at evenly spaced percentiles (dense where the data is) or evenly spaced
            between min and max.
        margin : float, default=0.0
            Extend the grid beyond the observed range to ``min - margin*|min|`` and
            ``max + margin*|max|`` (a margin of 0.1 sweeps 10 % beyond the data).
        include_missing : bool, default=False
            Append a missing value (NaN, or None for categories) as the last point.

        Returns
        -------
        numpy.ndarray
            int64 for integer features (float64 if a missing value is included), float64
            for numeric features, object for categories.

        Examples
        --------
        >>> spec = FeatureSpec(name="x", kind="numeric", min=0.0, max=10.0)
        >>> spec.grid(3, strategy="uniform", include_missing=True).tolist()
        [0.0, 5.0, 10.0, nan]
        """
        if self.kind in ("categorical", "boolean"):
            values = np.empty(len(self.categories) + include_missing, dtype=object)
            values[: len(self.categories)] = list(self.categories)
            if include_missing:
                values[-1] = np.nan
            return values
        if self.min is None or self.max is None:
            raise SchemaError(f"{self.name} has no observed range; set min and max.")
        lo, hi = float(self.min), float(self.max)
        if strategy == "quantile" and len(self.quantiles) == 101:
            pct = np.linspace(0, 100, resolution).round().astype(int)
            points = np.asarray(self.quantiles, dtype=float)[pct]
        elif strategy in ("quantile", "uniform"):
            points = np.linspace(lo, hi, resolution)
        else:
            raise SchemaError(f"strategy must be 'quantile' or 'uniform'; got {strategy!r}.")
        if margin:
            lo, hi = lo - margin * abs(lo), hi + margin * abs(hi)
            points = np.concatenate([points, [lo, hi]])
        if self.kind == "integer":
            lo, hi = math.floor(lo), math.ceil(hi)
            # few values: sweep every integer (codes such as PAY_0 = -2..8 are all meaningful)
            points = np.arange(lo, hi + 1) if hi - lo + 1 <= resolution else np.round(points)
        points = np.unique(points)
        if include_missing:
            return np.append(points, np.nan).astype(np.float64)
        return points.astype(np.int64 if self.kind == "integer" else np.float64)


class FeatureSchema(Mapping):
    """The :class:`FeatureSpec` of every feature, by name, in column order.

    Parameters
    ----------
    specs : iterable of FeatureSpec
        One spec per feature.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [30, 40], "city": ["a", "b"]})
    >>> schema = FeatureSchema.infer(X)
    >>> [schema[c].kind for c in schema]
    ['integer', 'categorical']
    >>> schema.override({"age": {"mutable": False}})["age"].mutable
    False
    """

    def __init__(self, specs):
        self._specs = {spec.name: spec for spec in specs}

    def __getitem__(self, name: str) -> FeatureSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(E.UNKNOWN_FEATURE.format(name=name, features=list(self))) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"FeatureSchema({len(self)} features: {', '.join(map(str, self))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSchema) and self._specs == other._specs

    __hash__ = None

    @classmethod
    def infer(cls, X: pd.DataFrame) -> FeatureSchema:
        """Infer kinds, ranges, categories and missingness from the columns of ``X``.

        Booleans become ``boolean``; strings, objects and pandas categoricals become
        ``categorical``; integer dtypes ``integer``; other numbers ``numeric``. Integer-coded
        categories (such as SEX coded 1/2) are inferred as integers: override them.

        Parameters
        ----------
        X : pandas.DataFrame
            The bound data.

        Returns
        -------
        FeatureSchema

        Examples
        --------
        >>> import pandas as pd
        >>> FeatureSchema.infer(pd.DataFrame({"flag": [True, False]}))["flag"].kind
        'boolean'
        """
        return cls(_infer_spec(str(name), X[name]) for name in X.columns)

    def override(self, overrides: Mapping[str, Mapping[str, Any]]) -> FeatureSchema:
        """Return a new schema with some specs' fields replaced.

        Parameters
        ----------
        overrides : mapping
            Feature name -> {field: value}, e.g. ``{"AGE": {"mutable": False, "min": 18}}``
            or ``{"SEX": {"kind": "categorical"}}`` (categories are then taken from the
            feature's observed integer values unless given).

        Returns
        -------
        FeatureSchema

        Raises
        ------
        SchemaError
            For an unknown feature, field or kind.

        Examples
        --------
        >>> import pandas as pd
        >>> s = FeatureSchema.infer(pd.DataFrame({"sex": [1, 2, 2]}))
        >>> s.override({"sex": {"kind": "categorical"}})["sex"].categories
        (1, 2)
        """
        allowed = {f.name for f in fields(FeatureSpec)} - {"name"}
        specs = dict(self._specs)
        for name, changes in overrides.items():
            if name not in specs:
                raise SchemaError(E.UNKNOWN_FEATURE.format(name=name, features=list(self)))
            unknown = set(changes) - allowed
            if unknown:
                raise SchemaError(
                    f"unknown schema field(s) {sorted(unknown)} for {name}; "
                    f"fields are {sorted(allowed)}."
                )
            kind = changes.get("kind", specs[name].kind)
            if kind not in KINDS:
                raise SchemaError(f"kind must be one of {KINDS}; got {kind!r}.")
            spec = replace(specs[name], **changes)
            if kind in ("categorical", "boolean") and not spec.categories:
                raise SchemaError(
                    f"{name} has too many distinct values to infer its categories; pass "
                    f"them: {{{name!r}: {{'kind': 'categorical', 'categories': (...)}}}}."
                )
            specs[name] = spec
        return FeatureSchema(specs.values())

    def to_frame(self) -> pd.DataFrame:
        """One row per feature with its kind, range, categories and flags.

        Examples
        --------
        >>> import pandas as pd
        >>> FeatureSchema.infer(pd.DataFrame({"x": [1.0, 2.0]})).to_frame()["kind"].tolist()
        ['numeric']
        """
        rows = [{f.name: getattr(s, f.name) for f in fields(FeatureSpec) if f.name != "quantiles"}
                for s in self._specs.values()]
        return pd.DataFrame(rows).set_index("name")


def _infer_spec(name: str, col: pd.Series) -> FeatureSpec:
    n_missing = int(col.isna().sum())
    common = dict(name=name, dtype=str(col.dtype), n_missing=n_missing,
                  allow_missing=n_missing > 0)
    if pd.api.types.is_bool_dtype(col):
        return FeatureSpec(kind="boolean", categories=(False, True), **common)
    if isinstance(col.dtype, pd.CategoricalDtype):
        return FeatureSpec(kind="categorical", categories=tuple(col.dtype.categories), **common)
    if pd.api.types.is_numeric_dtype(col):
        values = col.dropna().to_numpy(dtype=np.float64)
        if len(values) == 0:
            return FeatureSpec(kind="numeric", **common)
        quantiles = tuple(np.percentile(values, np.arange(101)).tolist())
        kind = "integer" if pd.api.types.is_integer_dtype(col) else "numeric"
        lo, hi = float(values.min()), float(values.max())
        categories: tuple = ()
        if kind == "integer":
            lo, hi = int(lo), int(hi)
            distinct = np.unique(values)
            if len(distinct) <= _MAX_CODES:
                categories = tuple(int(v) for v in distinct)
        return FeatureSpec(kind=kind, min=lo, max=hi, quantiles=quantiles,
                           categories=categories, **common)
    values = pd.unique(col.dropna())
    try:
        categories = tuple(sorted(values))
    except TypeError:
        categories = tuple(sorted(values, key=str))
    return FeatureSpec(kind="categorical", categories=categories, **common)
