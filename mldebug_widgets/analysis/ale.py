"""Accumulated local effects (ALE): feature effects that stay honest under correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..session import DebugSession
from ._batch import replace_column
from .sensitivity import _long, _sample


def ale(
    session: DebugSession,
    feature: str,
    *,
    bins: int = 20,
    subsample: int | float | None = None,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Accumulated local effects of one feature (Apley & Zhu, 2020), centred to mean zero.

    Numeric and integer features use quantile bin edges: each row is moved to the lower and
    upper edge of its bin, the mean difference per bin is accumulated over bins and the
    curve is centred so its count-weighted mean is zero (as in ``alibi`` and ``ALEPlot``).
    Categorical features use the schema's category order: the effect between neighbouring
    categories is the mean change when the rows of both are switched from one to the other.
    Rows with a missing value of the feature are left out (``count`` tells how many are used).

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    feature : str
        The feature.
    bins : int, default=20
        Number of quantile bins for a numeric feature (fewer if values repeat).
    subsample : int or float, default=None
        Use this many rows (or this fraction), drawn without replacement.
    random_state : int, default=None
        Seed of the subsample.

    Returns
    -------
    pandas.DataFrame
        One row per bin edge (numeric) or category and output:
        ``feature, value, output, ale, count`` where ``count`` is the number of rows in the
        bin that ends at this edge (or in the category).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    >>> s = bind(lambda df: 2.0 * df["a"], X, task="regression")
    >>> ale(s, "a", bins=3)["ale"].round(6).tolist()
    [-2.5, -0.5, 1.5, 3.5]
    """
    spec = session.schema[feature]
    X = _sample(session, subsample, random_state)
    X = X[X[feature].notna()]
    if len(X) == 0:
        raise ValueError(f"{feature} has no non-missing values to compute ALE on.")
    if spec.kind in ("categorical", "boolean"):
        return _ale_categorical(session, X, feature, list(spec.categories))
    x = X[feature].to_numpy(dtype=np.float64)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        raise ValueError(f"{feature} takes one value only; ALE needs at least two.")
    index = np.clip(np.searchsorted(edges, x, side="left"), 1, len(edges) - 1)
    swept = pd.concat([replace_column(X, feature, edges[index - 1]),
                       replace_column(X, feature, edges[index])], ignore_index=True)
    scores = session.predict(swept)
    deltas = scores[len(X):] - scores[: len(X)]
    counts = np.bincount(index, minlength=len(edges))
    sums = np.stack([np.bincount(index, weights=deltas[:, j], minlength=len(edges))
                     for j in range(deltas.shape[1])], axis=1)
    means = np.divide(sums, counts[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0)
    means[0] = 0.0
    accumulated = np.cumsum(means, axis=0)
    centre = ((accumulated[:-1] + accumulated[1:]) / 2 * counts[1:, None]).sum(0) / counts.sum()
    return _long(feature, edges, session.output_names,
                 {"ale": accumulated - centre, "count": counts})


def _ale_categorical(session: DebugSession, X: pd.DataFrame, feature: str,
                     categories: list) -> pd.DataFrame:
    codes = np.full(len(X), -1)
    column = X[feature].to_numpy()
    for k, category in enumerate(categories):
        codes[column == category] = k
    known = codes >= 0
    X, codes = X[known], codes[known]
    n_cat = len(categories)
    up, down = codes + 1 < n_cat, codes - 1 >= 0
    value_up = np.array(categories, dtype=object)[np.minimum(codes + 1, n_cat - 1)]
    value_down = np.array(categories, dtype=object)[np.maximum(codes - 1, 0)]
    own = np.array(categories, dtype=object)[codes]
    swept = pd.concat([replace_column(X, feature, own), replace_column(X, feature, value_up),
                       replace_column(X, feature, value_down)], ignore_index=True)
    scores = session.predict(swept)
    n = len(X)
    f_own, f_up, f_down = scores[:n], scores[n:2 * n], scores[2 * n:]
    # step k (between category k-1 and k) is seen from rows of k-1 moved up and rows of k down
    steps = np.zeros((n_cat, scores.shape[1]))
    for k in range(1, n_cat):
        from_below = (codes == k - 1) & up
        from_above = (codes == k) & down
        diffs = np.concatenate([f_up[from_below] - f_own[from_below],
                                f_own[from_above] - f_down[from_above]])
        steps[k] = diffs.mean(axis=0) if len(diffs) else 0.0
    accumulated = np.cumsum(steps, axis=0)
    counts = np.bincount(codes, minlength=n_cat)
    centre = (accumulated * counts[:, None]).sum(0) / counts.sum()
    return _long(feature, np.asarray(categories, dtype=object), session.output_names,
                 {"ale": accumulated - centre, "count": counts})
