"""Monitoring: drift of every feature and of the prediction, and anomalies of a new batch.

:func:`drift` compares a reference batch (the training data, or a session's rows) with a
current batch feature by feature: the population stability index (PSI, formula and bins in
:mod:`~mldebug_widgets.analysis._drift_stats`), a two-sample test (Kolmogorov-Smirnov for
numbers, chi-square for categories), missing rates and mean/median shifts. A feature is
flagged when its PSI is at least 0.1 or its p-value, Bonferroni-corrected across the tested
rows (or Benjamini-Hochberg with ``correction="bh"``), is below ``alpha``.

:func:`anomalies` fits scikit-learn's ``IsolationForest`` on the reference and scores every
current row, so the most unusual rows can be sent to the what-if editor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..schema import FeatureSchema
from ..session import DebugSession
from . import _drift_stats as S
from ._drift_stats import AnomalyEncoder, check_batches, check_options, feature_kinds

__all__ = ["AnomalyEncoder", "AnomalyResult", "DriftResult", "anomalies", "drift"]

_COLUMNS = ["kind", "psi", "band", "test", "statistic", "p_value", "p_adjusted", "flagged",
            "missing_reference", "missing_current", "missing_change", "mean_reference",
            "mean_current", "mean_shift", "median_reference", "median_current", "median_shift"]


@dataclass(frozen=True, eq=False)
class DriftResult:
    """Drift of each feature (and of the prediction) between a reference and a current batch.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per feature in column order (then ``prediction`` rows when a session was
        given), columns ``kind, psi, band, test, statistic, p_value, p_adjusted, flagged,
        missing_reference, missing_current, missing_change, mean_reference, mean_current,
        mean_shift, median_reference, median_current, median_shift`` (shifts are current -
        reference; means and medians of non-missing values, NaN for categories).
    histograms : dict of str to pandas.DataFrame
        Per row of ``table``: the PSI bins, with the ``reference`` and ``current`` shares
        and each bin's ``psi`` contribution.
    alpha : float
        Level of the corrected tests.
    correction : {"bonferroni", "bh"}
        The multiple-testing correction across the tested rows.
    bins : int
        Number of quantile bins of numeric features.
    n_reference, n_current : int
        Rows of each batch.

    Examples
    --------
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"x": range(100), "c": ["a", "b"] * 50})
    >>> cur = pd.DataFrame({"x": range(50, 150), "c": ["a", "b"] * 50})
    >>> result = drift(ref, cur)
    >>> result.flagged
    ['x']
    >>> result.to_frame()[["psi", "band", "test"]].round(2)
              psi         band  test
    feature
    x        4.35  significant    ks
    c        0.00       stable  chi2
    """

    table: pd.DataFrame
    histograms: dict[str, pd.DataFrame] = field(repr=False)
    alpha: float
    correction: str
    bins: int
    n_reference: int
    n_current: int

    @property
    def flagged(self) -> list[str]:
        """Names of the flagged rows, by decreasing PSI."""
        frame = self.to_frame()
        return frame.index[frame["flagged"]].tolist()

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of :attr:`table` sorted by decreasing PSI (ties keep column order).

        Examples
        --------
        >>> import pandas as pd
        >>> drift(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [1.0, 2.0]})
        ...       ).to_frame()["psi"].tolist()
        [0.0]
        """
        return self.table.sort_values("psi", ascending=False, kind="stable")

    def histogram(self, feature: str) -> pd.DataFrame:
        """Return the PSI bins of ``feature`` (shares of each batch and PSI contributions).

        Examples
        --------
        >>> import pandas as pd
        >>> r = drift(pd.DataFrame({"c": ["a", "b"]}), pd.DataFrame({"c": ["a", "z"]}))
        >>> r.histogram("c")["current"].tolist()
        [0.5, 0.0, 0.5, 0.0]
        """
        if feature not in self.histograms:
            raise KeyError(f"no drift row {feature!r}; rows are {list(self.histograms)}.")
        return self.histograms[feature]

    def summary(self) -> str:
        """One paragraph: how many rows drifted and the flagged ones with PSI and p-value.

        Examples
        --------
        >>> import pandas as pd
        >>> ref = pd.DataFrame({"x": range(100)})
        >>> print(drift(ref, ref + 50).summary())
        1 of 1 feature drifted (PSI >= 0.1 or Bonferroni-adjusted p < 0.05; 100 reference
        rows, 100 current rows): x (PSI 4.35, significant; ks p = 1e-11).
        """
        frame = self.to_frame()
        method = {"bonferroni": "Bonferroni", "bh": "Benjamini-Hochberg"}[self.correction]
        n_features = int((frame["kind"] != "prediction").sum())
        flagged = frame[frame["flagged"]]
        n_flag = int((flagged["kind"] != "prediction").sum())
        noun = "feature" if n_features == 1 else "features"
        head = (f"{n_flag} of {n_features} {noun} drifted (PSI >= 0.1 or {method}-adjusted "
                f"p < {self.alpha:g}; {self.n_reference} reference rows, {self.n_current} "
                f"current rows)")
        parts = [f"{name} (PSI {r.psi:.3g}, {r.band}; {r.test} p = {r.p_value:.2g})"
                 for name, r in flagged.iterrows()]
        return head + (": " + "; ".join(parts) + "." if parts else ".")


