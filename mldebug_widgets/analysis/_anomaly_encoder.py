"""The row encoding of :func:`~mldebug_widgets.analysis.monitoring.anomalies`.

:class:`AnomalyEncoder` turns the rows of a batch into a float matrix an ``IsolationForest``
can split: numbers kept (clipped to float32), categories as codes of the reference's sorted
categories (unseen categories the next code), and sentinels below or beyond the reference
range for missing and infinite values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._drift_inputs import _plain, _sorted

_F32_MAX = float(np.finfo(np.float32).max)  # the forest computes in float32


@dataclass(frozen=True, eq=False)
class AnomalyEncoder:
    """Rows as numbers for an IsolationForest: codes for categories, sentinels for missing.

    Fitted on the reference by :meth:`fit`. Numeric values are kept (clipped to the float32
    range the forest computes in); a categorical value becomes the position of its category
    in the reference's sorted categories, a category the reference never had the next code.
    With ``(lo, hi)`` the encoded reference range of a feature and ``span = hi - lo + 1``, a
    missing value becomes ``lo - 2 span`` (below every observed value, so missing values are
    isolated as a group of their own), ``-inf`` becomes ``lo - span`` and ``+inf``
    ``hi + span``.

    Attributes
    ----------
    features : tuple of str
        The encoded columns, in order.
    categories : dict of str to tuple
        The reference categories of each categorical feature (code = position).
    ranges : dict of str to (float, float)
        The encoded reference range ``(lo, hi)`` of each feature (``(0, 0)`` if the
        reference has no value).

    Examples
    --------
    >>> ref = pd.DataFrame({"x": [1.0, 3.0], "c": ["b", "a"]})
    >>> enc = AnomalyEncoder.fit(ref, {"x": "numeric", "c": "categorical"})
    >>> enc.transform(pd.DataFrame({"x": [np.nan, np.inf], "c": ["a", "zzz"]})).tolist()
    [[-5.0, 0.0], [6.0, 2.0]]
    """

    features: tuple[str, ...]
    categories: dict[str, tuple]
    ranges: dict[str, tuple[float, float]]

    @classmethod
    def fit(cls, reference: pd.DataFrame, kinds: dict[str, str]) -> AnomalyEncoder:
        """Learn the categories and ranges of the features in ``kinds`` from ``reference``.

        Examples
        --------
        >>> AnomalyEncoder.fit(pd.DataFrame({"c": ["b", "a"]}), {"c": "categorical"}).categories
        {'c': ('a', 'b')}
        """
        categories, ranges = {}, {}
        for name, kind in kinds.items():
            if kind == "categorical":
                categories[name] = tuple(_sorted(_plain(reference[name]).dropna().unique()))
                ranges[name] = (0.0, float(max(len(categories[name]) - 1, 0)))
            else:
                values = reference[name].to_numpy(dtype=np.float64, na_value=np.nan)
                finite = values[np.isfinite(values)]
                ranges[name] = ((float(finite.min()), float(finite.max())) if len(finite)
                                else (0.0, 0.0))
        return cls(features=tuple(kinds), categories=categories, ranges=ranges)

    def missing_code(self, feature: str) -> float:
        """Return the number a missing value of ``feature`` is encoded as.

        Examples
        --------
        >>> AnomalyEncoder.fit(pd.DataFrame({"x": [1.0, 3.0]}), {"x": "numeric"}
        ...                    ).missing_code("x")
        -5.0
        """
        lo, hi = self.ranges[feature]
        return lo - 2 * (hi - lo + 1)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Encode the rows of ``X`` (with the :attr:`features` columns) as float64.

        Examples
        --------
        >>> enc = AnomalyEncoder.fit(pd.DataFrame({"x": [1.0, 3.0]}), {"x": "numeric"})
        >>> enc.transform(pd.DataFrame({"x": [2.0, -np.inf]})).ravel().tolist()
        [2.0, -2.0]
        """
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise ValueError(f"X lacks the encoded features {missing}.")
        out = np.empty((len(X), len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.features):
            lo, hi = self.ranges[name]
            if name in self.categories:
                values = _plain(X[name])
                codes = pd.Index(self.categories[name]).get_indexer(values).astype(np.float64)
                absent = values.isna().to_numpy()
                codes[(codes < 0) & ~absent] = len(self.categories[name])
                codes[absent] = np.nan
            else:
                codes = X[name].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
                codes[codes == np.inf] = hi + (hi - lo + 1)
                codes[codes == -np.inf] = lo - (hi - lo + 1)
            codes[np.isnan(codes)] = self.missing_code(name)
            out[:, j] = np.clip(codes, -_F32_MAX, _F32_MAX)
        return out
