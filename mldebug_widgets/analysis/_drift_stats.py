"""The numbers behind :mod:`~mldebug_widgets.analysis.monitoring`: PSI, tests, encoding.

Each feature is handled on sorted, missing-free copies of its two columns: bin counts are a
``searchsorted`` of the bin edges, so a million rows cost two sorts per feature.

PSI
    ``PSI = sum_b (c_b - r_b) * ln(c_b / r_b)``, where ``r_b`` and ``c_b`` are the shares of
    the reference and current rows in bin ``b`` (missing values have their own bin; an
    empty bin's share is replaced by ``PSI_EPSILON``). Every term is >= 0.
Numeric bins
    A feature with at most ``bins`` distinct reference values ``v_1 < ... < v_k`` gets one
    bin per value plus the open intervals around them, ``(-inf, v_1), [v_1], (v_1, v_2),
    ..., [v_k], (v_k, inf)``, so a new value in the current batch lands in a bin the
    reference left empty (as an unseen category does). Otherwise the edges ``e_1 < ... <
    e_m`` are the distinct reference quantiles at ``1/bins, ..., (bins-1)/bins`` (deciles
    for ``bins=10``) and the bins are ``(-inf, e_1], (e_1, e_2], ..., (e_m, inf)``, so
    current values beyond the reference range fall into the outer bins. Bins empty in both
    batches are left out of the histograms (they add nothing to the PSI).
Categorical bins
    One bin per reference category, one ``"unseen"`` bin for current categories the
    reference never had, and the missing bin.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

PSI_EPSILON = 1e-4
STABLE_BELOW, SIGNIFICANT_ABOVE = 0.1, 0.25  # PSI bands: stable, moderate, significant
_MAX_EXACT = 10_000  # scipy's ks_2samp tries its exact p-value up to this many rows
_KINDS = {"numeric": "numeric", "integer": "numeric", "categorical": "categorical",
          "boolean": "categorical"}
_F32_MAX = float(np.finfo(np.float32).max)  # the forest computes in float32

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


def band(value: float) -> str:
    """Name the PSI band: < 0.1 "stable", 0.1-0.25 "moderate", > 0.25 "significant".

    Examples
    --------
    >>> band(0.05), band(0.1), band(0.3)
    ('stable', 'moderate', 'significant')
    """
    if value < STABLE_BELOW:
        return "stable"
    return "moderate" if value <= SIGNIFICANT_ABOVE else "significant"


def psi_terms(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray:
    """Return each bin's PSI term ``(c_b - r_b) ln(c_b / r_b)`` from the two batches' counts.

    Examples
    --------
    >>> float(psi_terms(np.array([3, 1]), np.array([1, 3])).sum())  # 2 * 0.5 * ln 3
    1.0986
    """
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    r = np.where(r > 0, r / max(r.sum(), 1.0), PSI_EPSILON)
    c = np.where(c > 0, c / max(c.sum(), 1.0), PSI_EPSILON)
    return (c - r) * np.log(c / r)


def numeric_bins(ref_sorted: np.ndarray, bins: int) -> tuple[np.ndarray, bool, list[str]]:
    """Bin a sorted reference: ``(cuts, by_value, labels)`` as in the module docstring.

    Examples
    --------
    >>> numeric_bins(np.array([0.0, 0.0, 1.0]), 10)[2]
    ['(-inf, 0)', '0', '(0, 1)', '1', '(1, inf)']
    >>> numeric_bins(np.arange(100.0), 2)[2]
    ['(-inf, 49.5]', '(49.5, inf)']
    """
    distinct = _last_of_each(ref_sorted)[1]
    if 0 < len(distinct) <= bins:
        names = [_fmt(v) for v in distinct]
        labels = []
        for below, name in zip(["-inf", *names[:-1]], names, strict=True):
            labels += [f"({below}, {name})", name]
        return distinct, True, [*labels, f"({names[-1]}, inf)"]
    edges = np.quantile(ref_sorted, np.arange(1, bins) / bins) if len(ref_sorted) else []
    edges = np.unique(np.asarray(edges)[np.isfinite(edges)])
    bounds = [_fmt(v) for v in (-math.inf, *edges, math.inf)]
    labels = [f"({lo}, {hi}]" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    return edges, False, [*labels[:-1], labels[-1][:-1] + ")"]


def bin_counts(values_sorted: np.ndarray, cuts: np.ndarray, by_value: bool) -> np.ndarray:
    """Count sorted values in the bins of :func:`numeric_bins`.

    Examples
    --------
    >>> x = np.array([1.0, 2.0, 2.0, 5.0])
    >>> bin_counts(x, np.array([2.0, 4.0]), False).tolist(), bin_counts(x, x[1:2], True).tolist()
    ([3, 0, 1], [1, 2, 1])
    """
    at = np.searchsorted(values_sorted, cuts, side="right")
    if by_value:
        at = np.column_stack([np.searchsorted(values_sorted, cuts, side="left"), at]).ravel()
    return np.diff(np.r_[0, at, len(values_sorted)])


def ks(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[float, float]:
    """Return the two-sample KS statistic and p-value, equal to ``scipy.stats.ks_2samp``.

    Up to 10,000 rows per batch scipy is called (its exact p-value). Beyond, the statistic
    is computed from the sorted batches (``searchsorted`` with sorted queries) and the
    p-value is scipy's asymptotic one, ``scipy.stats.kstwo.sf(D, round(n m / (n + m)))``.
    ``(nan, nan)`` when a batch has no value.

    Examples
    --------
    >>> ks(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    (0.0, 1.0)
    """
    n1, n2 = len(ref_sorted), len(cur_sorted)
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    if max(n1, n2) <= _MAX_EXACT:
        with warnings.catch_warnings():  # scipy falls back to "asymp" itself and says so
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
            result = stats.ks_2samp(ref_sorted, cur_sorted)
        return float(result.statistic), float(result.pvalue)
    # the CDFs (right-continuous) differ most at the last copy of an observed value
    ref_at, ref_vals = _last_of_each(ref_sorted)
    cur_at, cur_vals = _last_of_each(cur_sorted)
    d = max(np.max(np.abs(ref_at / n1 - np.searchsorted(cur_sorted, ref_vals, "right") / n2)),
            np.max(np.abs(np.searchsorted(ref_sorted, cur_vals, "right") / n1 - cur_at / n2)))
    d = float(d)
    m, n = sorted((float(n1), float(n2)), reverse=True)
    return d, float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0.0, 1.0))


def _last_of_each(values_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Count of values <= each distinct value, and the distinct values."""
    if len(values_sorted) == 0:
        return np.empty(0, dtype=np.int64), values_sorted
    last = np.flatnonzero(np.r_[values_sorted[1:] != values_sorted[:-1], True])
    return last + 1, values_sorted[last]


def _median(values_sorted: np.ndarray) -> float:
    """``numpy.median`` of sorted values without another partition."""
    n = len(values_sorted)
    if n % 2:
        return float(values_sorted[n // 2])
    return float(np.mean(values_sorted[n // 2 - 1: n // 2 + 1]))


def chi2(ref_counts: pd.Series, cur_counts: pd.Series) -> tuple[float, float]:
    """Return ``scipy.stats.chi2_contingency`` of the category x batch table.

    ``(nan, nan)`` when a batch has no value; one category gives ``(0.0, 1.0)``.

    Examples
    --------
    >>> chi2(pd.Series({"a": 5, "b": 5}), pd.Series({"a": 5, "b": 5}))
    (0.0, 1.0)
    """
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return math.nan, math.nan
    table = pd.concat([ref_counts, cur_counts], axis=1).fillna(0).to_numpy(np.float64)
    result = stats.chi2_contingency(table[table.sum(axis=1) > 0])
    return float(result.statistic), float(result.pvalue)


def adjust(pvalues: np.ndarray, method: str) -> np.ndarray:
    """Adjust p-values for multiple testing (NaN stay NaN and do not count as tests).

    ``"bonferroni"``: ``min(1, m p)``. ``"bh"`` (Benjamini-Hochberg): the step-up adjusted
    p-values ``min_{j >= i} min(1, m p_(j) / j)``, as ``scipy.stats.false_discovery_control``.

    Examples
    --------
    >>> adjust(np.array([0.01, 0.04, np.nan]), "bonferroni").tolist()
    [0.02, 0.08, nan]
    >>> adjust(np.array([0.01, 0.04, 0.03]), "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = len(tested)
    if method == "bonferroni":
        out[tested] = np.minimum(p[tested] * m, 1.0)
    elif method == "bh":
        order = tested[np.argsort(p[tested], kind="stable")]
        scaled = p[order] * m / np.arange(1, m + 1)
        out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    else:
        raise ValueError(BAD_CORRECTION.format(correction=method))
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _row(kind: str, test: str, ref_counts: np.ndarray, cur_counts: np.ndarray,
         labels: list[str], keep: np.ndarray, result: tuple[float, float],
         ref_values: np.ndarray | None = None, cur_values: np.ndarray | None = None
         ) -> tuple[dict, pd.DataFrame]:
    """Assemble a drift row and its histogram (last bin: missing; values: sorted)."""
    hist = pd.DataFrame({"reference": ref_counts / ref_counts.sum(),
                         "current": cur_counts / cur_counts.sum(),
                         "psi": psi_terms(ref_counts, cur_counts)},
                        index=pd.Index(labels, name="bin"))[keep]
    row = dict(kind=kind, psi=float(hist["psi"].sum()), test=test, statistic=result[0],
               p_value=result[1], missing_reference=float(ref_counts[-1] / ref_counts.sum()),
               missing_current=float(cur_counts[-1] / cur_counts.sum()))
    for batch, values in (("reference", ref_values), ("current", cur_values)):
        ok = values is not None and len(values) > 0
        row[f"mean_{batch}"] = float(np.mean(values)) if ok else math.nan
        row[f"median_{batch}"] = _median(values) if ok else math.nan
    return row, hist


def numeric_row(ref: np.ndarray, cur: np.ndarray, bins: int) -> tuple[dict, pd.DataFrame]:
    """Compute the drift row and the PSI bins of one numeric feature (NaN = missing).

    Examples
    --------
    >>> row, hist = numeric_row(np.array([0.0, 0.0, 0.0, 1.0]), np.array([0.0, 1, 1, 7]), 10)
    >>> round(row["psi"], 4), hist.index.tolist()
    (2.6778, ['0', '1', '(1, inf)', 'missing'])
    """
    ref_missing, cur_missing = np.isnan(ref), np.isnan(cur)
    rs, cs = np.sort(ref[~ref_missing]), np.sort(cur[~cur_missing])
    cuts, by_value, labels = numeric_bins(rs, bins)
    ref_counts = np.r_[bin_counts(rs, cuts, by_value), ref_missing.sum()]
    cur_counts = np.r_[bin_counts(cs, cuts, by_value), cur_missing.sum()]
    keep = ref_counts + cur_counts > 0
    keep[-1] = True
    return _row("numeric", "ks", ref_counts, cur_counts, [*labels, "missing"], keep,
                ks(rs, cs), rs, cs)


def _sorted(values: Any) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _plain(column: pd.Series) -> pd.Series:
    return column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column


def categorical_row(ref: pd.Series, cur: pd.Series) -> tuple[dict, pd.DataFrame]:
    """Compute the drift row and the PSI bins of one categorical feature (missing = NA).

    Examples
    --------
    >>> row, hist = categorical_row(pd.Series(list("aab")), pd.Series(["a", "c", None]))
    >>> hist.index.tolist(), row["missing_current"]
    (['a', 'b', 'unseen', 'missing'], 0.333)
    """
    ref, cur = _plain(ref), _plain(cur)
    ref_missing, cur_missing = ref.isna().to_numpy(), cur.isna().to_numpy()
    ref_counts = ref[~ref_missing].value_counts(sort=False)
    cur_counts = cur[~cur_missing].value_counts(sort=False)
    categories = _sorted(ref_counts.index)
    seen = cur_counts.reindex(categories, fill_value=0).to_numpy()
    counts_r = np.r_[ref_counts.reindex(categories).to_numpy(), 0, ref_missing.sum()]
    counts_c = np.r_[seen, cur_counts.sum() - seen.sum(), cur_missing.sum()]
    labels = [str(c) for c in categories] + ["unseen", "missing"]
    keep = np.ones(len(labels), dtype=bool)
    return _row("categorical", "chi2", counts_r, counts_c, labels, keep,
                chi2(ref_counts, cur_counts))


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
