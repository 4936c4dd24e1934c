"""Group fairness metrics against fairlearn's MetricFrame, hand-checked AIR/SMD, sweeps, demo."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from scipy.stats import binomtest
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    roc_auc_score,
    root_mean_squared_error,
)

from mldebug_widgets import bind, datasets
from mldebug_widgets.analysis.fairness import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    adverse_impact_ratio,
    disparity,
    group_metrics,
    marginal_effect,
    sensitive_groups,
    standardised_mean_difference,
    wilson_interval,
)
from mldebug_widgets.analysis.thresholds import threshold_sweep


def _ratio(num, den):
    return lambda t, p: (lambda n, d: n / d if d else np.nan)(num(t, p), den(t, p))


def _binary_reference(scores: np.ndarray, threshold: float) -> dict:
    """fairlearn / scikit-learn metrics; y_pred is the row position, scores are looked up."""
    def pred(f):
        return lambda t, i: f(np.asarray(t), scores[i] >= threshold)

    def tn(t, p):
        return int(((t == 0) & ~p).sum())

    def fn(t, p):
        return int(((t == 1) & ~p).sum())

    def fp(t, p):
        return int(((t == 0) & p).sum())

    def tp(t, p):
        return int(((t == 1) & p).sum())

    return {
        "count": count,
        "prevalence": lambda t, i: float(np.mean(t)),
        "selection_rate": pred(selection_rate),
        "accuracy": pred(accuracy_score),
        "tpr": pred(true_positive_rate),
        "precision": pred(lambda t, p: precision_score(t, p, zero_division=np.nan)),
        "specificity": pred(true_negative_rate),
        "npv": pred(_ratio(tn, lambda t, p: tn(t, p) + fn(t, p))),
        "fpr": pred(false_positive_rate),
        "fdr": pred(_ratio(fp, lambda t, p: tp(t, p) + fp(t, p))),
        "fnr": pred(false_negative_rate),
        "for": pred(_ratio(fn, lambda t, p: fn(t, p) + tn(t, p))),
        "auc": lambda t, i: roc_auc_score(t, scores[i]) if len(set(t)) == 2 else np.nan,
        "logloss": lambda t, i: log_loss(t, scores[i], labels=[0, 1]),
    }


def _metric_frame(metrics, y, sensitive) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's zero-division warnings
        frame = MetricFrame(metrics=metrics, y_true=np.asarray(y), y_pred=np.arange(len(y)),
                            sensitive_features=sensitive)
    by_group = frame.by_group.copy()
    overall = OVERALL_KEY(by_group.index.nlevels)
    by_group.loc[overall, :] = frame.overall
    return by_group


def OVERALL_KEY(nlevels):  # noqa: N802
    return "overall" if nlevels == 1 else ("overall",) * nlevels


def _assert_matches(ours: pd.DataFrame, expected: pd.DataFrame, columns) -> None:
    expected = expected.loc[ours.index]
    for column in columns:
        np.testing.assert_allclose(ours[column].to_numpy(dtype=float),
                                   expected[column].to_numpy(dtype=float), rtol=1e-10,
                                   atol=1e-12, err_msg=column)


def _binary_session(binary_data, binary_model, n_features=1):
    X, y = binary_data
    sens = pd.DataFrame({"hi": np.where(X["f0"] > 0, "hi", "lo"),
                         "side": np.where(X["f1"] > 0.5, "right", "left")}, index=X.index)
    return bind(binary_model, X, y, sensitive_features=sens.iloc[:, :n_features]), sens


# -- against fairlearn ----------------------------------------------------------------------
@pytest.mark.parametrize("n_features", [1, 2])
@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_binary_matches_fairlearn(binary_data, binary_model, n_features, threshold):
    session, sens = _binary_session(binary_data, binary_model, n_features)
    ours = group_metrics(session, threshold=threshold)
    assert list(ours.columns) == [*CLASSIFICATION_METRICS, "warning"]
    assert ours.index.nlevels == n_features
    expected = _metric_frame(_binary_reference(session.predictions()[:, 0], threshold),
                             session.y, sens.iloc[:, :n_features])
    _assert_matches(ours, expected, CLASSIFICATION_METRICS)


def test_pipeline_two_features_missing_group_and_bins(mixed_data, pipeline_model):
    X, y = mixed_data
    session = bind(pipeline_model, X, y, sensitive_features=["city", "age"])
    ours = group_metrics(session, bins={"age": [0, 40, 100]})
    assert ours.index.names == ["city", "age"]
    assert {"missing", "east"} <= set(ours.index.get_level_values("city"))
    assert set(ours.index.get_level_values("age")) == {"[0, 40)", "[40, 100]", "overall"}
    sens = pd.DataFrame({"city": X["city"].fillna("missing"),
                         "age": np.where(X["age"] < 40, "[0, 40)", "[40, 100]")})
    expected = _metric_frame(_binary_reference(session.predictions()[:, 0], 0.5), y, sens)
    _assert_matches(ours, expected, CLASSIFICATION_METRICS)


def test_multiclass_matches_fairlearn(multiclass_data, multiclass_model):
    X, y = multiclass_data
    sens = pd.Series(np.where(X["f2"] > 0, "up", "down"), name="s", index=X.index)
    session = bind(multiclass_model, X, y, sensitive_features=sens)
    ours = group_metrics(session)
    proba = session.predictions()
    classes = list(session.adapter.classes)
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    for k, cls in enumerate(classes):
        # one-vs-rest: the class's probability, with argmax predictions as the decision
        expected = _metric_frame(_ovr(proba[:, k], pred == cls), (y == cls).astype(int), sens)
        _assert_matches(ours.xs(cls, level="class"), expected, CLASSIFICATION_METRICS)
    overall = _metric_frame({
        "count": count,
        "accuracy": lambda t, i: accuracy_score(t, pred[i]),
        "logloss": lambda t, i: log_loss(t, proba[i], labels=classes),
        "auc": lambda t, i: roc_auc_score(t, proba[i], multi_class="ovr", labels=classes),
    }, y, sens)
    _assert_matches(ours.xs("all", level="class"), overall, ["count", "accuracy", "logloss",
                                                             "auc"])


def _ovr(score: np.ndarray, predicted: np.ndarray) -> dict:
    """Reference metrics of a one-vs-rest problem with given predictions."""
    metrics = _binary_reference(score, 0.5)
    fixed = {}
    for name, f in metrics.items():
        if name in ("count", "prevalence", "auc", "logloss"):
            fixed[name] = f
        else:  # the argmax decision, as 0/1 scores thresholded at 0.5
            fixed[name] = _binary_reference(predicted.astype(float), 0.5)[name]
    return fixed


def test_regression_matches_fairlearn(regression_data, regression_model):
    X, y = regression_data
    sens = pd.DataFrame({"a": np.where(X["r0"] > 0, "pos", "neg"),
                         "b": np.where(X["r1"] > 0, "pos", "neg")}, index=X.index)
    session = bind(regression_model, X, y, sensitive_features=sens)
    ours = group_metrics(session)
    assert list(ours.columns) == [*REGRESSION_METRICS, "warning"]
    p = session.predictions()[:, 0]
    expected = _metric_frame({
        "count": count,
        "mae": lambda t, i: mean_absolute_error(t, p[i]),
        "rmse": lambda t, i: root_mean_squared_error(t, p[i]),
        "mean_prediction": lambda t, i: float(np.mean(p[i])),
        "mean_label": lambda t, i: float(np.mean(t)),
    }, y, sens)
    _assert_matches(ours, expected, REGRESSION_METRICS)


def test_zero_denominators_are_nan():
    X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4, 0.1, 0.3],
                      "g": ["a", "a", "b", "b", "c", "c"]})
    y = [1, 0, 1, 0, 0, 0]  # group c has no positives and no predicted positives
    session = bind(lambda df: df["p"].to_numpy(), X, y, task="binary", sensitive_features="g")
    ours = group_metrics(session)
    c = ours.loc["c"]
    for name in ("tpr", "fnr", "precision", "fdr", "auc"):
        assert np.isnan(c[name]), name
    assert c["fpr"] == 0.0 and c["specificity"] == 1.0 and c["npv"] == 1.0
    expected = _metric_frame(_binary_reference(X["p"].to_numpy(), 0.5), y, X["g"])
    # sklearn/fairlearn return 0 (with a warning) where we return NaN: compare the rest
    assert expected.loc["c", "tpr"] == 0.0
    defined = ~ours[list(CLASSIFICATION_METRICS)].isna()
    for name in CLASSIFICATION_METRICS:
        mask = defined[name].to_numpy()
        np.testing.assert_allclose(ours[name].to_numpy(float)[mask],
                                   expected.loc[ours.index, name].to_numpy(float)[mask])


# -- intervals, support, disparity ----------------------------------------------------------
def test_wilson_interval_and_columns(binary_data, binary_model):
    low, high = wilson_interval([8, 0, 3], [10, 5, 0])
    for k, n, lo, hi in [(8, 10, low[0], high[0]), (0, 5, low[1], high[1])]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        np.testing.assert_allclose([lo, hi], [ci.low, ci.high], atol=1e-4)  # z=1.96 vs 1.95996
    np.testing.assert_allclose(high[1], 1.96 ** 2 / 5 / (1 + 1.96 ** 2 / 5))  # 0 of 5, by hand
    assert np.isnan(low[2]) and np.isnan(high[2])
    session, _ = _binary_session(binary_data, binary_model)
    ours = group_metrics(session, intervals=True)
    for name in ("tpr", "fpr", "precision", "selection_rate"):
        assert (ours[f"{name}_low"] <= ours[name]).all()
        assert (ours[name] <= ours[f"{name}_high"]).all()


def test_min_support_warning():
    X = pd.DataFrame({"p": np.linspace(0, 1, 40), "g": ["big"] * 35 + ["small"] * 5})
    session = bind(lambda df: df["p"].to_numpy(), X, np.arange(40) % 2, task="binary",
                   sensitive_features="g")
    ours = group_metrics(session, min_support=30)
    assert ours.loc["big", "warning"] == "" and ours.loc["overall", "warning"] == ""
    assert "only 5 rows" in ours.loc["small", "warning"]


def test_disparity_and_default_quartile_bins(mixed_data, pipeline_model):
    X, y = mixed_data
    session = bind(pipeline_model, X, y, sensitive_features=["age"])
    groups = sensitive_groups(session)["age"]
    assert len(groups.cat.categories) == 4  # quartile bins by default for many values
    metrics = group_metrics(session)
    result = disparity(metrics, band=(0.8, 1.25))
    groups_only = metrics.drop(index="overall")
    assert result.reference == groups_only["count"].idxmax()
    np.testing.assert_allclose(result.ratio["fpr"],
                               groups_only["fpr"] / groups_only.loc[result.reference, "fpr"])
    assert "count" not in result.ratio and "warning" not in result.ratio
    outside = (result.ratio < 0.8) | (result.ratio > 1.25)
    pd.testing.assert_frame_equal(result.flagged, outside)


# -- hand-checked adverse impact ------------------------------------------------------------
@pytest.fixture
def hand_session():
    # group a (4 rows): scores 0.9 0.8 0.3 0.2 → 2 of 4 predicted positive at 0.5
    # group b (6 rows): scores 0.7 0.4 0.3 0.2 0.1 0.1 → 1 of 6 predicted positive
    X = pd.DataFrame({"p": [0.9, 0.8, 0.3, 0.2, 0.7, 0.4, 0.3, 0.2, 0.1, 0.1],
                      "g": list("aaaabbbbbb")})
    return bind(lambda df: df["p"].to_numpy(), X, task="binary", sensitive_features="g")


def test_adverse_impact_hand_checked(hand_session):
    table = adverse_impact_ratio(hand_session, threshold=0.5, reference="a")
    np.testing.assert_allclose(table["favourable_rate"], [2 / 4, 1 / 6])
    np.testing.assert_allclose(table["air"], [1.0, (1 / 6) / (2 / 4)])  # 0.333
    assert table["flagged"].tolist() == [False, True]
    neg = adverse_impact_ratio(hand_session, threshold=0.5, favourable="negative")
    assert neg.attrs == {} and neg["count"].tolist() == [4, 6]
    # default reference: the largest group, b; favourable = predicted negative
    np.testing.assert_allclose(neg["air"], [(2 / 4) / (5 / 6), 1.0])  # 0.6
    assert neg["flagged"].tolist() == [True, False]
    np.testing.assert_allclose(marginal_effect(hand_session, reference="a"), [0, 1 / 6 - 1 / 2])
    np.testing.assert_allclose(marginal_effect(hand_session, favourable="negative"),
                               [1 / 2 - 5 / 6, 0])
    # SMD: means 0.55 and 0.3; squared deviations 0.37 and 0.26; pooled SD sqrt(0.63 / 8)
    smd = standardised_mean_difference(hand_session, reference="b")
    np.testing.assert_allclose(smd, [0.25 / np.sqrt(0.63 / 8), 0.0])
    flipped = standardised_mean_difference(hand_session, reference="b", favourable="negative")
    np.testing.assert_allclose(flipped, -smd)


# -- threshold sweep ------------------------------------------------------------------------
def test_sweep_lookup_equals_group_metrics(binary_data, binary_model):
    session, _ = _binary_session(binary_data, binary_model, 2)
    scores = session.predictions()[:, 0]
    calls = session.adapter.n_calls
    sweep = threshold_sweep(session, 51)
    assert sweep.tp.shape == (len(sweep.groups), 51)
    rate_columns = ["count", *CLASSIFICATION_METRICS[1:12]]
    for t in [*np.linspace(0, 1, 51)[::5], *scores[:15], 0.0, 1.0, 1.5, -1.0]:
        expected = group_metrics(session, threshold=t)[rate_columns]
        pd.testing.assert_frame_equal(sweep.at(t)[rate_columns], expected, check_dtype=False)
    grid = sweep.to_frame()
    at = grid.xs(sweep.thresholds[20], level="threshold")
    pd.testing.assert_frame_equal(at[rate_columns], sweep.at(sweep.thresholds[20])[rate_columns])
    assert session.adapter.n_calls == calls  # the sweep never calls the model


def test_sweep_counts_against_naive_loop(mixed_data, pipeline_model):
    X, y = mixed_data
    session = bind(pipeline_model, X, y, sensitive_features=["city", "owner"])
    sweep = threshold_sweep(session, [0.1, 0.35, 0.5, 0.9])
    groups = sensitive_groups(session)
    scores, truth = session.predictions()[:, 0], y.to_numpy() == 1
    for j, t in enumerate(sweep.thresholds):
        for i, key in enumerate(sweep.groups[:-1]):
            mask = ((groups["city"] == key[0]) & (groups["owner"] == key[1])).to_numpy()
            assert sweep.tp[i, j] == (truth & (scores >= t))[mask].sum()
            assert sweep.fp[i, j] == (~truth & (scores >= t))[mask].sum()
        assert sweep.tn[-1, j] == (~truth & (scores < t)).sum()


# -- demo data: the planted label bias ------------------------------------------------------
@pytest.fixture(scope="module")
def credit():
    data = datasets.load_credit(n_rows=30_000)
    session = bind(datasets.demo_model(data), data.X, data.y,
                   sensitive_features=["SEX", "AGE"], schema=datasets.CREDIT_SCHEMA)
    return data, session


def test_demo_young_women_flagged(credit):
    data, session = credit
    bins = {"AGE": [0, 30, 200]}
    scores = session.predictions()[:, 0]
    threshold = float(np.quantile(scores, 1 - data.y.mean()))  # flags the observed default rate
    metrics = group_metrics(session, threshold=threshold, bins=bins)
    young_women = (2, "[0, 30)")
    result = disparity(metrics)
    assert result.reference != young_women
    assert result.ratio.loc[young_women, "fpr"] > 1.25
    assert result.flagged.loc[young_women, "fpr"]
    air = adverse_impact_ratio(session, threshold=threshold, favourable="negative", bins=bins)
    assert air.loc[young_women, "air"] < 0.8 and air.loc[young_women, "flagged"]
    assert air["flagged"].sum() == 1
    sweep = threshold_sweep(session, bins=bins)
    pd.testing.assert_series_equal(sweep.at(threshold)["fpr"], metrics["fpr"])


# -- bad input ------------------------------------------------------------------------------
def test_bad_input(binary_data, binary_model, regression_data, regression_model):
    X, y = binary_data
    with pytest.raises(ValueError, match=r"bind\(model, X, y, sensitive_features=\["):
        group_metrics(bind(binary_model, X, y))
    with pytest.raises(ValueError, match="one group only"):
        group_metrics(bind(binary_model, X.assign(s="x"), y, sensitive_features="s"))
    with pytest.raises(ValueError, match="true labels"):
        group_metrics(bind(binary_model, X, sensitive_features="f0"))
    with pytest.raises(ValueError, match="outside the bin edges"):
        group_metrics(bind(binary_model, X, y, sensitive_features="f0"), bins={"f0": [0, 1]})
    with pytest.raises(ValueError, match="unknown sensitive feature"):
        group_metrics(bind(binary_model, X, y, sensitive_features="f0"),
                      sensitive_features=["nope"])
    with pytest.raises(ValueError, match="finite"):
        group_metrics(bind(binary_model, X, y, sensitive_features="f0"), threshold=np.nan)
    Xr, yr = regression_data
    regression = bind(regression_model, Xr, yr, sensitive_features="r0")
    with pytest.raises(ValueError, match="'tpr' is a classification metric.*regression"):
        group_metrics(regression, metrics=["count", "tpr"])
    with pytest.raises(ValueError, match="binary classifier"):
        threshold_sweep(regression)


def test_nan_sensitive_value_is_its_own_group():
    X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4, 0.6], "g": ["a", "a", None, "b", "b"]})
    session = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 1, 0, 1], task="binary",
                   sensitive_features="g")
    ours = group_metrics(session)
    assert ours.index.tolist() == ["a", "b", "missing", "overall"]
    assert ours.loc["missing", "count"] == 1 and ours.loc["missing", "tpr"] == 1.0


def test_auc_agrees_with_scikit_learn_with_ties_and_many_groups():
    from sklearn.metrics import roc_auc_score

    from mldebug_widgets.analysis import fairness

    rng = np.random.default_rng(5)
    n = 3_000
    codes = rng.integers(0, 4, n)
    truth = rng.random(n) < 0.3
    truth[codes == 3] = False  # a group without positives: AUC undefined
    score = np.round(rng.random(n) + 0.3 * truth, 2)  # rounded: many ties
    expected = [roc_auc_score(truth[codes == g], score[codes == g]) for g in range(3)]
    expected += [np.nan, roc_auc_score(truth, score)]
    np.testing.assert_allclose(fairness._auc(truth, score, codes, 4), expected)
    # more groups than a 16-bit sort key holds: the wide-key path, same numbers
    wide = fairness._auc(truth, score, codes * 6_000, 18_001)
    np.testing.assert_allclose(wide[[0, 6_000, 12_000, 18_000, -1]], expected)
    assert np.isnan(wide[1:6_000]).all()