def drift(
    reference: pd.DataFrame | None = None,
    current: pd.DataFrame | None = None,
    *,
    session: DebugSession | None = None,
    features: Sequence[str] | None = None,
    bins: int = 10,
    schema: FeatureSchema | Mapping[str, Mapping[str, Any]] | None = None,
    alpha: float = 0.05,
    correction: Literal["bonferroni", "bh"] = "bonferroni",
) -> DriftResult:
    """Measure the drift of every feature (and of the prediction) from reference to current.

    Per feature: the PSI with its band (< 0.1 stable, 0.1-0.25 moderate, > 0.25
    significant), a two-sample test on the non-missing values (KS for numeric and integer
    features, equal to ``scipy.stats.ks_2samp``; chi-square of the category x batch table for
    categorical and boolean ones, ``scipy.stats.chi2_contingency``), the missing-rate change
    and the mean and median shifts. ``flagged`` is ``psi >= 0.1`` or ``p_adjusted < alpha``,
    where the p-values are corrected across every tested row (features, then prediction).
    Bonferroni (the default) bounds the chance of any false alarm on a stable batch by
    ``alpha``; Benjamini-Hochberg bounds the expected share of false alarms instead.

    PSI bins: the distinct reference quantiles at ``1/bins, ..., (bins-1)/bins`` (right-
    closed, open-ended outer bins); one bin per value (and one between neighbours) when the
    reference has at most ``bins`` distinct values; one per reference category plus
    ``"unseen"`` for categories; always a missing bin; an empty bin's share is replaced by
    1e-4 (details in :mod:`~mldebug_widgets.analysis._drift_stats`).

    Parameters
    ----------
    reference : pandas.DataFrame, default=None
        The baseline rows (e.g. the training data). Omit it when ``session`` is given.
    current : pandas.DataFrame
        The new batch, with the same columns.
    session : DebugSession, default=None
        Use ``session.X`` as the reference and add the drift of the prediction: one row
        ``prediction`` (one ``prediction[<class>]`` per class for multiclass) comparing
        ``session.predictions()`` (cached) with one ``session.predict`` call on ``current``.
    features : sequence of str, default=None
        Columns to compare (default: all; then both batches must have the same columns).
    bins : int, default=10
        Quantile bins of numeric features (10: deciles).
    schema : FeatureSchema or mapping, default=None
        Kinds of the features: a schema, or overrides such as
        ``{"SEX": {"kind": "categorical"}}``. Default: ``session.schema``, else the dtypes
        (bool, string, object and category columns are categorical).
    alpha : float, default=0.05
        Level of the corrected tests.
    correction : {"bonferroni", "bh"}, default="bonferroni"
        Multiple-testing correction across the tested rows.

    Returns
    -------
    DriftResult

    Raises
    ------
    ValueError
        Empty batch, different columns, unknown features, bad ``bins``/``alpha``.
    TypeError
        A batch that is not a DataFrame, or a numeric feature with non-numeric values.

    Examples
    --------
    >>> from mldebug_widgets.datasets import load_credit
    >>> ref, cur = load_credit(n_rows=2_000).X, load_credit(n_rows=2_000, batch="current").X
    >>> drift(ref, cur).flagged
    ['AGE', 'LIMIT_BAL', 'PAY_0']
    """
    check_options(bins, alpha, correction)
    reference, current, features = check_batches(reference, current, session, features)
    if schema is None and session is not None:
        schema = session.schema
    kinds = feature_kinds(reference, current, features, schema)
    rows, hists = {}, {}
    for name in features:
        if kinds[name] == "numeric":
            rows[name], hists[name] = S.numeric_row(
                _floats(reference[name]), _floats(current[name]), bins)
        else:
            rows[name], hists[name] = S.categorical_row(reference[name], current[name])
    if session is not None:
        ref_pred = session.predictions()
        cur_pred = session.predict(current[session.features], check_finite=False)
        names = session.output_names
        for k in range(ref_pred.shape[1]):
            key = "prediction" if ref_pred.shape[1] == 1 else f"prediction[{names[k]}]"
            row, hists[key] = S.numeric_row(_finite(ref_pred[:, k]), _finite(cur_pred[:, k]),
                                            bins)
            rows[key] = {**row, "kind": "prediction"}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "feature"
    table["band"] = [S.band(v) for v in table["psi"]]
    table["p_adjusted"] = S.adjust(table["p_value"].to_numpy(), correction)
    table["flagged"] = (table["psi"] >= S.STABLE_BELOW) | (table["p_adjusted"] < alpha)
    for what in ("missing", "mean", "median"):
        name = "missing_change" if what == "missing" else f"{what}_shift"
        table[name] = table[f"{what}_current"] - table[f"{what}_reference"]
    return DriftResult(table=table[_COLUMNS], histograms=hists, alpha=float(alpha),
                       correction=correction, bins=int(bins), n_reference=len(reference),
                       n_current=len(current))


