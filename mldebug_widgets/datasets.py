"""Generated demo credit data with planted, documented bugs.

Nothing is downloaded: :func:`load_credit` draws, with numpy and from ``random_state``
only, a table shaped like the UCI "default of credit card clients" data and plants a
known set of bugs in it; :func:`demo_model` fits a small scikit-learn pipeline on it.
``CreditData.bugs`` is the answer key: one :class:`PlantedBug` per bug, with a
description, the affected rows and the region.

Answer key (for teachers)
-------------------------
==========================  ===============================================================
Bug                         What / where
==========================  ===============================================================
adversarial_pocket          default logit + 5 where PAY_AMT1 <= 200 and PAY_AMT2 <= 200
label_bias                  30% of the true non-defaults with SEX == 2, AGE < 30 set to 1
undocumented_codes          EDUCATION 0, 5, 6 or MARRIAGE 0 (~1% of rows)
impossible_values           AGE 0 or >= 120; negative PAY_AMT3..PAY_AMT6 (a few dozen rows)
mislabeled_cluster          0.4% very safe customers in one ID range recorded as DEFAULT 1
weak_slice                  EDUCATION == 3 and AGE >= 50: the label is a coin flip
missing_payment_imputation  demo_model imputes missing numbers with 0 -> lands in the pocket
drift                       batch="current": LIMIT_BAL x 0.7, AGE + 6, PAY_0 + 1 for 25%
==========================  ===============================================================

Labels are drawn from the clean features; the data-quality bugs are written into the
recorded features afterwards, in rows outside the regions of the other bugs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = ["CREDIT_SCHEMA", "CreditData", "PlantedBug", "demo_model", "load_credit"]

PAY_COLUMNS = ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")
BILL_COLUMNS = tuple(f"BILL_AMT{i}" for i in range(1, 7))
PAY_AMT_COLUMNS = tuple(f"PAY_AMT{i}" for i in range(1, 7))
COLUMNS = (
    ("ID", "LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE")
    + PAY_COLUMNS
    + BILL_COLUMNS
    + PAY_AMT_COLUMNS
    + ("DEFAULT",)
)
CATEGORICAL = ("SEX", "EDUCATION", "MARRIAGE")
#: Schema overrides for binding the demo data: integer codes that are categories, and the
#: features a search must not change. Use as ``bind(model, X, y, schema=CREDIT_SCHEMA)``.
CREDIT_SCHEMA = {
    "SEX": {"kind": "categorical", "mutable": False},
    "EDUCATION": {"kind": "categorical"},
    "MARRIAGE": {"kind": "categorical"},
    "AGE": {"mutable": False},
}

# label-generating process (logit scale); PAY_0 effects for -2, -1, 0, 1, 2 and >= 3
_B0 = -2.684
_Z_COEF = 0.3
_PAY0_EFFECT = (0.0, -4.0, 0.0, 1.3, 2.2, 2.6)
_DULY_COEF = -0.4  # per month paid duly, for customers with PAY_0 == -1
# standard-normal quantiles of 7, 37, 85, 92, 98, 99, 99.5, 99.7, 99.8, 99.9% -> PAY codes
_CUTS = (-1.476, -0.332, 1.036, 1.405, 2.054, 2.326, 2.576, 2.748, 2.878, 3.09)
_POCKET_T = 200.0
_POCKET_BOOST = 5.0
_BIAS_RATE = 0.3
_SAFE_P = 0.005
_SLICE_AGE = 50
_DRIFT_AGE = 6
_BATCHES = ("reference", "current")
_KINDS = ("hgb", "forest", "logistic")


@dataclass(frozen=True)
class PlantedBug:
    """One entry of the answer key.

    Parameters
    ----------
    name : str
        Key of the bug in ``CreditData.bugs``.
    description : str
        What was planted and how a tool finds it.
    mask : numpy.ndarray or None
        Boolean array aligned with the rows of the frame; ``None`` for model-level bugs.
    region : dict or None
        Predicates ``{column: (operator, value)}`` describing where the bug lives.
    features : tuple of str
        The features involved.
    data : dict or None, default None
        Extra material, e.g. ``{"true_default": array}`` for ``label_bias``.

    Examples
    --------
    >>> bug = PlantedBug("demo", "An example.", None, None, ("AGE",))
    >>> bug.features
    ('AGE',)
    """

    name: str
    description: str
    mask: np.ndarray | None
    region: dict | None
    features: tuple[str, ...]
    data: dict | None = None


@dataclass(frozen=True)
class CreditData:
    """A generated credit table with the answer key of its planted bugs.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``ID, LIMIT_BAL, SEX, ..., PAY_AMT6, DEFAULT``, one row per customer.
    bugs : dict of str to PlantedBug
        The planted bugs, keyed by name.
    target : str, default "DEFAULT"
        Name of the label column.
    sensitive_features : tuple of str, default ("SEX", "AGE")
        Columns to audit for fairness.

    Examples
    --------
    >>> data = load_credit(n_rows=500)
    >>> data.X.shape, data.y.name
    ((500, 23), 'DEFAULT')
    """

    frame: pd.DataFrame
    bugs: dict[str, PlantedBug]
    target: str = "DEFAULT"
    sensitive_features: tuple[str, ...] = ("SEX", "AGE")

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802
        """Features: the frame without ID and the target, indexed by ID.

        Returns
        -------
        pandas.DataFrame
            A new frame on each call.

        Examples
        --------
        >>> load_credit(n_rows=200).X.index.name
        'ID'
        """
        X = self.frame.drop(columns=["ID", self.target])  # noqa: N806
        X.index = pd.Index(self.frame["ID"].to_numpy(), name="ID")
        return X

    @property
    def y(self) -> pd.Series:
        """Labels indexed by ID.

        Returns
        -------
        pandas.Series
            The target column, named after it.

        Examples
        --------
        >>> load_credit(n_rows=200).y.name
        'DEFAULT'
        """
        index = pd.Index(self.frame["ID"].to_numpy(), name="ID")
        return pd.Series(self.frame[self.target].to_numpy(), index=index, name=self.target)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _clean_features(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw the bug-free features and the latent risk ``z``."""
    sex = np.where(rng.random(n) < 0.6, 2, 1)
    age = np.minimum(21 + np.floor(rng.gamma(2.4, 6.5, n)), 79).astype(np.int64)
    edu = np.where(
        age >= 45,
        rng.choice([1, 2, 3, 4], n, p=[0.28, 0.48, 0.22, 0.02]),
        rng.choice([1, 2, 3, 4], n, p=[0.36, 0.48, 0.145, 0.015]),
    )
    u = rng.random(n)
    p_married = np.clip(0.08 + 0.03 * (age - 21), 0.08, 0.85)
    marriage = np.where(u < 0.015, 3, np.where(u < 0.015 + p_married, 1, 2))
    z = rng.standard_normal(n)
    log_limit = (
        np.log(120_000)
        + 0.35 * (edu == 1)
        - 0.25 * (edu == 3)
        + 0.012 * np.clip(age - 30, -10, 20)
        - 0.45 * z
        + 0.6 * rng.standard_normal(n)
    )
    limit = np.clip(np.round(np.exp(log_limit) / 10_000) * 10_000, 10_000, 1_000_000)
    # repayment status from an AR(1) path around the latent risk, oldest month first
    codes = np.arange(-2, 9)
    pay = np.empty((n, 6), dtype=np.int64)
    e = rng.standard_normal(n)
    for m in range(5, -1, -1):
        e = 0.75 * e + np.sqrt(1 - 0.75**2) * rng.standard_normal(n)
        pay[:, m] = codes[np.searchsorted(np.array(_CUTS), 0.8 * z + 0.6 * e)]
    person = 0.9 * z[:, None] + 0.6 * rng.standard_normal((n, 1))
    util = _sigmoid(-1.0 + person + 0.3 * rng.standard_normal((n, 6)))
    bill = (util + rng.normal(0, 0.02, (n, 6))) * limit[:, None]
    bill[pay == -2] = 0.0
    credit = (pay <= -1) & (rng.random((n, 6)) < 0.015)
    bill[credit] = -rng.uniform(1, 3_000, credit.sum())
    bill = np.round(bill)
    # PAY_AMTk pays the previous statement BILL_AMT(k+1)
    prev = np.column_stack([bill[:, 1:], bill[:, 5] * rng.uniform(0.8, 1.2, n)])
    prev = np.maximum(np.round(prev), 0.0)
    frac = np.select(
        [pay <= -1, pay == 0, rng.random((n, 6)) < 0.45],
        [np.ones((n, 6)), rng.uniform(0.04, 0.25, (n, 6)), np.zeros((n, 6))],
        rng.uniform(0.01, 0.1, (n, 6)),
    )
    pay_amt = np.round(prev * frac)
    revolving = pay == 0
    pay_amt[revolving] = np.maximum(pay_amt[revolving], np.minimum(prev[revolving], 300.0))
    skip = (rng.random((n, 1)) < 0.03) & (rng.random((n, 6)) < 0.8)  # occasional skippers
    pay_amt[skip] = 0.0
    names = ("sex", "age", "edu", "marriage", "z", "limit", "pay", "bill", "pay_amt")
    return dict(zip(names, (sex, age, edu, marriage, z, limit, pay, bill, pay_amt), strict=True))


