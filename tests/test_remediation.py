"""Reweighing and per-group thresholds, checked by hand and through a re-bound session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from mldebug_widgets import bind, datasets
from mldebug_widgets.analysis import (
    group_metrics,
    optimise_thresholds,
    reweighed_refit,
    sensitive_groups,
    threshold_classifier,
)
from mldebug_widgets.analysis.remediation import GroupThresholdClassifier, reweighing_weights


def test_reweighing_makes_group_and_label_independent():
    rng = np.random.default_rng(0)
    groups = rng.choice(["a", "b", "c"], 1000, p=[0.5, 0.3, 0.2])
    y = (rng.random(1000) < np.where(groups == "a", 0.2, 0.6)).astype(int)
    weights = reweighing_weights(groups, y)
    assert weights.sum() == pytest.approx(len(y))
    overall = y.mean()
    for g in "abc":
        mask = groups == g
        assert np.average(y[mask], weights=weights[mask]) == pytest.approx(overall)
    # the formula, by hand, for one cell
    mask = (groups == "b") & (y == 1)
    expected = (groups == "b").mean() * y.mean() / mask.mean()
    assert weights[mask][0] == pytest.approx(expected)


def test_reweighing_on_intersections():
    frame = pd.DataFrame({"sex": [1, 1, 2, 2, 2, 2], "young": [0, 1, 0, 1, 1, 0]})
    y = [1, 0, 1, 1, 0, 0]
    weights = reweighing_weights(frame, y)
    keys = list(zip(frame["sex"], frame["young"], strict=True))
    assert weights[keys.index((2, 1))] == pytest.approx((2 / 6) * (3 / 6) / (1 / 6))
    with pytest.raises(ValueError, match="align them"):
        reweighing_weights(frame, y[:-1])


@pytest.fixture
def grouped():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=400), "g": rng.choice(["a", "b"], 400)})
    y = (X["x"] + rng.normal(0, 0.5, 400) > 0).astype(int)
    return X, y, LogisticRegression().fit(X[["x"]], y)


def test_group_thresholds_decide_by_group(grouped):
    X, y, base = grouped
    clf = GroupThresholdClassifier(base, {"a": 0.3, "b": 0.7}, "g").fit(X, y)
    p = base.predict_proba(X[["x"]])[:, 1]
    expected = np.where(X["g"] == "a", p >= 0.3, p >= 0.7).astype(int)
    np.testing.assert_array_equal(clf.predict(X), expected)
    np.testing.assert_allclose(clf.predict_proba(X), base.predict_proba(X[["x"]]))
    assert clone(clf).get_params()["thresholds"] == {"a": 0.3, "b": 0.7}
    # re-bound to a session: decisions come from the per-group thresholds
    session = bind(clf, X, y, response_method="predict")
    np.testing.assert_array_equal(session.predictions()[:, 0], expected)
    with pytest.raises(ValueError, match=r"lacks the group column\(s\) \['g'\]"):
        clf.predict(X[["x"]])


def test_reject_option_favours_the_chosen_group(grouped):
    X, y, base = grouped
    clf = GroupThresholdClassifier(base, {}, "g", reject_band=0.1, favoured_groups=["b"],
                                   default_threshold=0.5).fit(X, y)
    p = base.predict_proba(X[["x"]])[:, 1]
    band = np.abs(p - 0.5) <= 0.1
    predicted = clf.predict(X)
    assert (predicted[band & (X["g"] == "b").to_numpy()] == 0).all()  # favourable = negative
    outside = ~(band & (X["g"] == "b").to_numpy())
    np.testing.assert_array_equal(predicted[outside], (p >= 0.5).astype(int)[outside])


def test_multiclass_is_refused(multiclass_model, multiclass_data):
    X, y = multiclass_data
    frame = X.assign(g="a")
    with pytest.raises(ValueError, match="need a binary classifier"):
        GroupThresholdClassifier(multiclass_model, {}, "g").fit(frame, y)


@pytest.fixture(scope="module")
def credit():
    data = datasets.load_credit(n_rows=6_000)
    model = datasets.demo_model(data, kind="logistic")
    session = bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                   schema=datasets.CREDIT_SCHEMA)
    return data, model, session


def test_exported_thresholds_read_binned_groups_from_raw_columns(credit):
    data, model, session = credit
    bins = {"AGE": [0, 30, 200]}
    plan = optimise_thresholds(session, "air", bins=bins)
    clf = threshold_classifier(session, plan.thresholds, bins=bins)
    # by hand: the row's group from its raw SEX and AGE, then its threshold
    p = model.predict_proba(data.X)[:, 1]
    young = np.where(data.X["AGE"] < 30, "[0, 30)", "[30, 200]")
    t = np.array([plan.thresholds[(s, a)] for s, a in zip(data.X["SEX"], young, strict=True)])
    np.testing.assert_array_equal(clf.predict(data.X), (p >= t).astype(int))
    # re-bound, its group metrics are the plan's table
    rebound = bind(clf, data.X, data.y, sensitive_features=["SEX", "AGE"],
                   response_method="predict", schema=datasets.CREDIT_SCHEMA)
    after = group_metrics(rebound, bins=bins)
    columns = ["count", "selection_rate", "accuracy", "tpr", "fpr"]
    np.testing.assert_allclose(after[columns].to_numpy(float),
                               plan.table[columns].to_numpy(float), equal_nan=True)
    assert clf.estimator is model  # wrapped, not copied or refitted


def test_export_needs_the_group_columns_in_X(credit):
    data, _, _ = credit
    session = bind(datasets.demo_model(data, kind="logistic"), data.X, data.y,
                   sensitive_features=pd.DataFrame({"region": np.resize(["n", "s"],
                                                                         len(data.X))},
                                                   index=data.X.index))
    with pytest.raises(ValueError, match=r"not columns of X.*bind X with"):
        threshold_classifier(session, {"n": 0.4})


def test_reweighed_refit_is_a_weighted_clone_fit_and_leaves_the_model_alone(credit):
    data, model, session = credit
    before = fingerprint(model)
    refit = reweighed_refit(session, sensitive_features=["SEX", "AGE"],
                            bins={"AGE": [0, 30, 200]})
    assert fingerprint(model) == before and refit is not model
    # by hand: the refit equals fitting a clone with the Kamiran-Calders weights
    groups = sensitive_groups(session, bins={"AGE": [0, 30, 200]})
    expected = clone(model).fit(data.X, data.y,
                                model__sample_weight=reweighing_weights(groups, data.y))
    np.testing.assert_allclose(refit.predict_proba(data.X), expected.predict_proba(data.X))


def test_reweighed_refit_needs_sample_weight(credit):
    data, _, _ = credit

    class NoWeights(LogisticRegression):
        def fit(self, X, y):  # noqa: D102
            return super().fit(X, y)

    model = NoWeights().fit(data.X[["LIMIT_BAL"]], data.y)
    session = bind(model, data.X[["LIMIT_BAL", "SEX"]], data.y, sensitive_features=["SEX"])
    with pytest.raises(ValueError, match="takes no sample_weight"):
        reweighed_refit(session)
