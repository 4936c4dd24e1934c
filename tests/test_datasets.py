"""Tests for the generated demo credit data and its planted bugs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.pipeline import Pipeline

from mldebug_widgets import datasets
from mldebug_widgets.datasets import CreditData, PlantedBug, demo_model, load_credit

N = 30_000
COLUMNS = (
    ["ID", "LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE"]
    + ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
    + [f"BILL_AMT{i}" for i in range(1, 7)]
    + [f"PAY_AMT{i}" for i in range(1, 7)]
    + ["DEFAULT"]
)
INT_COLUMNS = ["ID", "SEX", "EDUCATION", "MARRIAGE", "AGE", "DEFAULT"] + COLUMNS[6:12]
FLOAT_COLUMNS = [c for c in COLUMNS if c not in INT_COLUMNS]
BUG_NAMES = {
    "adversarial_pocket",
    "label_bias",
    "undocumented_codes",
    "impossible_values",
    "mislabeled_cluster",
    "weak_slice",
    "missing_payment_imputation",
    "drift",
}
DRIFTED = ("LIMIT_BAL", "AGE", "PAY_0")


@pytest.fixture(scope="module")
def data() -> CreditData:
    return load_credit(n_rows=N, random_state=0)


@pytest.fixture(scope="module")
def current() -> CreditData:
    return load_credit(n_rows=N, random_state=0, batch="current")


@pytest.fixture(scope="module")
def model(data):
    return demo_model(data)


@pytest.fixture(scope="module")
def proba(data, model) -> np.ndarray:
    return model.predict_proba(data.X)[:, 1]


def _logloss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _region_mask(frame: pd.DataFrame, region: dict) -> np.ndarray:
    ops = {
        "<=": np.less_equal,
        "<": np.less,
        ">=": np.greater_equal,
        ">": np.greater,
        "==": np.equal,
    }
    mask = np.ones(len(frame), dtype=bool)
    for column, (op, value) in region.items():
        mask &= ops[op](frame[column].to_numpy(), value)
    return mask


# --------------------------------------------------------------------------- shape


def test_columns_and_dtypes(data):
    frame = data.frame
    assert list(frame.columns) == COLUMNS
    assert len(frame) == N
    for c in INT_COLUMNS:
        assert frame[c].dtype == np.int64, c
    for c in FLOAT_COLUMNS:
        assert frame[c].dtype == np.float64, c
    np.testing.assert_array_equal(frame["ID"], np.arange(1, N + 1))
    assert data.target == "DEFAULT"
    assert data.sensitive_features == ("SEX", "AGE")


def test_value_ranges_look_like_uci(data):
    f = data.frame
    limit = f["LIMIT_BAL"]
    assert limit.between(10_000, 1_000_000).all()
    assert (limit % 10_000 == 0).all()
    assert 100_000 <= limit.median() <= 200_000
    assert set(f["SEX"].unique()) == {1, 2}
    assert 0.55 <= (f["SEX"] == 2).mean() <= 0.65
    assert set(f["EDUCATION"].unique()) <= {0, 1, 2, 3, 4, 5, 6}
    assert set(f["MARRIAGE"].unique()) <= {0, 1, 2, 3}
    assert 0.25 <= (f["EDUCATION"] == 1).mean() <= 0.45
    assert 0.35 <= (f["MARRIAGE"] == 1).mean() <= 0.6
    plausible = f["AGE"][~data.bugs["impossible_values"].mask]
    assert plausible.between(21, 79).all()
    assert 31 <= plausible.median() <= 37
    pay = f[COLUMNS[6:12]]
    assert pay.isin(range(-2, 9)).all().all()
    assert (pay == 0).mean().mean() > 0.3
    assert (pay >= 1).mean().mean() > 0.05
    # repayment status is autocorrelated across months
    assert f["PAY_0"].corr(f["PAY_2"]) > 0.5
    amounts = f[FLOAT_COLUMNS[1:]]
    np.testing.assert_array_equal(amounts, np.round(amounts))
    bills = f[[f"BILL_AMT{i}" for i in range(1, 7)]]
    assert 0.001 < (bills < 0).any(axis=1).mean() < 0.1  # a few credit balances
    assert f["BILL_AMT1"].corr(f["LIMIT_BAL"]) > 0.25
    assert f["PAY_AMT1"].corr(f["BILL_AMT2"]) > 0.3  # payments follow the previous bill
    assert 0.05 < (f["PAY_AMT1"] == 0).mean() < 0.35


def test_default_rate(data):
    assert 0.17 <= data.frame["DEFAULT"].mean() <= 0.27
    assert set(data.frame["DEFAULT"].unique()) == {0, 1}


def test_x_and_y(data):
    X, y = data.X, data.y
    assert list(X.columns) == COLUMNS[1:-1]
    assert X.index.name == "ID" and y.index.name == "ID"
    np.testing.assert_array_equal(X.index, data.frame["ID"])
    np.testing.assert_array_equal(y.index, data.frame["ID"])
    assert y.name == "DEFAULT"
    np.testing.assert_array_equal(y, data.frame["DEFAULT"])
    np.testing.assert_array_equal(X["AGE"], data.frame["AGE"])
    X.loc[:, "AGE"] = -1  # a new frame each call: the data stays untouched
    assert (data.frame["AGE"] != -1).all()
    assert (data.X["AGE"] != -1).all()


def test_deterministic():
    a, b = load_credit(n_rows=2_000, random_state=3), load_credit(n_rows=2_000, random_state=3)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    for name in BUG_NAMES:
        assert a.bugs[name].description == b.bugs[name].description
        if a.bugs[name].mask is not None:
            np.testing.assert_array_equal(a.bugs[name].mask, b.bugs[name].mask)
    other = load_credit(n_rows=2_000, random_state=4)
    assert not a.frame.equals(other.frame)
    cur_a = load_credit(n_rows=2_000, random_state=3, batch="current")
    cur_b = load_credit(n_rows=2_000, random_state=3, batch="current")
    pd.testing.assert_frame_equal(cur_a.frame, cur_b.frame)


@pytest.mark.parametrize("n_rows", [100, 137, 1_000])
def test_small_tables(n_rows):
    for seed in range(3):
        data = load_credit(n_rows=n_rows, random_state=seed)
        assert data.frame.shape == (n_rows, len(COLUMNS))
        assert data.bugs["mislabeled_cluster"].mask.sum() >= 10
        assert data.bugs["impossible_values"].mask.sum() >= 3


# --------------------------------------------------------------------------- answer key


def test_answer_key_structure(data, current):
    assert set(data.bugs) == BUG_NAMES == set(current.bugs)
    for name, bug in data.bugs.items():
        assert isinstance(bug, PlantedBug)
        assert bug.name == name
        assert isinstance(bug.description, str) and len(bug.description) > 150
        assert isinstance(bug.features, tuple) and bug.features
        assert all(isinstance(f, str) for f in bug.features)
        if bug.mask is not None:
            assert bug.mask.dtype == bool and bug.mask.shape == (N,)
            assert bug.mask.any()
    for name in ("missing_payment_imputation", "drift"):
        assert data.bugs[name].mask is None and data.bugs[name].region is None
    for name in ("undocumented_codes", "impossible_values", "mislabeled_cluster"):
        assert data.bugs[name].region is None
    assert datasets.__doc__ is not None
    for name in BUG_NAMES:  # the answer-key table names every bug
        assert name in datasets.__doc__


def test_adversarial_pocket(data, proba):
    bug = data.bugs["adversarial_pocket"]
    t = bug.region["PAY_AMT1"][1]
    assert bug.region == {"PAY_AMT1": ("<=", t), "PAY_AMT2": ("<=", t)}
    assert 0 < t <= 500
    assert bug.features == ("PAY_AMT1", "PAY_AMT2")
    mask = bug.mask
    np.testing.assert_array_equal(mask, _region_mask(data.frame, bug.region))
    assert 0.05 <= mask.mean() <= 0.12
    y = data.frame["DEFAULT"].to_numpy()
    assert y[mask].mean() > 0.6
    assert y[~mask].mean() < 0.25
    # a model trained on the data predicts a very high default probability there
    assert proba[mask].mean() > 0.6
    assert proba[~mask].mean() < 0.25
    assert np.median(proba[mask]) - np.median(proba[~mask]) > 0.4


def test_label_bias(data, proba):
    bug = data.bugs["label_bias"]
    frame, y = data.frame, data.frame["DEFAULT"].to_numpy()
    assert bug.region == {"SEX": ("==", 2), "AGE": ("<", 30)}
    assert set(bug.features) == {"SEX", "AGE"}
    group = _region_mask(frame, bug.region)
    true_default = bug.data["true_default"]
    assert true_default.shape == (N,) and set(np.unique(true_default)) == {0, 1}
    flipped = bug.mask
    assert not (flipped & ~group).any()
    assert (y[flipped] == 1).all() and (true_default[flipped] == 0).all()
    mislabeled = data.bugs["mislabeled_cluster"].mask
    np.testing.assert_array_equal(true_default != y, flipped | mislabeled)
    share = flipped.sum() / ((true_default == 0) & group).sum()
    assert 0.2 <= share <= 0.4
    assert y[group].mean() - true_default[group].mean() > 0.15

    neg = true_default == 0
    # false-positive rates against the unbiased labels
    fpr_05 = [(proba >= 0.5)[m & neg].mean() for m in (group, ~group)]
    assert fpr_05[0] > 1.3 * fpr_05[1]
    flagged = proba >= np.quantile(proba, 1 - y.mean())  # flags the observed default rate
    fpr_g, fpr_r = flagged[group & neg].mean(), flagged[~group & neg].mean()
    assert fpr_g > 2 * fpr_r and fpr_g - fpr_r > 0.1
    # adverse impact ratio of the favourable outcome with the top 22% flagged as default
    flagged = proba >= np.quantile(proba, 0.78)
    air = (1 - flagged[group].mean()) / (1 - flagged[~group].mean())
    assert air < 0.8


def test_undocumented_codes(data):
    bug = data.bugs["undocumented_codes"]
    f = data.frame
    expected = f["EDUCATION"].isin([0, 5, 6]) | (f["MARRIAGE"] == 0)
    np.testing.assert_array_equal(bug.mask, expected.to_numpy())
    assert 0.005 <= bug.mask.mean() <= 0.015
    assert f["EDUCATION"].isin([0, 5, 6]).any() and (f["MARRIAGE"] == 0).any()
    assert set(bug.features) == {"EDUCATION", "MARRIAGE"}


def test_impossible_values(data):
    bug = data.bugs["impossible_values"]
    f = data.frame
    pay_amt = f[[f"PAY_AMT{i}" for i in range(1, 7)]]
    bad_age = (f["AGE"] == 0) | (f["AGE"] >= 120)
    expected = bad_age | (pay_amt < 0).any(axis=1)
    np.testing.assert_array_equal(bug.mask, expected.to_numpy())
    assert 20 <= bug.mask.sum() <= 60
    assert (f["AGE"] == 0).any() and (f["AGE"] >= 120).any()
    assert 3 <= (pay_amt < 0).any(axis=1).sum() <= 20
    assert "AGE" in bug.features


def test_mislabeled_cluster(data, proba):
    bug = data.bugs["mislabeled_cluster"]
    mask, f = bug.mask, data.frame
    true_default = data.bugs["label_bias"].data["true_default"]
    assert mask.sum() == 120
    assert (f["DEFAULT"][mask] == 1).all() and (true_default[mask] == 0).all()
    assert (f["PAY_0"][mask] <= -1).all()
    assert (f["BILL_AMT1"][mask] < 0.2 * f["LIMIT_BAL"][mask]).all()
    ids = f["ID"][mask]
    assert ids.max() - ids.min() < N / 5  # one contiguous ID range
    for other in ("label_bias", "weak_slice", "adversarial_pocket", "impossible_values"):
        assert not (mask & data.bugs[other].mask).any(), other
    # the batch dominates the largest per-row log-loss residuals
    loss = _logloss(f["DEFAULT"].to_numpy(), proba)
    top = np.argsort(-loss)[:100]
    assert mask[top].sum() >= 50
    assert np.median(proba[mask]) < 0.1


def test_weak_slice(data, proba):
    bug = data.bugs["weak_slice"]
    assert bug.region == {"EDUCATION": ("==", 3), "AGE": (">=", 50)}
    mask = bug.mask
    np.testing.assert_array_equal(mask, _region_mask(data.frame, bug.region))
    assert 0.01 <= mask.mean() <= 0.03
    y = data.frame["DEFAULT"].to_numpy()
    assert 0.4 <= y[mask].mean() <= 0.6  # coin-flip labels
    correct = (proba >= 0.5) == y
    assert correct[~mask].mean() - correct[mask].mean() >= 0.15
    loss = _logloss(y, proba)
    assert loss[mask].mean() > loss[~mask].mean() + 0.2


def test_missing_payment_imputation(data, model, proba):
    bug = data.bugs["missing_payment_imputation"]
    assert bug.mask is None and bug.features == ("PAY_AMT1", "PAY_AMT2")
    imputer = model.named_steps["pre"].named_transformers_["num"]
    assert imputer.strategy == "constant" and imputer.fill_value == 0
    safe = ~data.bugs["adversarial_pocket"].mask & (proba < 0.2)
    assert safe.sum() > 5_000
    X = data.X[safe].copy()
    X[["PAY_AMT1", "PAY_AMT2"]] = np.nan
    attacked = model.predict_proba(X)[:, 1]
    assert proba[safe].mean() < 0.1
    assert attacked.mean() > 0.4
    assert attacked.mean() - proba[safe].mean() > 0.3


# --------------------------------------------------------------------------- drift


def test_drift_batch(data, current):
    ref, cur = data.frame, current.frame
    assert list(cur.columns) == COLUMNS
    assert dict(cur.dtypes) == dict(ref.dtypes)
    bug = current.bugs["drift"]
    assert bug.features == DRIFTED and bug.mask is None and bug.region is None
    assert data.bugs["drift"].description == bug.description
    for name in DRIFTED:
        assert name in bug.description
    for column in COLUMNS[1:-1]:
        result = ks_2samp(ref[column], cur[column])
        if column in DRIFTED:
            assert result.pvalue < 1e-6, column
        else:
            assert result.statistic < 0.03, column
    assert 0.17 <= cur["DEFAULT"].mean() <= 0.27
    assert (cur["LIMIT_BAL"] % 10_000 == 0).all() and (cur["LIMIT_BAL"] >= 10_000).all()
    assert cur["LIMIT_BAL"].median() < 0.8 * ref["LIMIT_BAL"].median()
    impossible = current.bugs["impossible_values"].mask
    age = cur["AGE"][~impossible]
    assert age.between(27, 79).all() and age.median() >= ref["AGE"].median() + 4
    bad_age = ((cur["AGE"] == 0) | (cur["AGE"] >= 120)).to_numpy()  # kept as they are
    negative = (cur[[f"PAY_AMT{i}" for i in range(1, 7)]] < 0).any(axis=1).to_numpy()
    assert bad_age.sum() >= 20 and not (bad_age & negative).any()
    np.testing.assert_array_equal(bad_age | negative, impossible)
    assert cur["PAY_0"].between(-2, 8).all()


def test_current_batch_regions_stay_exact(current):
    frame = current.frame
    for name in ("adversarial_pocket", "weak_slice"):
        bug = current.bugs[name]
        np.testing.assert_array_equal(bug.mask, _region_mask(frame, bug.region))
    assert current.bugs["weak_slice"].region["AGE"] == (">=", 56)
    bias = current.bugs["label_bias"]
    assert not (bias.mask & ~_region_mask(frame, bias.region)).any()
    codes = frame["EDUCATION"].isin([0, 5, 6]) | (frame["MARRIAGE"] == 0)
    np.testing.assert_array_equal(current.bugs["undocumented_codes"].mask, codes.to_numpy())


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("n_rows", [99, 0, -5, 100.0, "1000", True, None])
def test_bad_n_rows(n_rows):
    with pytest.raises(ValueError, match="n_rows must be an integer >= 100"):
        load_credit(n_rows=n_rows)


def test_bad_batch():
    with pytest.raises(ValueError, match="reference.*current"):
        load_credit(n_rows=500, batch="future")


def test_bad_kind():
    with pytest.raises(ValueError, match="hgb.*forest.*logistic"):
        demo_model(load_credit(n_rows=500), kind="xgboost")


# --------------------------------------------------------------------------- models


def test_demo_model_hgb_structure(data, model, proba):
    assert isinstance(model, Pipeline)
    assert list(model.named_steps) == ["pre", "model"]
    assert type(model.named_steps["model"]).__name__ == "HistGradientBoostingClassifier"
    cat = model.named_steps["pre"].named_transformers_["cat"]
    assert cat.handle_unknown == "ignore"
    columns = {name: cols for name, _, cols in model.named_steps["pre"].transformers_}
    assert columns["cat"] == ["SEX", "EDUCATION", "MARRIAGE"]
    assert set(columns["num"]) == set(data.X.columns) - {"SEX", "EDUCATION", "MARRIAGE"}
    assert isinstance(model.named_steps["pre"].transform(data.X.head()), np.ndarray)
    # a useful model overall
    y = data.frame["DEFAULT"].to_numpy()
    assert ((proba >= 0.5) == y).mean() > 0.8


@pytest.mark.parametrize("kind", ["forest", "logistic"])
def test_demo_model_other_kinds(kind):
    data = load_credit(n_rows=3_000, random_state=1)
    model = demo_model(data, kind=kind, random_state=1)
    p = model.predict_proba(data.X)[:, 1]
    assert p.shape == (3_000,)
    pocket = data.bugs["adversarial_pocket"].mask
    # a linear model cannot carve out the pocket as sharply as trees can
    assert p[pocket].mean() > p[~pocket].mean() + (0.2 if kind == "forest" else 0.05)
    estimator = model.named_steps["model"]
    if kind == "forest":
        assert estimator.n_estimators == 100 and estimator.min_samples_leaf == 5
        assert estimator.n_jobs == 1 and estimator.random_state == 1
    else:
        num = model.named_steps["pre"].named_transformers_["num"]
        assert [type(s).__name__ for s in num] == ["SimpleImputer", "StandardScaler"]
        assert estimator.max_iter == 1000


def test_demo_model_defaults_to_load_credit(monkeypatch):
    small = load_credit(n_rows=1_000, random_state=5)
    monkeypatch.setattr(datasets, "load_credit", lambda: small)
    model = datasets.demo_model()
    assert model.predict_proba(small.X).shape == (1_000, 2)
