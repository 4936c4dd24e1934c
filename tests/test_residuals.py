"""Residuals, their summaries and the error tree, against scikit-learn and hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from sklearn.metrics import log_loss

from mldebug_widgets import bind, datasets
from mldebug_widgets.analysis import error_tree, residual_summary, residuals, top_residuals


@pytest.fixture(scope="module")
def demo():
    data = datasets.load_credit(n_rows=30_000)
    model = datasets.demo_model(data)
    return data, model, bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA)


def test_binary_logloss_per_row_equals_sklearn(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y)
    proba = binary_model.predict_proba(X)
    ours = residuals(session, "logloss")
    expected = [log_loss([y.iloc[i]], proba[[i]], labels=[0, 1]) for i in range(40)]
    np.testing.assert_allclose(ours.iloc[:40], expected, rtol=1e-12)
    assert ours.index.equals(X.index) and ours.name == "logloss"
    assert residuals(session).equals(ours)  # logloss is the default for classifiers
    diff = residuals(session, "difference")
    np.testing.assert_allclose(diff, y - proba[:, 1])
    deviance = residuals(session, "deviance")
    np.testing.assert_allclose(deviance, np.sign(y - proba[:, 1]) * np.sqrt(2 * ours))
    # the mean of per-row logloss is sklearn's log_loss
    assert ours.mean() == pytest.approx(log_loss(y, proba))


def test_multiclass_logloss_and_deviance(multiclass_model, multiclass_data):
    X, y = multiclass_data
    session = bind(multiclass_model, X, y)
    proba = multiclass_model.predict_proba(X)
    ours = residuals(session)
    expected = [log_loss([y.iloc[i]], proba[[i]], labels=[0, 1, 2]) for i in range(30)]
    np.testing.assert_allclose(ours.iloc[:30], expected, rtol=1e-12)
    np.testing.assert_allclose(residuals(session, "deviance"), np.sqrt(2 * ours))


def test_regression_kinds(regression_model, regression_data):
    X, y = regression_data
    session = bind(regression_model, X, y)
    raw = y.to_numpy() - regression_model.predict(X)
    np.testing.assert_allclose(residuals(session), raw)
    np.testing.assert_allclose(residuals(session, "absolute"), np.abs(raw))
    np.testing.assert_allclose(residuals(session, "squared"), raw ** 2)


def test_bad_input_gets_the_fix(binary_model, binary_data, multiclass_model, multiclass_data,
                                decision_model):
    X, y = binary_data
    with pytest.raises(ValueError, match=r"residuals need the true labels.*bind\(model, X, y\)"):
        residuals(bind(binary_model, X))
    y_nan = y.astype(float).copy()
    y_nan.iloc[[3, 8]] = np.nan
    with pytest.raises(ValueError, match=r"2 missing value\(s\) \(first at rows \[3, 8\]\)"):
        residuals(bind(binary_model, X, y_nan, task="binary", pos_label=1.0))
    with pytest.raises(ValueError, match="kind must be one of"):
        residuals(bind(binary_model, X, y), "squared")
    with pytest.raises(ValueError, match="need probabilities.*kind='difference'"):
        residuals(bind(decision_model, X, y))
    Xm, ym = multiclass_data
    unseen = ym.copy()
    unseen.iloc[0] = 7
    with pytest.raises(ValueError, match=r"classes the model never saw: \[7\]"):
        residuals(bind(multiclass_model, Xm, unseen))


def test_summary_by_feature_counts_by_hand(pipeline_model, mixed_data):
    X, y = mixed_data
    session = bind(pipeline_model, X, y)
    res = residuals(session)
    by_city = residual_summary(session, "city")
    assert by_city["bin"].tolist() == ["east", "north", "south", "missing"]
    expected = res.groupby(X["city"].fillna("missing")).agg(["count", "mean", "max"])
    for _, row in by_city.iterrows():
        assert row["count"] == expected.loc[row["bin"], "count"]
        assert row["mean"] == pytest.approx(expected.loc[row["bin"], "mean"])
        assert row["max"] == pytest.approx(expected.loc[row["bin"], "max"])
    by_income = residual_summary(session, "income", bins=4)
    assert by_income["count"].sum() == len(X)
    assert by_income["bin"].iloc[-1] == "missing"
    assert by_income["count"].iloc[-1] == X["income"].isna().sum()
    assert (by_income["q10"] <= by_income["median"]).all()


def test_top_residuals_find_the_mislabeled_cluster(demo):
    data, model, session = demo
    top = top_residuals(session, 100)
    mislabeled = data.bugs["mislabeled_cluster"].mask
    share = mislabeled[session.X.index.get_indexer(top.index)].mean()
    assert share >= 0.5
    assert (np.diff(top["residual"].to_numpy()) <= 0).all()
    p = model.predict_proba(data.X.loc[top.index[:5]])[:, 1]
    np.testing.assert_allclose(top["prediction"].iloc[:5], p)
    smallest = top_residuals(session, 5, largest=False)
    assert smallest["residual"].max() <= top["residual"].min()


def test_summaries_expose_the_data_quality_faults(demo):
    data, _, session = demo
    bug = data.bugs["undocumented_codes"]
    by_education = residual_summary(session, "EDUCATION").set_index("bin")
    codes = data.X["EDUCATION"]
    for code in ("0", "5", "6"):  # undocumented codes get their own bins
        assert by_education.loc[code, "count"] == (codes.astype(str) == code).sum()
    assert (codes[bug.mask].isin([0, 5, 6]) | data.X["MARRIAGE"][bug.mask].eq(0)).all()
    by_age = residual_summary(session, "AGE")
    last = by_age["bin"].iloc[-1]
    assert float(last.split(",")[1].strip(" ]")) >= 120  # the impossible ages show in the range


def test_error_tree_recovers_a_planted_rule():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(0, 10, 2000), "b": rng.integers(0, 5, 2000),
                      "c": rng.choice(["x", "y", "z"], 2000)})
    y = np.where((X["a"] > 7) & (X["c"] == "y"), 5.0, 0.0) + rng.normal(0, 0.1, 2000)
    session = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    result = error_tree(session, max_depth=2, kind="absolute")
    worst = result.rules.iloc[0]
    conditions = worst["rule"].split(" & ")
    assert len(conditions) == 2 and "c = y" in conditions
    (threshold,) = [float(c.split(">")[1]) for c in conditions if c.startswith("a >")]
    assert threshold == pytest.approx(7.0, abs=0.15)  # midway between sampled values
    rows = result.rows(result.rules.index[0], session.X.index)
    inside = (X["a"] > 7) & (X["c"] == "y")
    assert abs(len(rows) - inside.sum()) <= 5 and inside.loc[rows].mean() > 0.98
    assert result.rules["support"].sum() == len(X)
    tree = result.trees[None]
    assert result.r2[None] == pytest.approx(tree.score(
        np.column_stack([X["a"], X["b"], *(X["c"] == c for c in ("x", "y", "z"))]),
        residuals(session, "absolute")))
    assert result.r2[None] > 0.95


def test_error_tree_on_demo_points_at_planted_bugs(demo):
    data, _, session = demo
    overall = error_tree(session)
    worst = overall.rules.iloc[0]["rule"]
    assert "SEX = 2" in worst and "AGE ≤ 29.5" in worst  # the label-bias group
    per_class = error_tree(session, by_class=True)
    mislabeled = data.bugs["mislabeled_cluster"].mask
    worst_leaf = per_class.rules.index[0]
    in_leaf = per_class.leaf_of_row == worst_leaf
    assert per_class.rules.iloc[0]["class"] == 1
    assert mislabeled[in_leaf].sum() >= 0.5 * mislabeled.sum()  # most of the batch
    assert mislabeled[in_leaf].mean() > 10 * mislabeled.mean()  # and concentrated


def test_no_mutation(pipeline_model, mixed_data):
    X, y = mixed_data
    before = fingerprint(X, y, pipeline_model)
    session = bind(pipeline_model, X, y)
    residuals(session)
    residual_summary(session, "income")
    error_tree(session, by_class=True)
    top_residuals(session, 10)
    assert fingerprint(X, y, pipeline_model) == before