def _true_logit(f: dict[str, np.ndarray]) -> np.ndarray:
    """Logit of the clean default probability, without the pocket boost."""
    pay = f["pay"]
    duly = (pay == -1).sum(axis=1) * (pay[:, 0] == -1)
    return (
        _B0
        + _Z_COEF * f["z"]
        + np.asarray(_PAY0_EFFECT)[np.clip(pay[:, 0], -2, 3) + 2]
        + 0.25 * np.clip(pay[:, 1], 0, 3)
        + _DULY_COEF * duly
        - 0.3 * np.log(f["limit"] / 150_000)
    )


def _plant(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Generate features and labels with the planted bugs and their row masks."""
    f = _clean_features(rng, n)
    sex, age, edu, pay_amt = f["sex"], f["age"], f["edu"], f["pay_amt"]
    pocket = (pay_amt[:, 0] <= _POCKET_T) & (pay_amt[:, 1] <= _POCKET_T)
    p_true = _sigmoid(_true_logit(f) + _POCKET_BOOST * pocket)
    y = (rng.random(n) < p_true).astype(np.int64)
    weak = (edu == 3) & (age >= _SLICE_AGE)
    y[weak] = rng.random(weak.sum()) < 0.5
    true_default = y.copy()
    group = (sex == 2) & (age < 30)
    flipped = group & (y == 0) & (rng.random(n) < _BIAS_RATE)
    y[flipped] = 1
    # data-quality bugs go to rows outside the regions, so the regions stay exact
    free = ~(pocket | weak | group)
    codes = free & (rng.random(n) < 0.01)
    new_edu = rng.choice([0, 5, 6, -1], codes.sum(), p=[0.15, 0.35, 0.2, 0.3])
    new_mar = np.where((new_edu == -1) | (rng.random(codes.sum()) < 0.2), 0, -1)
    free &= ~codes & (sex == 1) & (edu <= 2)
    n_age, n_neg = max(2, n // 1_000), max(1, n // 3_000)
    bad = rng.choice(np.flatnonzero(free), min(n_age + n_neg, int(free.sum())), replace=False)
    impossible = np.isin(np.arange(n), bad)
    safe = ~(impossible | codes | group | weak) & (f["pay"][:, 0] <= -1) & (y == 0)
    strict = safe & (f["bill"][:, 0] < 0.2 * f["limit"]) & (p_true < _SAFE_P)
    k = max(10, round(0.004 * n))
    eligible = np.flatnonzero(strict if strict.sum() >= k else safe & (p_true < 0.03))
    start = int(rng.integers(0, max(len(eligible) - k, 0) + 1))
    mislabeled = np.isin(np.arange(n), eligible[start : start + k])
    y[mislabeled] = 1
    # write the data-quality bugs into the recorded features
    edu, marriage, age, pay_amt = edu.copy(), f["marriage"].copy(), age.copy(), pay_amt.copy()
    edu[codes] = np.where(new_edu >= 0, new_edu, edu[codes])
    marriage[codes] = np.where(new_mar >= 0, new_mar, marriage[codes])
    bad_age, bad_pay = bad[:n_age], bad[n_age:]
    age[bad_age] = np.where(rng.random(len(bad_age)) < 0.5, 0, rng.integers(120, 160, len(bad_age)))
    pay_amt[bad_pay, rng.integers(2, 6, len(bad_pay))] = -np.round(
        rng.uniform(100, 5_000, len(bad_pay))
    )
    f.update(edu=edu, marriage=marriage, age=age, pay_amt=pay_amt, y=y)
    masks = {
        "adversarial_pocket": pocket,
        "label_bias": flipped,
        "undocumented_codes": codes,
        "impossible_values": impossible,
        "mislabeled_cluster": mislabeled,
        "weak_slice": weak,
        "true_default": true_default,
    }
    return f, masks


def _drift(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """Shift LIMIT_BAL, AGE and PAY_0 of the current batch in place."""
    limit = np.round(frame["LIMIT_BAL"].to_numpy() * 0.7 / 10_000) * 10_000
    frame["LIMIT_BAL"] = np.maximum(limit, 10_000.0)
    age = frame["AGE"].to_numpy()
    plausible = (age > 0) & (age < 120)
    frame["AGE"] = np.where(plausible, np.minimum(age + _DRIFT_AGE, 79), age)
    pay0 = frame["PAY_0"].to_numpy()
    frame["PAY_0"] = np.where(rng.random(len(frame)) < 0.25, np.minimum(pay0 + 1, 8), pay0)


_FEATURES = {
    "adversarial_pocket": ("PAY_AMT1", "PAY_AMT2"),
    "label_bias": ("SEX", "AGE"),
    "undocumented_codes": ("EDUCATION", "MARRIAGE"),
    "impossible_values": ("AGE", "PAY_AMT3", "PAY_AMT4", "PAY_AMT5", "PAY_AMT6"),
    "mislabeled_cluster": ("ID", "DEFAULT"),
    "weak_slice": ("EDUCATION", "AGE"),
    "missing_payment_imputation": ("PAY_AMT1", "PAY_AMT2"),
    "drift": ("LIMIT_BAL", "AGE", "PAY_0"),
}


def _bugs(masks: dict[str, np.ndarray], current: bool) -> dict[str, PlantedBug]:
    """Build the answer key from the row masks."""
    t, shift = _POCKET_T, (_DRIFT_AGE if current else 0)
    note = (
        f" In this current batch AGE was shifted by +{_DRIFT_AGE} after the labels were drawn, "
        f"so the AGE threshold of the region is shifted by {_DRIFT_AGE} too."
    )
    note = note if current else ""
    regions = {
        "adversarial_pocket": {"PAY_AMT1": ("<=", t), "PAY_AMT2": ("<=", t)},
        "label_bias": {"SEX": ("==", 2), "AGE": ("<", 30 + shift)},
        "weak_slice": {"EDUCATION": ("==", 3), "AGE": (">=", _SLICE_AGE + shift)},
    }
    texts = {
        "adversarial_pocket": f"The label-generating process adds {_POCKET_BOOST:g} to the "
        f"default logit of every row with PAY_AMT1 <= {t:g} and PAY_AMT2 <= {t:g} (mask: the "
        "rows of this region), so the default rate there is far above the rest and a fitted "
        "model predicts a very high default probability in it. A slice finder or an "
        "adversarial search over the two payment amounts finds it.",
        "label_bias": "Historical label bias against young women: for SEX == 2 and AGE < 30, "
        f"{_BIAS_RATE:.0%} of the true non-defaults are recorded as DEFAULT = 1 (mask: the "
        "flipped rows). A model learns the bias: measured against the unbiased labels in "
        "data['true_default'] (the labels before this bug and before mislabeled_cluster), its "
        "false-positive rate on the group is clearly higher than on the other rows and the "
        "adverse impact ratio of the favourable outcome (predicted non-default) is below 0.8."
        + note,
        "undocumented_codes": "About 1% of rows carry codes the data dictionary does not "
        "define, as in the real UCI data: EDUCATION 0, 5 or 6 and MARRIAGE 0 (mask: rows with "
        "any such code). A schema or value check finds them; the labels were drawn from the "
        "true codes.",
        "impossible_values": "A few dozen rows hold impossible values: AGE of 0 or >= 120, or "
        "a negative amount in one of PAY_AMT3..PAY_AMT6 (mask: those rows). A range check "
        "finds them; the labels were drawn from the true values.",
        "mislabeled_cluster": f"A data-entry batch: {int(masks['mislabeled_cluster'].sum())} "
        "very safe customers (PAY_0 <= -1, BILL_AMT1 below 20% of LIMIT_BAL, true default "
        f"probability below {_SAFE_P:.1%}) in one contiguous ID range were recorded as "
        "DEFAULT = 1 (mask: those rows). They dominate the largest per-row log-loss residuals "
        "of a fitted model; sorting the residuals and looking at their IDs reveals the batch."
        + (" The criteria refer to the values before the drift." if current else ""),
        "weak_slice": f"For EDUCATION == 3 and AGE >= {_SLICE_AGE} the label is pure noise (a "
        "coin flip with p = 0.5, independent of the features, overriding every other label "
        "rule; mask: the slice), so any model is much less accurate and has a much higher "
        "log-loss there. A slice finder over two predicates finds it." + note,
        "missing_payment_imputation": "Model-level input-handling fault: demo_model imputes "
        "missing numeric inputs with the constant 0, so a row whose PAY_AMT1 and PAY_AMT2 are "
        "missing lands in the adversarial pocket and gets a high default probability. A "
        "random attack that blanks fields of safe rows finds it.",
        "drift": "Applies to the current batch, load_credit(batch='current'): drawn with seed "
        "random_state + 1000, then exactly three features are shifted: LIMIT_BAL x 0.7 "
        f"(rounded to 10,000, at least 10,000), AGE + {_DRIFT_AGE} (capped at 79, impossible "
        "ages kept) and PAY_0 + 1 for a random 25% of rows (capped at 8). The labels are not "
        "redrawn. A two-sample test of each feature against the reference batch flags "
        "LIMIT_BAL, AGE and PAY_0.",
    }
    extra = {"label_bias": {"true_default": masks["true_default"]}}
    return {
        name: PlantedBug(
            name, text, masks.get(name), regions.get(name), _FEATURES[name], extra.get(name)
        )
        for name, text in texts.items()
    }


def load_credit(
    n_rows: int = 30_000,
    random_state: int = 0,
    *,
    batch: Literal["reference", "current"] = "reference",
) -> CreditData:
    """Generate the demo credit table with its planted bugs.

    Parameters
    ----------
    n_rows : int, default 30000
        Number of rows (customers), at least 100.
    random_state : int, default 0
        Seed; the same arguments always give the same table.
    batch : {"reference", "current"}, default "reference"
        ``"current"`` draws a new batch (seed ``random_state + 1000``) and applies the
        ``drift`` bug, for drift monitoring against the reference batch.

    Returns
    -------
    CreditData
        The table and the answer key of the planted bugs.

    Raises
    ------
    ValueError
        If ``n_rows`` is not an integer >= 100 or ``batch`` is unknown.

    Examples
    --------
    >>> data = load_credit(n_rows=1_000, random_state=0)
    >>> data.frame.shape
    (1000, 25)
    >>> sorted(data.bugs)[:3]
    ['adversarial_pocket', 'drift', 'impossible_values']
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < 100:
        raise ValueError(f"n_rows must be an integer >= 100 (e.g. n_rows=30_000), got {n_rows!r}")
    if batch not in _BATCHES:
        raise ValueError(f"batch must be one of {_BATCHES}, got {batch!r}")
    current = batch == "current"
    rng = np.random.default_rng(random_state + 1_000 if current else random_state)
    n = int(n_rows)
    f, masks = _plant(rng, n)
    keys = ("limit", "sex", "edu", "marriage", "age", "pay", "bill", "pay_amt", "y")
    values = np.column_stack([np.arange(1, n + 1)] + [f[k] for k in keys])
    integers = ("ID", "AGE", "DEFAULT", *CATEGORICAL, *PAY_COLUMNS)
    frame = pd.DataFrame(values, columns=list(COLUMNS)).astype(
        {c: np.int64 if c in integers else np.float64 for c in COLUMNS}
    )
    if current:
        _drift(rng, frame)
    return CreditData(frame=frame, bugs=_bugs(masks, current))


def demo_model(
    data: CreditData | None = None,
    *,
    kind: Literal["hgb", "forest", "logistic"] = "hgb",
    random_state: int = 0,
) -> Pipeline:
    """Fit the demo pipeline on ``data.X`` and ``data.y``.

    SEX, EDUCATION and MARRIAGE are one-hot encoded; the other columns are numeric and
    missing values are imputed with the constant 0 -- the planted
    ``missing_payment_imputation`` fault.

    Parameters
    ----------
    data : CreditData, optional
        Training data; ``load_credit()`` when omitted.
    kind : {"hgb", "forest", "logistic"}, default "hgb"
        Histogram gradient boosting, a random forest, or a logistic regression (with
        standard scaling of the numeric columns).
    random_state : int, default 0
        Seed of the estimator.

    Returns
    -------
    sklearn.pipeline.Pipeline
        The fitted pipeline, steps ``"pre"`` and ``"model"``.

    Raises
    ------
    ValueError
        If ``kind`` is unknown.

    Examples
    --------
    >>> data = load_credit(n_rows=1_000)
    >>> model = demo_model(data, kind="logistic")
    >>> model.predict_proba(data.X).shape
    (1000, 2)
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    data = load_credit() if data is None else data
    X = data.X  # noqa: N806
    numeric: Any = SimpleImputer(strategy="constant", fill_value=0)
    if kind == "hgb":
        estimator: Any = HistGradientBoostingClassifier(random_state=random_state)
    elif kind == "forest":
        estimator = RandomForestClassifier(
            n_estimators=100, min_samples_leaf=5, n_jobs=1, random_state=random_state
        )
    else:
        numeric = make_pipeline(numeric, StandardScaler())
        estimator = LogisticRegression(max_iter=1000)
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
            ("num", numeric, [c for c in X.columns if c not in CATEGORICAL]),
        ]
    )
    model = Pipeline([("pre", pre), ("model", estimator)])
    model.set_output(transform="default")
    return model.fit(X, data.y)
