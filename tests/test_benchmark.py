"""analysis.benchmark: metrics against scikit-learn, disagreement sets against a direct
recomputation, the demo data, every kind of model, and no mutation of user objects."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.validation import check_is_fitted

from mldebug_widgets import bind, datasets
from mldebug_widgets.analysis.benchmark import (
    DISAGREEMENTS,
    SUMMARY_COLUMNS,
    BenchmarkResult,
    benchmark,
    make_benchmark,
)


def _p1(estimator, X, label=1):
    """P(label) from a fitted classifier, by its classes_."""
    return estimator.predict_proba(X)[:, list(estimator.classes_).index(label)]


def _check_sets(result: BenchmarkResult, index: pd.Index, model_wrong, bench_wrong):
    """Disagreement sets equal the hand-computed ones and partition the wrong rows."""
    model_wrong, bench_wrong = np.asarray(model_wrong), np.asarray(bench_wrong)
    np.testing.assert_array_equal(result.model_wrong, model_wrong)
    np.testing.assert_array_equal(result.benchmark_wrong, bench_wrong)
    expected = {"model_worse": model_wrong & ~bench_wrong,
                "benchmark_worse": bench_wrong & ~model_wrong,
                "both_wrong": model_wrong & bench_wrong}
    seen: set = set()
    for which, mask in expected.items():
        rows = result.rows(which)
        assert rows.equals(index[mask]), which
        assert seen.isdisjoint(rows)
        seen |= set(rows)
    assert seen == set(index[model_wrong | bench_wrong])
    groups = result.to_frame()["group"]
    assert groups.index.equals(index)
    assert (groups == "both_right").sum() == (~model_wrong & ~bench_wrong).sum()


# -- metrics and scores against scikit-learn ---------------------------------------------
def test_binary_metrics_scores_and_rows(binary_data, binary_model):
    X, y = binary_data
    session = bind(binary_model, X, y)
    result = benchmark(session)
    p_model, p_bench = _p1(binary_model, X), _p1(result.estimator, X)
    np.testing.assert_allclose(result.benchmark_scores[:, 0], p_bench, rtol=0, atol=1e-12)
    for side, p in (("model", p_model), ("benchmark", p_bench)):
        expected = {"log_loss": skm.log_loss(y, p), "accuracy": skm.accuracy_score(y, p >= 0.5),
                    "roc_auc": skm.roc_auc_score(y, p), "brier": skm.brier_score_loss(y, p)}
        assert result.metrics[side].to_dict() == pytest.approx(expected, rel=1e-12)
    m = result.metrics
    np.testing.assert_allclose(m["difference"], m["model"] - m["benchmark"])
    assert list(m.columns) == ["model", "benchmark", "difference"]
    truth = y.to_numpy() == 1
    _check_sets(result, X.index, (p_model >= 0.5) != truth, (p_bench >= 0.5) != truth)
    # residuals: the model's are analysis.residuals, the benchmark's the same formula
    np.testing.assert_allclose(result.benchmark_residuals.mean(), skm.log_loss(y, p_bench))
    np.testing.assert_allclose(result.model_residuals.mean(), skm.log_loss(y, p_model))
    assert result.thresholds == (0.5, 0.5)


def test_binary_threshold_applies_to_both_probability_sides(binary_data, binary_model):
    X, y = binary_data
    result = benchmark(bind(binary_model, X, y), threshold=0.3)
    truth = y.to_numpy() == 1
    _check_sets(result, X.index, (_p1(binary_model, X) >= 0.3) != truth,
                (_p1(result.estimator, X) >= 0.3) != truth)
    assert result.thresholds == (0.3, 0.3)


def test_multiclass_metrics_scores_and_rows(multiclass_data, multiclass_model):
    X, y = multiclass_data
    result = benchmark(bind(multiclass_model, X, y))
    P_model, P_bench = multiclass_model.predict_proba(X), result.estimator.predict_proba(X)
    assert list(result.estimator.classes_) == [0, 1, 2]
    np.testing.assert_allclose(result.benchmark_scores, P_bench, rtol=0, atol=1e-12)
    for side, P in (("model", P_model), ("benchmark", P_bench)):
        expected = {"log_loss": skm.log_loss(y, P),
                    "accuracy": skm.accuracy_score(y, P.argmax(axis=1))}
        assert result.metrics[side].to_dict() == pytest.approx(expected, rel=1e-12)
    _check_sets(result, X.index, P_model.argmax(axis=1) != y.to_numpy(),
                P_bench.argmax(axis=1) != y.to_numpy())


def test_regression_metrics_tolerance_and_rows(regression_data, regression_model):
    X, y = regression_data
    result = benchmark(bind(regression_model, X, y))
    pred_model, pred_bench = regression_model.predict(X), result.estimator.predict(X)
    np.testing.assert_allclose(result.benchmark_scores[:, 0], pred_bench, rtol=0, atol=1e-12)
    for side, pred in (("model", pred_model), ("benchmark", pred_bench)):
        expected = {"rmse": skm.root_mean_squared_error(y, pred),
                    "mae": skm.mean_absolute_error(y, pred), "r2": skm.r2_score(y, pred)}
        assert result.metrics[side].to_dict() == pytest.approx(expected, rel=1e-12)
    tolerance = np.median(np.abs(y - pred_bench))
    assert result.tolerance == pytest.approx(tolerance)
    _check_sets(result, X.index, np.abs(y - pred_model).to_numpy() > tolerance,
                np.abs(y - pred_bench).to_numpy() > tolerance)
    np.testing.assert_allclose(result.model_residuals, y - pred_model)
    fixed = benchmark(bind(regression_model, X, y), tolerance=5.0)
    np.testing.assert_array_equal(fixed.model_wrong, np.abs(y - pred_model) > 5.0)


def test_cv_scores_are_out_of_fold_with_the_same_folds(binary_data, binary_model):
    X, y = binary_data
    session = bind(binary_model, X, y)
    result = benchmark(session, cv=3)
    unfitted = make_benchmark(X, task="binary", schema=session.schema)
    oof = cross_val_predict(unfitted, X, y, cv=3, method="predict_proba")[:, 1]
    np.testing.assert_allclose(result.benchmark_scores[:, 0], oof, rtol=0, atol=1e-12)
    # the returned estimator is still fitted on every row
    full = clone(unfitted).fit(X, y)
    np.testing.assert_allclose(_p1(result.estimator, X), _p1(full, X), atol=1e-12)
    assert not np.allclose(result.benchmark_scores[:, 0], _p1(full, X))
    assert result.metrics.loc["log_loss", "benchmark"] == pytest.approx(skm.log_loss(y, oof))


# -- the demo data -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    data = datasets.load_credit(n_rows=10_000)
    model = datasets.demo_model(data)
    session = bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA)
    return data, model, session, benchmark(session)


def test_demo_disagreement_sets_match_a_direct_recomputation(demo):
    data, model, session, result = demo
    y = data.y.to_numpy()
    p_model = _p1(model, data.X)
    # the benchmark refitted here, from its documented recipe, not from the result
    recipe = make_benchmark(data.X, task="binary", schema=session.schema).fit(data.X, y)
    p_bench = _p1(recipe, data.X)
    np.testing.assert_allclose(result.benchmark_scores[:, 0], p_bench, atol=1e-9)
    model_right, bench_right = (p_model >= 0.5) == (y == 1), (p_bench >= 0.5) == (y == 1)
    assert result.rows("model_worse").equals(data.X.index[~model_right & bench_right])
    assert result.rows("benchmark_worse").equals(data.X.index[model_right & ~bench_right])
    for which in ("model_worse", "benchmark_worse"):
        assert len(result.rows(which)) > 0
    assert result.metrics.loc["log_loss", "model"] < result.metrics.loc["log_loss", "benchmark"]
    assert result.metrics.loc["log_loss", "model"] == pytest.approx(skm.log_loss(y, p_model))
    # SEX, EDUCATION and MARRIAGE are categorical in CREDIT_SCHEMA: one-hot encoded
    pre = result.estimator.named_steps["pre"]
    assert set(dict((n, c) for n, _, c in pre.transformers_)["cat"]) == {
        "SEX", "EDUCATION", "MARRIAGE"}


def test_demo_summary_explains_the_benchmark_worse_rows(demo):
    data, _, session, result = demo
    for which in DISAGREEMENTS:
        summary = result.summary(which, session.X, schema=session.schema)
        assert list(summary.columns) == SUMMARY_COLUMNS
        assert set(summary.index) == set(session.features) and summary.index.is_unique
        effects = summary["effect"].abs().to_numpy()
        assert np.all(np.diff(effects) <= 1e-12)  # sorted by |effect|
        assert summary.loc["SEX", "kind"] == "categorical"
        assert summary.loc["SEX", "value"] in (1, 2)
        assert summary.loc["AGE", "kind"] == "numeric"
        shares = summary.loc[summary["kind"] == "categorical", ["in_rows", "overall"]]
        assert ((shares >= 0) & (shares <= 1)).all().all()
        rows = session.X.loc[result.rows(which)]
        assert summary.loc["AGE", "in_rows"] == pytest.approx(rows["AGE"].mean())
        assert summary.loc["AGE", "overall"] == pytest.approx(session.X["AGE"].mean())
    # the answer key: the model learned the adversarial pocket (low PAY_AMT1 and PAY_AMT2),
    # the linear benchmark did not; the summary names the pocket's features first
    summary = result.summary("benchmark_worse", session.X, schema=session.schema)
    assert {"PAY_AMT1", "PAY_AMT2"} <= set(summary.index[:3])
    assert (summary.loc[["PAY_AMT1", "PAY_AMT2"], "effect"] < 0).all()
    pocket = data.bugs["adversarial_pocket"].mask
    assert pocket[result.mask("benchmark_worse")].mean() > 3 * pocket.mean()


def test_demo_tree_kind_and_cache(demo):
    _, _, session, result = demo
    assert benchmark(session) is result
    tree = benchmark(session, estimator="tree")
    assert isinstance(tree.estimator.named_steps["model"], DecisionTreeClassifier)
    assert tree.estimator.named_steps["model"].get_depth() <= 4
    assert benchmark(session, estimator="tree") is tree
    with pytest.raises(ValueError, match="read-only"):
        result.model_wrong[0] = True


# -- kinds of models and benchmarks ------------------------------------------------------
def test_tree_kind_for_regression(regression_data, regression_model):
    X, y = regression_data
    result = benchmark(bind(regression_model, X, y), estimator="tree", random_state=3)
    tree = result.estimator.named_steps["model"]
    assert isinstance(tree, DecisionTreeRegressor) and tree.random_state == 3
    np.testing.assert_allclose(result.benchmark_scores[:, 0], result.estimator.predict(X))


def test_user_estimator_is_cloned_not_mutated(binary_data, binary_model):
    X, y = binary_data
    user = make_pipeline(StandardScaler(), LogisticRegression(C=0.1))
    before = fingerprint(user, X, y)
    result = benchmark(bind(binary_model, X, y), estimator=user)
    assert fingerprint(user, X, y) == before
    with pytest.raises(NotFittedError):
        check_is_fitted(user)
    assert result.estimator is not user
    np.testing.assert_allclose(result.benchmark_scores[:, 0],
                               _p1(clone(user).fit(X, y), X), atol=1e-12)


def test_pipeline_with_string_categoricals_and_nan(mixed_data, pipeline_model):
    X, y = mixed_data
    before = fingerprint(X, y)
    session = bind(pipeline_model, X, y)
    for kind in ("linear", "tree"):
        result = benchmark(session, estimator=kind)
        p = _p1(result.estimator, X)
        np.testing.assert_allclose(result.benchmark_scores[:, 0], p, atol=1e-12)
        assert np.isfinite(result.benchmark_scores).all()
        assert result.metrics.loc["log_loss", "benchmark"] == pytest.approx(skm.log_loss(y, p))
        summary = result.summary("model_worse", session.X, schema=session.schema)
        assert summary.loc["city", "kind"] == "categorical"
        assert summary.loc["income", "missing_overall"] == pytest.approx(X["income"].isna().mean())
    assert fingerprint(X, y) == before


def test_bool_category_and_schema_categoricals_are_one_hot_encoded():
    X = pd.DataFrame({"flag": [True, False, True, False] * 10,
                      "kind": pd.Categorical(["a", "b", None, "a"] * 10),
                      "code": [1, 2, 3, 1] * 10, "x": np.linspace(0, 1, 40)})
    y = np.array([0, 1, 1, 0] * 10)
    pipe = make_benchmark(X, task="binary", schema={"code": "categorical"}).fit(X, y)
    columns = {n: list(c) for n, _, c in pipe.named_steps["pre"].transformers_}
    assert columns["cat"] == ["flag", "kind", "code"] and columns["num"] == ["x"]
    assert pipe.score(X, y) == 1.0  # "code" one-hot encoded separates the classes


def test_decision_function_model(binary_data, decision_model):
    X, y = binary_data
    result = benchmark(bind(decision_model, X, y))
    m = result.metrics["model"]
    assert np.isnan(m["log_loss"]) and np.isnan(m["brier"])
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, decision_model.predict(X)))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, decision_model.decision_function(X)))
    assert result.model_residuals.isna().all()
    assert result.thresholds == (0.0, 0.5)
    truth = y.to_numpy() == 1
    _check_sets(result, X.index, decision_model.predict(X) != y.to_numpy(),
                (_p1(result.estimator, X) >= 0.5) != truth)


def test_string_labels_and_pos_label():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(np.where(X["a"] + rng.normal(0, 0.5, 200) > 0, "bad", "good"), name="y")
    model = LogisticRegression().fit(X, y)
    result = benchmark(bind(model, X, y, pos_label="bad"))
    p = _p1(result.estimator, X, "bad")
    np.testing.assert_allclose(result.benchmark_scores[:, 0], p, atol=1e-12)
    truth = (y == "bad").to_numpy()
    assert result.metrics.loc["brier", "benchmark"] == pytest.approx(
        skm.brier_score_loss(truth, p))
    _check_sets(result, X.index, (_p1(model, X, "bad") >= 0.5) != truth, (p >= 0.5) != truth)


# -- errors ------------------------------------------------------------------------------
def test_errors(binary_data, binary_model, regression_data, regression_model):
    X, y = binary_data
    with pytest.raises(ValueError, match=re.escape("bind(model, X, y)")):
        benchmark(bind(binary_model, X))
    session = bind(binary_model, X, y)
    with pytest.raises(TypeError, match="scikit-learn estimator"):
        benchmark(session, estimator=lambda df: df["f0"])
    with pytest.raises(TypeError, match="CalibratedClassifierCV"):
        benchmark(session, estimator=make_pipeline(StandardScaler()))
    with pytest.raises(ValueError, match="'linear', 'tree'"):
        benchmark(session, estimator="forest")
    with pytest.raises(ValueError, match="folds >= 2"):
        benchmark(session, cv=1)
    with pytest.raises(ValueError, match="regression"):
        benchmark(session, tolerance=1.0)
    with pytest.raises(ValueError, match="which must be one of"):
        benchmark(session).rows("model_wrong")
    with pytest.raises(ValueError, match="session.X"):
        benchmark(session).summary("model_worse", X.iloc[::-1])
    Xr, yr = regression_data
    with pytest.raises(ValueError, match="binary"):
        benchmark(bind(regression_model, Xr, yr), threshold=0.5)


def test_summary_by_hand():
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, np.nan], "c": ["a", "a", "b", "b", "b"]})
    y = [0.0, 1.0, 2.0, 3.0, 4.0]
    session = bind(lambda df: df["x"].fillna(0.0) * 2, X, y, task="regression")
    result = benchmark(session, tolerance=0.75)
    mask = result.mask("model_worse")
    summary = result.summary("model_worse", X)
    x = X["x"]
    assert summary.loc["x", "in_rows"] == pytest.approx(x[mask].mean())
    assert summary.loc["x", "effect"] == pytest.approx(
        (x[mask].mean() - x.mean()) / x.std(ddof=0))
    assert summary.loc["x", "missing_in_rows"] == pytest.approx(x[mask].isna().mean())
    share_rows, share_all = (X["c"][mask] == "b").mean(), 0.6
    assert summary.loc["c", "value"] == "b"
    assert summary.loc["c", "in_rows"] == pytest.approx(share_rows)
    assert summary.loc["c", "effect"] == pytest.approx(
        (share_rows - share_all) / np.sqrt(share_all * (1 - share_all)))


def test_missing_labels_and_objects_without_fit(binary_data, binary_model):
    X, y = binary_data
    with pytest.raises(ValueError, match="missing value"):
        benchmark(bind(binary_model, X, y.astype(float).where(y.index > 0)))

    class Params:
        def get_params(self, deep=True):
            return {}

    with pytest.raises(TypeError, match="with fit and get_params"):
        benchmark(bind(binary_model, X, y), estimator=Params())


def test_benchmark_sees_only_the_models_columns(binary_data):
    X, y = binary_data
    model = LogisticRegression().fit(X[["f0", "f1"]], y)
    result = benchmark(bind(model, X, y))
    assert list(result.estimator.feature_names_in_) == ["f0", "f1"]
    full = make_benchmark(X[["f0", "f1"]], task="binary").fit(X[["f0", "f1"]], y)
    np.testing.assert_allclose(result.benchmark_scores[:, 0], _p1(full, X[["f0", "f1"]]),
                               atol=1e-12)


def test_label_only_model(multiclass_data, multiclass_model):
    X, y = multiclass_data
    result = benchmark(bind(multiclass_model, X, y, response_method="predict"))
    assert np.isnan(result.metrics.loc["log_loss", "model"])
    assert result.metrics.loc["accuracy", "model"] == pytest.approx(
        skm.accuracy_score(y, multiclass_model.predict(X)))
    np.testing.assert_array_equal(result.model_wrong, multiclass_model.predict(X) != y)


def test_cache_follows_model_version_and_schema(binary_data, binary_model):
    X, y = binary_data
    session = bind(binary_model, X, y)
    first = benchmark(session)
    assert benchmark(session) is first and benchmark(session, cv=3) is not first
    session.refresh()
    assert benchmark(session) is not first
    second = benchmark(session)
    session.schema = session.schema.override({"f0": {"mutable": False}})
    assert benchmark(session) is not second
