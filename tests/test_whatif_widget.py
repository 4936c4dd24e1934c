"""WhatIfEditor headless: set traits and editors as the browser would, assert what is shown."""

from __future__ import annotations

import re

import comm
import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from comm.base_comm import BaseComm
from sklearn.base import clone

from mldebug_widgets import SchemaError, WhatIfEditor, bind


class Spy:
    """Counts predict_proba calls of a wrapped classifier (no fit: the adapter trusts it)."""

    def __init__(self, model):
        self.model, self.calls = model, 0
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_

    def predict_proba(self, X):
        self.calls += 1
        return self.model.predict_proba(X)


def shown(editor, output=0) -> float:
    """The number the prediction line shows for ``output``."""
    numbers = re.findall(r"<b>[^<]*= (-?[0-9.]+)</b>", editor.prediction_.value)
    return float(numbers[output])


@pytest.fixture
def comm_log(monkeypatch):
    log = []

    class Recorder(BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **kwargs):
            log.append({"id": self.comm_id, "method": (data or {}).get("method"),
                        "data": data or {}})

    monkeypatch.setattr(comm, "create_comm", Recorder)
    return log


def updates(log, widget):
    return [m for m in log if m["id"] == widget.model_id and m["method"] == "update"]


def from_frontend(widget, **state):
    widget._handle_msg({"content": {"data": {"method": "update", "state": state,
                                             "buffer_paths": []}}, "buffers": []})


def test_editing_shows_the_models_prediction(pipeline_model, mixed_data):
    X, y = mixed_data
    editor = WhatIfEditor(pipeline_model, X, y)
    assert shown(editor) == pytest.approx(pipeline_model.predict_proba(X.iloc[[0]])[0, 1],
                                          abs=5e-5)
    from_frontend(editor.editors_["age"], value=77)
    assert X["city"].iloc[0] != "south"
    from_frontend(editor.editors_["city"], index=editor.editors_["city"].options.index(
        ("south", "south")))
    edited = X.iloc[[0]].copy()
    edited["age"] = 77
    edited["city"] = "south"
    expected = pipeline_model.predict_proba(edited)[0, 1]
    assert shown(editor) == pytest.approx(expected, abs=5e-5)
    assert editor.result_.prediction[0] == pytest.approx(expected, abs=1e-12)
    assert "edited: age, city" in editor.prediction_.value
    assert [h["feature"] for h in editor.history] == ["age", "city"]
    assert "mld-changed" in editor.editors_["age"]._dom_classes
    assert editor.feature == "city"  # the plot follows the edit


def test_one_predict_call_per_edit(pipeline_model, mixed_data):
    X, y = mixed_data
    spy = Spy(pipeline_model)
    editor = WhatIfEditor(spy, X, y)
    for value in (30, 45, 60):
        before = spy.calls
        editor.editors_["age"].value = value
        assert spy.calls == before + 1
    before = spy.calls
    editor.missing_["income"].value = True
    assert spy.calls == before + 1
    assert np.isnan(editor.edited["income"].iloc[0])
    edited = X.iloc[[0]].copy()
    edited["age"] = 60
    edited["income"] = np.nan
    assert shown(editor) == pytest.approx(pipeline_model.predict_proba(edited)[0, 1], abs=5e-5)


def test_one_edit_sends_one_update_of_the_prediction(comm_log, pipeline_model, mixed_data):
    X, y = mixed_data
    editor = WhatIfEditor(pipeline_model, X, y)
    comm_log.clear()
    from_frontend(editor.editors_["age"], value=50)
    assert len(updates(comm_log, editor.prediction_)) == 1
    assert len(updates(comm_log, editor._bars)) == 1  # x and y in one message (hold_sync)


def test_focus_row_and_navigation(pipeline_model, mixed_data):
    X, y = mixed_data
    session = bind(pipeline_model, X, y)
    editor = WhatIfEditor(session)
    session.focus_row = 17
    assert editor.row == 17 and editor.row_box_.value == "17"
    assert shown(editor) == pytest.approx(pipeline_model.predict_proba(X.loc[[17]])[0, 1],
                                          abs=5e-5)
    editor.step(1)
    assert session.focus_row == 18 and editor.row == 18
    from_frontend(editor.row_box_, value="3")
    assert editor.row == 3 and session.focus_row == 3
    editor.pick("highest prediction")
    assert editor.row == X.index[np.argmax(pipeline_model.predict_proba(X)[:, 1])]
    editor.pick("largest error")
    errors = np.abs(y.to_numpy() - pipeline_model.predict_proba(X)[:, 1])
    assert editor.row == X.index[np.argmax(errors)]
    from_frontend(editor.row_box_, value="99999")
    assert "not in the bound data" in editor.message_.value and editor.row == X.index[
        np.argmax(errors)]


