"""ResidualExplorer headless: brush as the browser does, pick rows, bounded payloads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from sklearn.linear_model import LogisticRegression

from mldebug_widgets import ModelError, ResidualExplorer, WhatIfEditor, bind
from mldebug_widgets.analysis import error_tree, residuals


def from_frontend(widget, **state):
    widget._handle_msg({"content": {"data": {"method": "update", "state": state,
                                             "buffer_paths": []}}, "buffers": []})


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(0)
    n = 6_000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(0, 10, n),
                      "g": rng.choice(["x", "y", "z"], n)})
    logit = X["a"] * 2 - 0.2 * X["b"] + (X["g"] == "y") * 1.0
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int), name="label")
    model = LogisticRegression().fit(pd.get_dummies(X, columns=["g"], dtype=float), y)

    def predict(df):
        design = pd.get_dummies(df, columns=["g"], dtype=float).reindex(
            columns=model.feature_names_in_, fill_value=0.0)
        return model.predict_proba(design)[:, 1]

    return X, y, predict


def test_brush_selects_every_row_in_the_region_not_only_drawn(big):
    X, y, predict = big
    session = bind(predict, X, y, task="binary", sensitive_features=["g"])
    explorer = ResidualExplorer(session, max_points=300, n_extreme=50)
    panel = explorer.panels_[0]
    assert len(panel["scatter"].x) == 300  # bounded payload
    brush = panel["brush"]
    from_frontend(brush, brushing=True)
    from_frontend(brush, selected_x=[0.2, 0.6], selected_y=[0.5, 3.0])
    assert session.selected_rows == ()  # nothing until the drag ends
    from_frontend(brush, brushing=False)
    p = predict(X)
    res = residuals(session).to_numpy()
    inside = (p >= 0.2) & (p <= 0.6) & (res >= 0.5) & (res <= 3.0)
    assert set(session.selected_rows) == set(X.index[inside])
    assert inside.sum() > 300 - 50  # more rows than could have been drawn
    highlight = panel["highlight"]
    assert 0 < len(highlight.x) <= 500
    note = explorer.selected_table_.table_.value
    assert f"{inside.sum():,} rows selected" in note
    picker = explorer.selected_table_.picker_
    from_frontend(picker, index=0)
    first = picker.options[0][1]
    assert session.focus_row == first
    assert res[X.index.get_loc(first)] == res[inside].max()  # largest residual first


def test_extremes_are_always_drawn(big):
    X, y, predict = big
    explorer = ResidualExplorer(predict, X, y, task="binary", max_points=200, n_extreme=40)
    res = residuals(explorer.session).to_numpy()
    drawn = set(np.round(explorer.panels_[0]["scatter"].y, 12))
    worst = np.sort(res)[-20:]
    assert all(np.round(v, 12) in drawn for v in worst)
    density = explorer.panels_[0]["figure"].marks[0]
    assert len(density.x) <= 60 * 40  # one square per non-empty cell of a 60 x 40 grid
    assert np.expm1(density.color).sum() == pytest.approx(len(X))  # it counts all rows


def test_table_pick_loads_the_row_in_the_what_if_editor(big):
    X, y, predict = big
    session = bind(predict, X, y, task="binary")
    explorer = ResidualExplorer(session)
    editor = WhatIfEditor(session, include_missing=False)
    picker = explorer.worst_table_.picker_
    from_frontend(picker, index=2)
    label = picker.options[2][1]
    assert session.focus_row == label and editor.row == label
    order = np.argsort(-residuals(session).to_numpy(), kind="stable")
    assert label == X.index[order[2]]
    session.focus_row = X.index[0]  # focus moves elsewhere: picking the same row loads it again
    assert picker.value is None
    from_frontend(picker, index=2)
    assert session.focus_row == label and editor.row == label


def test_rule_pick_selects_the_leaf(big):
    X, y, predict = big
    session = bind(predict, X, y, task="binary")
    explorer = ResidualExplorer(session)
    leaf = explorer.rules_.options[0][1]
    from_frontend(explorer.rules_, index=0)
    tree = error_tree(session, max_depth=3)
    assert set(session.selected_rows) == set(tree.rows(leaf, X.index))
    from_frontend(explorer.by_class_, value=True)
    assert explorer.rules_.options[0][0].startswith("true ")


def test_axis_colour_and_facets(big):
    X, y, predict = big
    session = bind(predict, X, y, task="binary", sensitive_features=["g"])
    explorer = ResidualExplorer(session, max_points=600)
    explorer.x_axis = "b"
    np.testing.assert_allclose(explorer.panels_[0]["scatter"].x,
                               X["b"].to_numpy()[explorer.panels_[0]["sample"]])
    explorer.color_by = "g"
    codes = explorer.panels_[0]["scatter"].color
    expected = pd.Categorical(X["g"]).codes[explorer.panels_[0]["sample"]]
    np.testing.assert_array_equal(codes, expected)
    assert "● x" in explorer.legend_.value
    explorer.facet = "g"
    assert [p["figure"].title for p in explorer.panels_] == ["g = x", "g = y", "g = z"]
    assert sum(len(p["rows"]) for p in explorer.panels_) == len(X)
    explorer.select_region(x=(0, 10), y=(-100, 100), panel=1)
    assert set(session.selected_rows) == set(X.index[X["g"] == "y"])
    explorer.x_axis = "g"  # a categorical axis: jittered codes
    xs = explorer.panels_[0]["scatter"].x
    assert np.all(np.abs(xs - np.round(xs)) <= 0.35)
    explorer.clear_selection()
    assert session.selected_rows == ()


def test_selection_from_another_widget_is_shown(big):
    X, y, predict = big
    session = bind(predict, X, y, task="binary")
    explorer = ResidualExplorer(session)
    session.selected_rows = tuple(X.index[:7])
    assert "7 rows selected" in explorer.selected_table_.table_.value
    assert len(explorer.panels_[0]["highlight"].x) == 7


def test_rebinding_recomputes(binary_data):
    X, y = binary_data
    weak = LogisticRegression(C=1e-4).fit(X, y)
    strong = LogisticRegression(C=10.0).fit(X, y)
    session = bind(weak, X, y)
    explorer = ResidualExplorer(session)
    before = explorer.summary_.value
    session.set_model(strong)
    assert explorer.summary_.value != before
    ours = np.sort(explorer.panels_[0]["scatter"].y)
    np.testing.assert_allclose(ours, np.sort(residuals(session).to_numpy()))


def test_from_predictions_needs_no_model(binary_data):
    X, y = binary_data
    p = np.linspace(0.01, 0.99, len(X))
    explorer = ResidualExplorer.from_predictions(y, p, X, task="binary")
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(residuals(explorer.session), expected)
    edited = explorer.session.row(0).assign(f0=99.0)
    with pytest.raises(ModelError, match="fixed predictions"):
        explorer.session.predict(edited)


def test_bad_input(binary_model, binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match=r"needs the true labels.*bind\(model, X, y\)"):
        ResidualExplorer(binary_model, X)


def test_user_data_unchanged(pipeline_model, mixed_data):
    X, y = mixed_data
    before = fingerprint(X, y, pipeline_model)
    explorer = ResidualExplorer(pipeline_model, X, y)
    explorer.x_axis = "income"
    explorer.facet = "city"
    explorer.select_region(x=(0, 1e9), y=(0, 100), panel=0)
    assert fingerprint(X, y, pipeline_model) == before


def test_benchmark_tab_fits_off_the_ui_path_and_lists_disagreements(big):
    from mldebug_widgets.analysis import benchmark

    X, y, predict = big
    session = bind(predict, X, y, task="binary")
    explorer = ResidualExplorer(session)
    explorer.benchmark_kind_.value = "tree"
    explorer.benchmark_button_.click()
    explorer._benchmark_thread.join(timeout=60)
    assert not explorer.benchmark_button_.disabled
    expected = benchmark(session, estimator="tree")
    assert "<td>log_loss</td>" in explorer.benchmark_metrics_.value
    listed = [label for _, label in explorer.benchmark_table_.picker_.options]
    res = residuals(session).to_numpy()
    worse = np.flatnonzero(expected.mask("model_worse"))
    top = worse[np.argsort(-res[worse], kind="stable")][:200]
    assert listed == list(X.index[top])  # the model's worst misses first
    explorer.benchmark_which_.value = "benchmark_worse"
    listed = [label for _, label in explorer.benchmark_table_.picker_.options]
    assert set(listed) <= set(expected.rows("benchmark_worse"))
    explorer.select_rows(expected.rows("benchmark_worse"))
    assert set(session.selected_rows) == set(expected.rows("benchmark_worse"))


def test_redraws_do_not_leak_widgets(big):
    from ipywidgets.widgets.widget import _instances

    X, y, predict = big
    explorer = ResidualExplorer(predict, X, y, task="binary", sensitive_features=["g"])
    explorer.x_axis = "b"
    before = len(_instances)
    for _ in range(3):
        explorer.x_axis = "prediction"
        explorer.facet = "g"
        explorer.color_by = "g"
        explorer.facet = ""
        explorer.color_by = ""
        explorer.x_axis = "b"
    assert len(_instances) == before
