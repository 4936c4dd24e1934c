"""The dashboard's findings bar and its saved state: a saved dashboard re-opens equal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mldebug_widgets import Dashboard, bind, datasets

BINS = {"AGE": [0, 30, 200]}


@pytest.fixture(scope="module")
def demo():
    data = datasets.load_credit(n_rows=3_000)
    return data, datasets.demo_model(data, kind="logistic")


def build(demo):
    data, model = demo
    session = bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                   schema=datasets.CREDIT_SCHEMA)
    return Dashboard(session, bins=BINS)


def test_marks_record_what_the_panels_show(demo, tmp_path):
    data, model = demo
    dash = build(demo)
    bar, s = dash.findings_bar, dash.session
    s.focus_row = data.X.index[7]
    dash.editor.set_value("PAY_AMT1", 0.0)
    bar.note_.value = "payments zeroed"
    bar.buttons_["row"].click()
    bar.buttons_["cohort"].click()  # nothing selected yet: a message, no record
    assert "select rows first" in bar.status_.value and len(s.findings) == 1
    s.selected_rows = tuple(data.X.index[data.X["LIMIT_BAL"] < 30_000])
    bar.buttons_["cohort"].click()
    dash.slicer.find_slices()
    dash.slicer.slices_list_.value = 0
    bar.buttons_["slice"].click()
    dash.slicer.optimise()
    bar.buttons_["thresholds"].click()
    dash.search.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    dash.search.run(wait=True)
    bar.buttons_["find"].click()
    kinds = [f.kind for f in s.findings]
    assert kinds == ["row", "cohort", "slice", "thresholds", "find"]
    row = s.findings[0]
    assert row.note == "payments zeroed"
    expected = model.predict_proba(dash.editor.edited)[0, 1]
    assert row.data["prediction"] == pytest.approx(expected)
    assert "5" in bar.status_.value or "find" in bar.status_.value
    import skops.io

    skops.io.dump(model, tmp_path / "model.skops")
    bar.name_.value = "audit"
    bar.loader_.value = str(tmp_path / "model.skops")
    paths = bar.save(tmp_path)
    assert [p.name for p in paths] == ["audit.json", "audit.html", "test_audit.py"]
    assert all(p.stat().st_size > 0 for p in paths)
    bar.name_.value = "../escape"
    bar.save_button_.click()
    assert "plain file name" in bar.status_.value


def test_a_saved_dashboard_reopens_equal(demo, tmp_path):
    data, model = demo
    dash = build(demo)
    s = dash.session
    s.focus_row = data.X.index[11]
    s.selected_rows = tuple(data.X.index[:40])
    sl = dash.slicer
    sl.metric = "tpr"
    sl.threshold = 0.35
    sl.group_sliders_.children[1].value = 0.6
    sl.reference_select_.value = 2
    dash.search.mode = "maximise"
    dash.search.features_select_.value = ("PAY_AMT1", "PAY_AMT2", "PAY_0")
    dash.search.budget_.value = 1_500
    s.findings.add_cohort(s.selected_rows, note="first rows")
    path = tmp_path / "state.json"
    dash.save(path)
    again = Dashboard.load(path, model, data.X, data.y)
    t = again.session
    assert t.focus_row == s.focus_row and t.selected_rows == s.selected_rows
    assert again.slicer.features == sl.features and again.slicer.reference == sl.reference
    assert again.slicer.metric == "tpr" and again.slicer.threshold == 0.35
    assert again.slicer.group_thresholds == pytest.approx(sl.group_thresholds)
    pd.testing.assert_frame_equal(again.slicer.table, sl.table)
    assert (again.search.mode, again.search.features_select_.value,
            again.search.budget_.value) == ("maximise", ("PAY_AMT1", "PAY_AMT2", "PAY_0"),
                                            1_500)
    for kind, frame in s.findings.to_frames().items():
        pd.testing.assert_frame_equal(t.findings.to_frames()[kind], frame)
    np.testing.assert_allclose(t.predictions(), s.predictions())
    with pytest.raises(ValueError):
        Dashboard.load(path, model, data.X.iloc[:100], data.y.iloc[:100])


def test_sharing_aggregates_has_no_findings_bar(demo):
    data, model = demo
    dash = Dashboard(model, data.X, data.y, sensitive_features=["SEX"], aggregates_only=True)
    assert dash.findings_bar is None
