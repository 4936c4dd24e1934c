"""FairnessSlicer headless: thresholds are lookups, tables equal group_metrics, slices select."""

from __future__ import annotations

import numpy as np
import pytest

from mldebug_widgets import FairnessSlicer, bind, datasets
from mldebug_widgets.analysis import find_slices, group_metrics


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


def test_bad_input(regression_model, regression_data, binary_model, binary_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="need a binary classifier"):
        FairnessSlicer(regression_model, X, y, sensitive_features=["r0"])
    Xb, yb = binary_data
    with pytest.raises(ValueError, match="sensitive_features"):
        FairnessSlicer(binary_model, Xb, yb)


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
