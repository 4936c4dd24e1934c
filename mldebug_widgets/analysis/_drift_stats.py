"""The numbers behind :mod:`~mldebug_widgets.analysis.monitoring`: PSI, tests, drift rows.

Each feature is handled on sorted, missing-free copies of its two columns: bin counts are a
``searchsorted`` of the bin edges, so a million rows cost two sorts per feature. The input
checks and error messages live in ``_drift_inputs`` and the anomaly encoding
(``AnomalyEncoder``) in ``_anomaly_encoder``; both are importable from here too.

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

import numpy as np
import pandas as pd
from scipy import stats

from ._anomaly_encoder import _F32_MAX, AnomalyEncoder  # noqa: F401 (re-exported)
from ._drift_inputs import (  # noqa: F401 (re-exported)
    _KINDS,
    BAD_ALPHA,
    BAD_BINS,
    BAD_CORRECTION,
    BOTH_REFERENCES,
    COLUMN_MISMATCH,
    EMPTY_BATCH,
    NO_REFERENCE,
    NOT_A_FRAME,
    NOT_NUMERIC,
    SESSION_COLUMNS,
    UNKNOWN_FEATURES,
    _plain,
    _sorted,
    check_batches,
    check_options,
    feature_kinds,
)

PSI_EPSILON = 1e-4
STABLE_BELOW, SIGNIFICANT_ABOVE = 0.1, 0.25  # PSI bands: stable, moderate, significant
_MAX_EXACT = 10_000  # scipy's ks_2samp tries its exact p-value up to this many rows


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