@dataclass(frozen=True, eq=False)
class AnomalyResult:
    """IsolationForest scores of the current rows, the forest fitted on the reference.

    Attributes
    ----------
    scores : pandas.Series
        ``forest.score_samples`` of every current row (indexed like ``current``): higher
        is more normal (about -0.5 and below is unusual).
    is_anomaly : pandas.Series of bool
        The forest's decision: ``scores - forest.offset_ < 0`` (``forest.predict == -1``).
    reference_rate : float
        Share of reference rows the forest flags (in-sample): the rate to compare
        :attr:`rate` with.
    forest : sklearn.ensemble.IsolationForest
        The forest fitted on ``encoder.transform(reference)``.
    encoder : AnomalyEncoder
        The numeric encoding of the rows (ordinal codes, missing sentinels).
    X : pandas.DataFrame
        The current rows' features (a copy), for :meth:`top`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500)})
    >>> cur = pd.DataFrame({"x": [0.1, 8.0], "y": [0.0, -9.0]}, index=["ok", "odd"])
    >>> result = anomalies(ref, cur)
    >>> result.top(1).index.tolist(), result.rate
    (['odd'], 0.5)
    """

    scores: pd.Series
    is_anomaly: pd.Series
    reference_rate: float
    forest: Any = field(repr=False)
    encoder: AnomalyEncoder = field(repr=False)
    X: pd.DataFrame = field(repr=False)

    @property
    def anomaly_score(self) -> pd.Series:
        """``-scores``: higher is more anomalous (between 0 and 1)."""
        return (-self.scores).rename("anomaly_score")

    @property
    def rate(self) -> float:
        """Share of current rows the forest flags as anomalies."""
        return float(self.is_anomaly.mean())

    def to_frame(self) -> pd.DataFrame:
        """Return one row per current row: ``score, anomaly_score, is_anomaly``.

        Examples
        --------
        >>> import pandas as pd
        >>> ref = pd.DataFrame({"x": [float(i) for i in range(50)]})
        >>> anomalies(ref, ref.head(3)).to_frame().columns.tolist()
        ['score', 'anomaly_score', 'is_anomaly']
        """
        return pd.DataFrame({"score": self.scores, "anomaly_score": self.anomaly_score,
                             "is_anomaly": self.is_anomaly})

    def top(self, n: int = 10) -> pd.DataFrame:
        """Return the ``n`` most anomalous current rows: labels, scores and feature values.

        Sorted by decreasing ``anomaly_score`` (ties in row order); columns
        ``anomaly_score, score`` then the features.

        Examples
        --------
        >>> import pandas as pd
        >>> ref = pd.DataFrame({"x": [float(i % 10) for i in range(100)]})
        >>> anomalies(ref, pd.DataFrame({"x": [5.0, 500.0]})).top(1)["x"].tolist()
        [500.0]
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}.")
        order = np.argsort(self.scores.to_numpy(), kind="stable")[:n]
        head = self.to_frame()[["anomaly_score", "score"]].iloc[order]
        return pd.concat([head, self.X.iloc[order]], axis=1)

    def row_values(self, label: Any) -> dict[str, Any]:
        """Return ``{feature: value}`` of one current row, e.g. for ``session.propose``.

        Examples
        --------
        >>> import pandas as pd
        >>> ref = pd.DataFrame({"x": [float(i) for i in range(50)]})
        >>> anomalies(ref, pd.DataFrame({"x": [9.0]}, index=["r"])).row_values("r")
        {'x': 9.0}
        """
        if label not in self.X.index:
            raise KeyError(f"row {label!r} is not in the current batch; use a label of "
                           f".top() (first labels: {list(self.X.index[:5])}).")
        row = self.X.loc[label]
        return {name: (v.item() if isinstance(v, np.generic) else v) for name, v in row.items()}


def anomalies(
    reference: pd.DataFrame | None = None,
    current: pd.DataFrame | None = None,
    *,
    session: DebugSession | None = None,
    features: Sequence[str] | None = None,
    schema: FeatureSchema | Mapping[str, Mapping[str, Any]] | None = None,
    contamination: float | Literal["auto"] = "auto",
    random_state: int | None = 0,
    n_estimators: int = 100,
) -> AnomalyResult:
    """Score the current rows with an IsolationForest fitted on the reference rows.

    Rows are encoded as numbers by :class:`AnomalyEncoder` (fitted on the reference):
    numeric values as they are, categorical ones as ordinal codes of the reference's sorted
    categories (an unseen category gets the next code), a missing value as a sentinel below
    the reference range. ``IsolationForest(n_estimators=n_estimators,
    contamination=contamination, random_state=random_state)`` is fitted on the encoded
    reference, and ``score_samples`` scores the encoded current rows. The forest scores how
    few random splits isolate a row among the reference rows: a value far beyond the
    reference range counts as much as one just beyond it, and rows that are unusual in
    many features at once score highest.

    Parameters
    ----------
    reference : pandas.DataFrame, default=None
        Rows that are normal (e.g. the training data). Omit it when ``session`` is given.
    current : pandas.DataFrame
        The rows to score, with the same columns.
    session : DebugSession, default=None
        Use ``session.X`` as the reference (and ``session.schema`` for the kinds).
    features : sequence of str, default=None
        Columns to use (default: all; then both batches must have the same columns).
    schema : FeatureSchema or mapping, default=None
        Kinds of the features, as in :func:`drift`.
    contamination : float or "auto", default="auto"
        Passed to ``IsolationForest``: the expected share of anomalies in the reference
        ("auto": the threshold of the original paper, a score of -0.5).
    random_state : int or None, default=0
        Seed of the forest.
    n_estimators : int, default=100
        Number of trees.

    Returns
    -------
    AnomalyResult

    Raises
    ------
    ValueError, TypeError
        As :func:`drift` for the batches; scikit-learn's errors for bad forest options.

    Examples
    --------
    >>> from mldebug_widgets.datasets import load_credit
    >>> ref, cur = load_credit(n_rows=1_000).X, load_credit(n_rows=500, batch="current").X
    >>> result = anomalies(ref, cur)
    >>> len(result.scores), result.top(3).shape
    (500, (3, 25))
    """
    from sklearn.ensemble import IsolationForest

    reference, current, features = check_batches(reference, current, session, features)
    if schema is None and session is not None:
        schema = session.schema
    kinds = feature_kinds(reference, current, features, schema)
    encoder = AnomalyEncoder.fit(reference, kinds)
    ref_codes = encoder.transform(reference)
    forest = IsolationForest(n_estimators=n_estimators, contamination=contamination,
                             random_state=random_state).fit(ref_codes)
    scores = forest.score_samples(encoder.transform(current))
    reference_rate = float(np.mean(forest.score_samples(ref_codes) - forest.offset_ < 0))
    return AnomalyResult(
        scores=pd.Series(scores, index=current.index, name="score"),
        is_anomaly=pd.Series(scores - forest.offset_ < 0, index=current.index,
                             name="is_anomaly"),
        reference_rate=reference_rate, forest=forest, encoder=encoder,
        X=current[list(features)].copy())


def _floats(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _finite(values: np.ndarray) -> np.ndarray:
    """Predictions as floats, non-finite ones counted as missing."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)