def test_rebinding_updates_the_widget(binary_data):
    from sklearn.linear_model import LogisticRegression

    X, y = binary_data
    model = LogisticRegression(C=0.001).fit(X, y)
    session = bind(model, X, y)
    editor = WhatIfEditor(session)
    editor.set_value("f1", 1.5)
    other = clone(model).set_params(C=10.0).fit(X, y)
    session.set_model(other)
    assert shown(editor) == pytest.approx(other.predict_proba(X.iloc[[0]])[0, 1], abs=5e-5)
    model.set_params(C=1.0).fit(X, y)  # refit the first model in place, then bind it back
    session.set_model(model)
    model.set_params(C=100.0).fit(X, y)
    session.refresh()
    assert shown(editor) == pytest.approx(model.predict_proba(X.iloc[[0]])[0, 1], abs=5e-5)


def test_bad_value_is_shown_and_raises(pipeline_model, mixed_data):
    X, y = mixed_data
    editor = WhatIfEditor(pipeline_model, X, y)
    before = editor.prediction_.value
    with pytest.raises(SchemaError, match="not a whole number"):
        editor.set_value("age", 40.5)
    assert "not a whole number" in editor.message_.value
    assert editor.prediction_.value == before and editor.history == []


def test_model_error_is_shown_not_lost(mixed_data):
    X, y = mixed_data

    def fragile(df):
        if df["income"].isna().any():
            raise ValueError("income must not be missing")
        return 1 / (1 + np.exp(-df["age"].to_numpy(float) / 50))

    X = X.fillna({"income": 1.0})
    editor = WhatIfEditor(fragile, X, y, include_missing=False)
    editor.missing_["income"].value = True
    assert "income must not be missing" in editor.message_.value
    editor.missing_["income"].value = False
    assert editor.message_.value == ""


def test_multiclass_and_regression_views(multiclass_model, multiclass_data, regression_model,
                                         regression_data):
    X, y = multiclass_data
    editor = WhatIfEditor(multiclass_model, X, y)
    probabilities = multiclass_model.predict_proba(X.iloc[[0]])[0]
    for k in range(3):
        assert shown(editor, k) == pytest.approx(probabilities[k], abs=5e-5)
    assert editor.output_select_.layout.display == ""
    editor.output = 2
    curve = editor._marks["edited"].y
    np.testing.assert_allclose(curve, editor.result_.ice.curve(editor.feature, output=2)[
        :len(curve)])
    Xr, yr = regression_data
    editor = WhatIfEditor(regression_model, Xr, yr)
    assert "prediction = " in editor.prediction_.value
    assert shown(editor) == pytest.approx(regression_model.predict(Xr.iloc[[0]])[0], abs=5e-5)


def test_ice_plot_shows_curves_pd_and_missing(pipeline_model, mixed_data):
    X, y = mixed_data
    editor = WhatIfEditor(pipeline_model, X, y, resolution=10)
    editor.feature = "income"
    marks = editor._marks
    grid = editor._grids["income"]
    assert np.isnan(grid[-1])  # a missing value is swept...
    assert len(marks["edited"].x) == len(grid) - 1  # ...but drawn as a line, not an x point
    missing_row = X.iloc[[0]].copy()
    missing_row["income"] = np.nan
    assert marks["missing"].y[0] == pytest.approx(pipeline_model.predict_proba(missing_row)[0, 1])
    assert marks["missing"].visible
    assert grid[-2] > X["income"].max()  # beyond the observed range by the margin
    # the PD curve is the mean of the ICE curves of the pd_rows sample
    rows = editor.session.X.iloc[np.sort(np.random.default_rng(0).choice(
        len(X), size=editor.pd_rows, replace=False))]
    value = grid[3]
    swept = rows.copy()
    swept["income"] = value
    assert marks["average"].y[3] == pytest.approx(
        pipeline_model.predict_proba(swept)[:, 1].mean())
    editor.feature = "city"
    assert list(editor._marks["edited"].x) == ["east", "north", "south"]
    editor._bars._handle_custom_msgs(None, {"event": "element_click", "data": {"index": 0}})
    assert editor.feature == editor._bars.x[0]


def test_undo_reset_history_and_code(pipeline_model, mixed_data):
    X, y = mixed_data
    editor = WhatIfEditor(pipeline_model, X, y)
    original = shown(editor)
    editor.set_value("age", 20)
    editor.set_value("owner", "yes" if X["owner"].iloc[0] == "no" else "no")
    assert "<td>age</td>" in editor.history_.value
    editor.undo()
    assert editor.edited["owner"].iloc[0] == X["owner"].iloc[0] and len(editor.history) == 1
    code = editor.row_as_code()
    namespace = {}
    exec(compile(code, "<row>", "exec"), namespace)  # our own generated code, not user text
    rebuilt = namespace["row"]
    assert rebuilt["age"].iloc[0] == 20 and list(rebuilt.columns) == list(X.columns)
    editor.reset()
    assert editor.history == [] and shown(editor) == original


