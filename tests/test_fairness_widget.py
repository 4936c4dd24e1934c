"""FairnessSlicer headless: thresholds are lookups, tables equal group_metrics, slices select."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint

from mldebug_widgets import FairnessSlicer, bind, datasets
from mldebug_widgets.analysis import find_slices, group_metrics, wilson_interval, worst_air


@pytest.fixture(scope="module")
def demo():
    data = datasets.load_credit(n_rows=20_000)
    model = datasets.demo_model(data)
    session = bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                   schema=datasets.CREDIT_SCHEMA)
    return data, session


BINS = {"AGE": [0, 30, 200]}
COLUMNS = ["count", "selection_rate", "accuracy", "tpr", "fpr", "precision", "fnr"]


def test_threshold_moves_are_lookups_equal_to_group_metrics(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    before = session.adapter.n_calls
    for threshold in (0.2, 0.36, 0.7):
        slicer.threshold_slider_.value = threshold
        expected = group_metrics(session, threshold=threshold, bins=BINS)
        np.testing.assert_allclose(slicer.table[COLUMNS].to_numpy(dtype=float),
                                   expected[COLUMNS].to_numpy(dtype=float), equal_nan=True)
    assert session.adapter.n_calls == before  # no predict call for a threshold move


def test_per_group_threshold_changes_only_that_group(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    slicer.threshold = 0.4
    group = slicer.sweep_.groups[2]
    slicer.group_sliders_.children[2].value = 0.7
    at_04 = group_metrics(session, threshold=0.4, bins=BINS)
    at_07 = group_metrics(session, threshold=0.7, bins=BINS)
    np.testing.assert_allclose(slicer.table.loc[group, COLUMNS].to_numpy(dtype=float),
                               at_07.loc[group, COLUMNS].to_numpy(dtype=float))
    other = slicer.sweep_.groups[0]
    np.testing.assert_allclose(slicer.table.loc[other, COLUMNS].to_numpy(dtype=float),
                               at_04.loc[other, COLUMNS].to_numpy(dtype=float))
    groups = slicer.table.iloc[:-1]
    assert slicer.table.iloc[-1]["tp"] == groups["tp"].sum()  # overall = the groups' sum


def test_planted_bias_is_flagged(demo):
    data, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    scores = session.predictions()[:, 0]
    slicer.threshold = float(np.quantile(scores, 1 - data.y.mean()))  # flag the base rate
    young_women = (2, "[0, 30)")
    assert slicer.table.loc[young_women, "air"] < 0.8
    assert slicer.table.loc[young_women, "disparity"] > 1.25  # FPR, the default chart metric
    assert "color:#b00020" in slicer.table_.value


def test_slice_pick_selects_its_rows(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    slicer.slices_button_.click()
    slicer._thread.join(timeout=120)
    expected = find_slices(session)
    assert len(slicer.slices_list_.options) == len(expected.to_frame())
    slicer.slices_list_.value = 1
    assert set(session.selected_rows) == set(expected.rows(1))
    # the alpha slider is passed on (error weighed over size)
    slicer.alpha_.value = 0.99
    slicer.find_slices()
    slicer.slices_list_.value = 0
    assert set(session.selected_rows) == set(find_slices(session, alpha=0.99).rows(0))


def test_bad_input(binary_model, binary_data):
    Xb, yb = binary_data
    with pytest.raises(ValueError, match="sensitive_features"):
        FairnessSlicer(binary_model, Xb, yb)
    with pytest.raises(ValueError, match="true labels"):
        FairnessSlicer(binary_model, Xb, sensitive_features=["f0"])
    with pytest.raises(ValueError, match="one group only"):
        FairnessSlicer(binary_model, Xb.assign(g="a"), yb, sensitive_features=["g"])


def test_regression_shows_error_metrics_per_group(regression_model, regression_data):
    X, y = regression_data
    groups = np.where(X["r0"] > 0, "hi", "lo")
    slicer = FairnessSlicer(regression_model, X, y, sensitive_features=pd.DataFrame(
        {"g": groups}, index=X.index))
    expected = group_metrics(slicer.session)
    for column in ("count", "mae", "rmse", "mean_prediction"):
        np.testing.assert_allclose(slicer.table[column].to_numpy(float),
                                   expected[column].to_numpy(float))
    slicer.metric = "rmse"
    reference = slicer.reference
    assert slicer.table.loc[reference, "disparity"] == 1.0
    other = next(g for g in slicer.groups_ if g != reference)
    assert slicer.table.loc[other, "disparity"] == pytest.approx(
        expected.loc[other, "rmse"] / expected.loc[reference, "rmse"])
    assert "air" not in slicer.table  # no favourable outcome for a regressor


def test_multiclass_shows_one_class_at_a_time(multiclass_model, multiclass_data):
    X, y = multiclass_data
    sensitive = pd.DataFrame({"g": np.where(X["f1"] > 0, "a", "b")}, index=X.index)
    slicer = FairnessSlicer(multiclass_model, X, y, sensitive_features=sensitive)
    expected = group_metrics(slicer.session)
    for cls in (0, 2):
        slicer.class_select_.value = cls
        np.testing.assert_allclose(
            slicer.table[["tpr", "fpr", "precision"]].to_numpy(float),
            expected.xs(cls, level="class")[["tpr", "fpr", "precision"]].to_numpy(float))


def test_reference_and_features_can_be_chosen(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    assert slicer.reference == slicer.table["count"].iloc[:-1].idxmax()
    slicer.reference_select_.value = 3  # pick the fourth group as the reference
    reference = slicer.groups_[3]
    assert slicer.reference == reference
    assert slicer.table.loc[reference, "disparity"] == 1.0
    assert "(reference)" in slicer.table_.value
    slicer.features_select_.value = ("SEX",)
    assert slicer.groups_ == [1, 2] and len(slicer.group_sliders_.children) == 2
    expected = group_metrics(session, threshold=slicer.threshold, sensitive_features="SEX")
    np.testing.assert_allclose(slicer.table[COLUMNS].to_numpy(float),
                               expected[COLUMNS].to_numpy(float))


def test_interval_of_the_chart_metric_is_wilson(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    slicer.metric = "tpr"
    table = slicer.table
    low, high = wilson_interval(table["tp"], table["tp"] + table["fn"])
    np.testing.assert_allclose(table["tpr_low"], low)
    np.testing.assert_allclose(table["tpr_high"], high)
    assert "tpr 95% CI" in slicer.table_.value


def test_tradeoff_marks_the_current_rule_and_the_plan(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    slicer.threshold = 0.3
    current = slicer.tradeoff.current
    assert list(current.x) == pytest.approx([worst_air(slicer.table)])
    assert list(current.y) == pytest.approx([slicer.table["accuracy"].iloc[-1]])
    curve = slicer.tradeoff.curve
    assert len(curve.x) > 50 and np.all((curve.x >= 0) & (curve.x <= 1))
    slicer.optimise()
    assert list(slicer.tradeoff.plan.x) == pytest.approx([worst_air(slicer.plan_.table)])
    assert slicer.tradeoff.plan.x[0] >= 0.8


def test_export_and_apply_reproduce_the_table(demo):
    data, _ = demo
    model = datasets.demo_model(datasets.load_credit(n_rows=5_000), kind="logistic")
    session = bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                   schema=datasets.CREDIT_SCHEMA)
    slicer = FairnessSlicer(session, bins=BINS)
    slicer.optimise()
    planned = slicer.table.copy()
    # the exported post-processor, re-bound by hand, reproduces the widget's numbers
    rebound = bind(slicer.export(), data.X, data.y, sensitive_features=["SEX", "AGE"],
                   response_method="predict")
    np.testing.assert_allclose(group_metrics(rebound, bins=BINS)[COLUMNS].to_numpy(float),
                               planned[COLUMNS].to_numpy(float))
    # applied from the widget: same numbers, shown before/after
    fp = fingerprint(model, data.X)
    slicer.apply_thresholds()
    assert session.adapter.response_method == "predict"
    np.testing.assert_allclose(slicer.table[COLUMNS].to_numpy(float),
                               planned[COLUMNS].to_numpy(float))
    pd.testing.assert_frame_equal(slicer.before_, planned)
    assert "Before → after" in slicer.before_after_.value
    with pytest.raises(ValueError, match="restore the original model first"):
        slicer.apply_thresholds()
    slicer.apply_button_.click()  # the button shows the error instead of raising
    assert "restore the original" in slicer.message_.value
    # reweighing refit: the four-fifths gap narrows; the user's model is untouched
    slicer.threshold = 0.3
    air_before = worst_air(slicer.table)
    slicer.refit_reweighed()
    assert session.model is not model and fingerprint(model, data.X) == fp
    slicer.threshold = 0.3
    assert worst_air(slicer.table) > air_before
    slicer.restore()
    assert session.model is model and session.adapter.response_method == "predict_proba"


def test_a_global_move_renders_once(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    renders = []
    slicer.observe(lambda change: renders.append(change["new"]), "group_thresholds")
    slicer.threshold_slider_.value = 0.45
    assert len(renders) == 1 and set(renders[0]) == {0.45}


def test_optimise_button_meets_air(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    calls = session.adapter.n_calls
    slicer.objective_.value = "air"
    slicer.optimise_button_.click()
    assert session.adapter.n_calls == calls
    assert slicer.table["air"].iloc[:-1].between(0.8, 1.25).all()
    assert [s.value for s in slicer.group_sliders_.children] == pytest.approx(
        list(slicer.plan_.thresholds.values()), abs=0.011)  # sliders step by 0.01
    assert "met" in slicer.plan_note_.value


def test_selected_cohort_gets_its_own_table(demo):
    data, session = demo
    session.selected_rows = ()  # the module's session may hold an earlier test's selection
    slicer = FairnessSlicer(session, bins=BINS)
    slicer.threshold = 0.4
    slicer.group_sliders_.children[0].value = 0.3
    assert slicer.cohort_.value == ""
    rows = data.X.index[data.X["LIMIT_BAL"] < 50_000]
    session.selected_rows = tuple(rows)
    table = slicer.cohort_table
    # by hand: the cohort's rows, each at its group's threshold
    scores = session.predictions()[session.X.index.get_indexer(rows), 0]
    young = np.where(data.X.loc[rows, "AGE"] < 30, "[0, 30)", "[30, 200]")
    groups = list(zip(data.X.loc[rows, "SEX"], young, strict=True))
    thresholds = dict(zip(slicer.groups_, slicer.group_thresholds, strict=True))
    predicted = scores >= np.array([thresholds[g] for g in groups])
    truth = data.y.loc[rows].to_numpy() == 1
    for group in slicer.groups_:
        mine = np.array([g == group for g in groups])
        fp = int((predicted & ~truth & mine).sum())
        tn = int((~predicted & ~truth & mine).sum())
        assert table.loc[group, "count"] == mine.sum()
        assert table.loc[group, "fpr"] == pytest.approx(fp / (fp + tn))
    assert table.loc[("overall", "overall"), "count"] == len(rows)
    assert "Selected cohort" in slicer.cohort_.value and f"{len(rows):,} rows" in \
        slicer.cohort_.value
    session.selected_rows = ()
    assert slicer.cohort_.value == "" and slicer.cohort_table is None


def test_a_slice_can_be_picked_again_after_another_selection(demo):
    _, session = demo
    slicer = FairnessSlicer(session, bins=BINS)
    slicer.find_slices()
    slicer.slices_list_.value = 0
    rows = session.selected_rows
    session.selected_rows = rows[:5]  # e.g. a brush in the residual explorer
    assert slicer.slices_list_.value is None
    slicer.slices_list_.value = 0
    assert session.selected_rows == rows
