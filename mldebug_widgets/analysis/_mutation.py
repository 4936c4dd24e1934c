"""Random moves and distances of search constraints: what :class:`Constraints` inherits.

``sample`` draws rows around a prototype, ``mutate`` edits rows (the evolutionary search's
mutation), ``scales`` and ``distance`` measure how far a row moved. Each keeps to the rules of
the constraints it is mixed into (``searchable``, ``bounds``, ``choices``, ``may_be_missing``
and ``project``, in ``_constraints``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ._projection import (
    NUMERIC,
    as_frame,
    as_series,
    assemble,
    base_floats,
    number_bounds,
    static_range,
    to_float,
    with_dtype,
)

IQR_TO_STD = 1.349  # IQR of a standard normal: an IQR / 1.349 scale reads like a std


class _Moves:
    """Random moves (``sample``, ``mutate``) and measures (``scales``, ``distance``).

    A mixin of :class:`Constraints`: it relies on the rules defined there.
    """

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
        >>> from mldebug_widgets.analysis import Constraints
        >>> from mldebug_widgets.schema import FeatureSchema, FeatureSpec
        >>> c = Constraints(FeatureSchema([FeatureSpec("n", "integer", min=0, max=3)]), margin=0)
        >>> rows = c.sample(np.random.default_rng(0), pd.Series({"n": 1}), ["n"], 100)
        >>> sorted(set(rows["n"]))
        [0, 1, 2, 3]
        """
        base = as_frame(base_row)
        features = self.searchable(features, strict=True)
        out = base.iloc[np.zeros(int(n), dtype=np.intp)].reset_index(drop=True)
        b = base.iloc[0]
        for name in features:
            spec = self.schema[name]
            if spec.kind in NUMERIC:
                lo, hi = self.bounds(name, b[name])
                values = (rng.integers(int(lo), int(hi) + 1, n).astype(np.float64)
                          if spec.kind == "integer" else rng.uniform(lo, hi, n))
            else:
                allowed = self.choices(name)
                values = allowed[rng.integers(0, len(allowed), n)].astype(object)
            if self.may_be_missing(name):
                values = values.astype(np.float64 if spec.kind in NUMERIC else object)
                values[rng.random(n) < missing_rate] = np.nan
            out[name] = with_dtype(values, base[name].dtype)
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
        >>> from mldebug_widgets.analysis import Constraints
        >>> from mldebug_widgets.schema import FeatureSchema
        >>> c = Constraints(FeatureSchema.infer(pd.DataFrame({"x": [0.0, 10.0]})))
        >>> rows = pd.DataFrame({"x": [5.0] * 20})
        >>> out = c.mutate(np.random.default_rng(0), rows, rows.iloc[0], ["x"])
        >>> bool((out["x"] != 5.0).any() and out["x"].between(0, 11).all())
        True
        """
        base = as_series(base_row)
        features = self.searchable(features, strict=True)
        n, d = len(frame), len(features)
        rate = min(1.0, 2.0 / d) if rate is None else float(rate)
        hits = rng.random((n, d)) < rate
        lonely = ~hits.any(axis=1)  # every row changes at least one feature
        hits[np.flatnonzero(lonely), rng.integers(0, d, int(lonely.sum()))] = True
        scales = self.scales()
        bounds = self._number_bounds(features, base)
        changed: dict = {}
        for j, name in enumerate(features):
            rows = np.flatnonzero(hits[:, j])
            k, spec, b = len(rows), self.schema[name], base[name]
            op = rng.random(k)
            numeric, series = spec.kind in NUMERIC, frame[name]
            if numeric:
                x = to_float(series.to_numpy())[rows]
                lo, hi = bounds[name]
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
                new = new.astype(np.float64 if numeric else object)
                new[rng.random(k) < missing_rate] = np.nan
            kind = np.float64 if numeric else object
            column = (series.to_numpy(dtype=kind, copy=True) if name not in changed
                      else np.array(changed[name], dtype=kind))
            column[rows] = new
            changed[name] = with_dtype(column, np.dtype(np.float64) if numeric else series.dtype)
        out = {name: changed[name] if name in changed else _copy(frame[name])
               for name in frame.columns}
        return self.project(assemble(out, frame.index), base)

    def _number_bounds(self, features: list[str], base: pd.Series) -> dict:
        """Bounds of the numbers among ``features`` (one vectorised call; rules checked)."""
        numbers = []
        for name in features:  # the rules' errors, in the features' order
            if self.schema[name].kind in NUMERIC:
                static_range(self, name)
                numbers.append(name)
            else:
                self.choices(name)
        values = np.array([[base_floats(base[name], False)[0] for name in numbers]])
        lo, hi = number_bounds(self, numbers, values.reshape(1, len(numbers)))
        return {name: (lo[0, j], hi[0, j]) for j, name in enumerate(numbers)}

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
        >>> from mldebug_widgets.analysis import Constraints
        >>> from mldebug_widgets.schema import FeatureSchema
        >>> c = Constraints(FeatureSchema.infer(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0]})))
        >>> round(c.scales()["x"], 4)
        1.4826
        """
        out = {}
        for name, spec in self.schema.items():
            if spec.kind not in NUMERIC:
                continue
            q = np.asarray(spec.quantiles, dtype=np.float64)
            candidates = []
            if len(q) == 101:
                candidates += [(q[75] - q[25]) / IQR_TO_STD, (q[99] - q[1]) / 4.653]
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
        >>> from mldebug_widgets.analysis import Constraints
        >>> from mldebug_widgets.schema import FeatureSchema
        >>> c = Constraints(FeatureSchema.infer(pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0],
        ...                                                   "c": list("aabbb")})))
        >>> d, k = c.distance(pd.DataFrame({"x": [2.0, 3.4826], "c": ["a", "b"]}),
        ...                   pd.Series({"x": 2.0, "c": "a"}))
        >>> d.round(4).tolist(), k.tolist()
        ([0.0, 2.0], [0, 2])
        """
        base = as_series(base_row)
        scales = self.scales()
        dist = np.zeros(len(frame))
        changed = np.zeros(len(frame), dtype=np.int64)
        for name in frame.columns:
            if name not in self.schema:
                continue
            values, b = frame[name].to_numpy(), base[name]
            if name in scales:
                x = to_float(values)
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


def _copy(column: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Return a copy of a column's values, in its dtype."""
    return column.to_numpy(copy=True) if isinstance(column.dtype, np.dtype) else \
        column.array.copy()