def test_nothing_is_mutated_by_the_widget(pipeline_model, mixed_data):
    X, y = mixed_data
    before = fingerprint(X, y, pipeline_model)
    editor = WhatIfEditor(pipeline_model, X, y)
    editor.set_value("age", 99)
    editor.missing_["income"].value = True
    editor.feature = "city"
    editor.pick("random")
    editor.reset()
    assert fingerprint(X, y, pipeline_model) == before


def test_constructor_errors(pipeline_model, mixed_data):
    X, y = mixed_data
    with pytest.raises(TypeError, match="pass a session"):
        WhatIfEditor(pipeline_model)
    session = bind(pipeline_model, X, y)
    with pytest.raises(TypeError, match="not both"):
        WhatIfEditor(session, X)
    assert isinstance(WhatIfEditor.from_estimator(pipeline_model, X, y), WhatIfEditor)


def test_schema_override_rebuilds_editors(pipeline_model, mixed_data):
    X, y = mixed_data
    session = bind(pipeline_model, X, y)
    editor = WhatIfEditor(session)
    session.schema = session.schema.override({"age": {"mutable": False}})
    labels = [row.children[0].value for row in editor.editor_panel_.children]
    assert "age (fixed)" in labels
    editor.set_value("age", 33)
    assert editor.history[-1]["new"] == 33


def test_module_docstring_of_dataframe_with_string_index(binary_model, binary_data):
    X, y = binary_data
    X = X.set_axis([f"id-{i}" for i in range(len(X))])
    y = y.set_axis(X.index)
    editor = WhatIfEditor(binary_model, X, y)
    from_frontend(editor.row_box_, value="id-5")
    assert editor.row == "id-5"
    assert shown(editor) == pytest.approx(binary_model.predict_proba(X.loc[["id-5"]])[0, 1],
                                          abs=5e-5)
    assert isinstance(editor.session.X, pd.DataFrame)


def test_model_that_rejects_missing_values_still_works(binary_data):
    from sklearn.linear_model import LogisticRegression

    X, y = binary_data
    model = LogisticRegression().fit(X, y)  # raises on NaN
    spy = Spy(model)
    editor = WhatIfEditor(spy, X, y)
    assert "fails on missing values" in editor.message_.value
    assert not any(np.isnan(g).any() for g in editor._grids.values())
    before = spy.calls
    editor.set_value("f0", 0.25)
    assert spy.calls == before + 1
    edited = X.iloc[[0]].copy()
    edited["f0"] = 0.25
    assert shown(editor) == pytest.approx(model.predict_proba(edited)[0, 1], abs=5e-5)
    editor.set_value("f0", float("nan"))  # the user asks for it: the model's own error shows
    assert "Input X contains NaN" in editor.message_.value


def test_a_proposed_row_loads_with_its_changes(pipeline_model, mixed_data):
    X, y = mixed_data
    session = bind(pipeline_model, X, y)
    editor = WhatIfEditor(session)
    session.propose(5, {"age": 77, "city": "east"}, source="adversarial search")
    assert editor.row == 5
    assert editor.edited["age"].iloc[0] == 77 and editor.edited["city"].iloc[0] == "east"
    expected = X.loc[[5]].assign(age=77, city="east")
    assert shown(editor) == pytest.approx(pipeline_model.predict_proba(expected)[0, 1],
                                          abs=5e-5)
    changed = {h["feature"] for h in editor.history}
    assert changed == {"age", "city"} - ({"city"} if X.loc[5, "city"] == "east" else set())
    assert all(h["source"] == "adversarial search" for h in editor.history)
    editor.reset()
    assert editor.edited["age"].iloc[0] == X.loc[5, "age"]
    with pytest.raises(KeyError, match="not columns of X"):
        session.propose(5, {"nope": 1})
    session.propose(5, {"age": "old"})  # a bad value is shown, not raised into the kernel
    assert "age" in editor.message_.value


def test_explain_panel_draws_the_native_ale_and_says_how_to_get_alibi(pipeline_model,
                                                                       mixed_data):
    from mldebug_widgets.analysis import ale
    from mldebug_widgets.integrations import alibi as integration

    X, y = mixed_data
    editor = WhatIfEditor(pipeline_model, X, y)
    editor.feature = "age"
    editor.explain_.ale_button_.click()
    expected = ale(editor.session, "age")
    np.testing.assert_allclose(editor.explain_.native_.y, expected["ale"])
    assert editor.explain_.figure_ in editor.explain_.children
    if not integration.available():
        editor.explain_.anchor_button_.click()
        assert "pip install" in editor.explain_.note_.value
        assert "BSL 1.1" in editor.explain_.children[2].value
