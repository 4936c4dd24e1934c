"""AdversarialSearch headless: run as the buttons do, check what is shown against references.

The references are independent of the package's search code: grids rebuilt by the seed's
rule with numpy, surfaces recomputed with a pandas groupby of the result frame, predictions
of found rows recomputed with the model's own ``predict_proba``, and counts by hand.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint

from mldebug_widgets import AdversarialSearch, WhatIfEditor, bind, datasets
from mldebug_widgets.analysis import GridResult, SearchResult

SCHEMA = datasets.CREDIT_SCHEMA


@pytest.fixture(scope="module")
def credit():
    data = datasets.load_credit(n_rows=3_000)
    return data, datasets.demo_model(data)


@pytest.fixture
def session(credit):
    data, model = credit
    return bind(model, data.X, data.y, schema=SCHEMA)


def proba(model, rows: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(rows)[:, 1]


def full_rows(panel) -> pd.DataFrame:
    """The found rows as model input (the session's columns and dtypes)."""
    X = panel.session.X
    rows = panel.found_[list(X.columns)].copy()
    for name, dtype in X.dtypes.items():
        if rows[name].notna().all():  # an attack row may hold NaN in an integer column
            rows[name] = rows[name].astype(dtype)
    return rows


def table_rows(panel) -> int:
    """Data rows of the found table (the header and the prototype row excluded)."""
    return panel.found_html_.value.count("<tr>") - 2


def click_cell(mark, row: int, column: int) -> None:
    """A heat-map cell click exactly as bqplot's front end (0.6.1) sends it: the cell's datum
    (``GridHeatMapModel.update_data``: indices rowNum / columnNum, axis values row / column)
    in a custom message."""
    color = np.asarray(mark.color)
    datum = {"rowNum": row, "row": float(mark.row[row]), "columnNum": column,
             "column": float(mark.column[column]), "color": float(color[row, column]),
             "cellNum": row * color.shape[1] + column}
    content = {"event": "element_click", "data": datum}
    mark._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                      "buffers": []})


def seed_grid(values: pd.Series, resolution: int, margin: float = 0.1) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return np.linspace(lo - abs(margin * lo), hi + abs(margin * hi), resolution)


def run_and_wait(panel) -> None:
    panel.run_button_.click()
    panel._thread.join(timeout=120)
    assert not panel._thread.is_alive() and not panel.running
    assert not panel.run_button_.disabled and panel.stop_button_.disabled


# -- grid: Run -> progress 100 % -> heat map and table; send to what-if -----------------------
def test_grid_run_fills_heat_map_and_table(credit, session):
    data, model = credit
    before = fingerprint(data.X, data.y)
    panel = AdversarialSearch(session)
    f1, f2, f3 = "PAY_AMT1", "PAY_AMT2", "LIMIT_BAL"
    panel.features_select_.value = (f1, f2, f3)
    panel.resolution_.value = 6
    seen = []
    panel.observe(lambda c: seen.append(c["new"]), "progress")
    run_and_wait(panel)
    assert panel.progress == 1.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert panel.progress_.value == 1.0
    assert panel.status_.value == "done: 216 model queries"
    r = panel.result_
    assert isinstance(r, GridResult) and r.n_queries == 6 ** 3
    for f in (f1, f2, f3):  # the seed's grid rule
        np.testing.assert_allclose(r.grid[f], seed_grid(data.X[f], 6))
    # every grid row scored as the model scores the prototype with those values
    rows = session.X.loc[[panel.prototype] * len(r.frame)].reset_index(drop=True)
    rows[[f1, f2, f3]] = r.frame[[f1, f2, f3]].to_numpy()
    np.testing.assert_allclose(r.frame["prediction"], proba(model, rows), rtol=1e-12)
    # the heat map shows result_.surface(f1, f2, "max") = a groupby max over f3
    mark = panel.heatmap.map
    assert panel.heatmap_ in panel.results_.children
    expected = r.frame.groupby([f1, f2])["prediction"].max().unstack(f2)
    expected = expected.reindex(index=r.grid[f1], columns=r.grid[f2]).to_numpy()
    np.testing.assert_allclose(np.asarray(mark.color), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(mark.color), r.surface(f1, f2, "max"))
    np.testing.assert_allclose(mark.row, r.grid[f1], rtol=1e-6)
    np.testing.assert_allclose(mark.column, r.grid[f2], rtol=1e-6)
    panel.aggregate_.value = "min"
    expected_min = r.frame.groupby([f1, f2])["prediction"].min().unstack(f2)
    np.testing.assert_allclose(np.asarray(panel.heatmap.map.color), expected_min.reindex(
        index=r.grid[f1], columns=r.grid[f2]).to_numpy(), rtol=1e-12)
    # the found table: the 10 highest predictions of the grid, changed cells highlighted
    top = r.frame["prediction"].sort_values(ascending=False).iloc[:10]
    np.testing.assert_allclose(panel.found_["prediction"], top.to_numpy())
    np.testing.assert_allclose(proba(model, full_rows(panel)), top.to_numpy(), rtol=1e-12)
    assert table_rows(panel) == 10 and "background:#fde0c5" in panel.found_html_.value
    assert panel.found_select_.options[0] == ("0", 0) and panel.found_select_.value == 0
    assert fingerprint(data.X, data.y) == before  # nothing mutated


def test_send_to_whatif_and_heat_map_click_load_the_find(credit, session):
    data, model = credit
    editor = WhatIfEditor(session)
    session.focus_row = session.X.index[3]
    panel = AdversarialSearch(session)
    assert panel.prototype == session.X.index[3]
    panel.row_box_.value = str(session.X.index[7])  # a prototype typed in the panel
    assert panel.prototype == session.X.index[7] and session.focus_row == session.X.index[3]
    f1, f2, f3 = "PAY_AMT1", "PAY_AMT2", "BILL_AMT1"
    panel.features_select_.value = (f1, f2, f3)
    panel.resolution_.value = 5
    run_and_wait(panel)
    found = full_rows(panel).iloc[[0]].reset_index(drop=True)
    panel.send_button_.click()  # row 0 of the picker
    assert session.focus_row == session.X.index[7] == editor.row
    pd.testing.assert_frame_equal(editor.edited.reset_index(drop=True), found,
                                  check_dtype=False)
    assert editor.result_.prediction[0] == pytest.approx(proba(model, found)[0], abs=1e-12)
    assert {h["feature"] for h in editor.history} <= {f1, f2, f3}
    assert {h["source"] for h in editor.history} == {"grid search #0"}
    # the same find again, after a reset in the editor, loads again
    editor.reset()
    panel.send_to_whatif(0)
    pd.testing.assert_frame_equal(editor.edited.reset_index(drop=True), found,
                                  check_dtype=False)
    # a click on heat-map cell (r, c): the best grid row of that cell (over f3)
    r = panel.result_
    row, column = 1, 3
    frame = r.frame
    cell = frame[(frame[f1] == r.grid[f1][row]) & (frame[f2] == r.grid[f2][column])]
    assert len(cell) == 5
    best = cell.loc[cell["prediction"].idxmax()]
    click_cell(panel.heatmap.map, row, column)
    assert session.candidate["values"] == pytest.approx(
        {f1: best[f1], f2: best[f2], f3: best[f3]})
    expected = session.X.loc[[session.X.index[7]]].copy()
    expected[[f1, f2, f3]] = [[best[f1], best[f2], best[f3]]]
    np.testing.assert_allclose(editor.edited[[f1, f2, f3]].to_numpy(dtype=float),
                               expected[[f1, f2, f3]].to_numpy(dtype=float))
    assert editor.result_.prediction[0] == pytest.approx(best["prediction"], abs=1e-12)
    assert editor.history and {h["source"] for h in editor.history} == {
        "grid search cell (1, 3)"}


def test_prototype_follows_focus_and_bad_labels_are_shown(session):
    panel = AdversarialSearch(session)
    assert panel.prototype == session.X.index[0] and panel.row_box_.value == str(
        session.X.index[0])
    session.focus_row = session.X.index[42]
    assert panel.prototype == session.X.index[42]
    assert panel.row_box_.value == str(session.X.index[42])
    panel.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    run_and_wait(panel)
    assert len(panel.found_)
    panel.row_box_.value = "no such row"
    assert "not in the bound data" in panel.status_.value and "mld-error" in panel.status_.value
    assert panel.prototype == session.X.index[42] and len(panel.found_)
    panel.row_box_.value = str(session.X.index[9])  # a good label: results of row 42 go
    assert panel.prototype == session.X.index[9] and panel.found_.empty
    assert panel.result_ is None and panel.results_.children == ()
    panel.send_to_whatif(0)  # nothing to send: said, not raised
    assert "run a search" in panel.status_.value
    click_cell(panel.heatmap.map, 0, 0)  # a stale heat map: nothing happens
    assert session.candidate == {}


# -- Stop: a slow model, the kernel thread free ------------------------------------------------
def slow_model(model, calls: list):
    """The demo model as a function that sleeps per call (a slow model stub); counts rows."""

    def predict(df: pd.DataFrame) -> np.ndarray:
        calls.append(len(df))
        time.sleep(0.01)
        return model.predict_proba(df)

    return predict


def test_stop_button_ends_a_running_search(credit):
    data, model = credit
    calls = []
    session = bind(slow_model(model, calls), data.X, data.y, task="binary",
                   schema=SCHEMA)
    panel = AdversarialSearch(session)
    panel.mode = "maximise"
    assert panel.budget_.value == 5_000
    first = threading.Event()
    release = threading.Event()

    def on_progress(change):
        if change["new"] > 0 and not first.is_set():
            first.set()
            release.wait(timeout=60)  # the worker waits here until the test pressed Stop

    panel.observe(on_progress, "progress")
    panel.run_button_.click()
    assert panel.running and panel._thread.is_alive()  # run() returned at once
    assert panel.run_button_.disabled and not panel.stop_button_.disabled
    assert first.wait(timeout=60)
    # the kernel thread is free while the search runs: widgets answer, the model is callable
    panel.margin_.value = 0.2
    assert session.predict(data.X.iloc[:3]).shape == (3, 1)
    panel.stop_button_.click()
    assert panel.status_.value == "stopping…"
    release.set()
    panel._thread.join(timeout=60)
    assert not panel._thread.is_alive() and not panel.running
    r = panel.result_
    assert isinstance(r, SearchResult) and r.cancelled
    assert r.n_queries <= 64 < panel.budget_.value // 10  # the first population only
    assert panel.status_.value.startswith(f"stopped: {r.n_queries} model queries")
    assert not panel.run_button_.disabled and panel.stop_button_.disabled


@pytest.mark.parametrize("mode, features, budget, resolution", [
    ("maximise", (), 5_000, 10),
    ("flip", (), 5_000, 10),
    ("attack", (), 20_000, 10),
    ("grid", ("PAY_AMT1", "PAY_AMT2", "BILL_AMT1", "LIMIT_BAL"), 200_000, 20),
])
def test_stop_from_the_progress_callback(credit, mode, features, budget, resolution):
    data, model = credit
    calls = []
    session = bind(slow_model(model, calls), data.X, data.y, task="binary",
                   schema=SCHEMA)
    session.focus_row = session.X.index[int(np.argmin(session.predictions()[:, 0]))]
    panel = AdversarialSearch(session)
    panel.mode = mode
    panel.features_select_.value = features
    panel.budget_.value, panel.resolution_.value = budget, resolution
    panel.observe(lambda c: c["new"] > 0 and panel.stop(), "progress")
    panel.run()
    assert panel.running  # never blocks the kernel
    panel._thread.join(timeout=120)
    assert not panel._thread.is_alive() and not panel.running
    r = panel.result_
    assert r.cancelled and r.n_queries <= budget // 5, (r.n_queries, budget)
    assert sum(calls) >= r.n_queries  # the model really was queried that much
    assert panel.status_.value.startswith("stopped:")


def test_mode_change_during_a_run_keeps_the_runs_view(credit):
    data, model = credit
    calls = []
    session = bind(slow_model(model, calls), data.X, data.y, task="binary",
                   schema=SCHEMA)
    panel = AdversarialSearch(session)
    panel.mode = "minimise"
    panel.budget_.value = 600
    panel.run()
    panel.mode_.value = "attack"  # the user changes the dropdown while it runs
    panel._thread.join(timeout=120)
    assert isinstance(panel.result_, SearchResult) and panel.result_.objective == "minimise"
    assert "mld-error" not in panel.status_.value and table_rows(panel) == len(panel.found_) > 0


# -- the other modes ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["maximise", "minimise", "disagree"])
def test_evolutionary_modes_fill_results(credit, session, mode):
    data, model = credit
    panel = AdversarialSearch(session)
    panel.mode = mode
    panel.features_select_.value = ()  # every mutable feature
    panel.budget_.value = 1_500
    run_and_wait(panel)
    assert panel.progress == 1.0 and panel.status_.value.startswith("done:")
    found = panel.found_
    assert 0 < len(found) <= 10 and table_rows(panel) == len(found)
    prediction = proba(model, full_rows(panel))
    np.testing.assert_allclose(found["prediction"], prediction, rtol=1e-12)
    start = proba(model, session.X.loc[[panel.prototype]])[0]
    if mode == "maximise":
        assert prediction.max() > start and found["prediction"].iloc[0] == prediction.max()
    elif mode == "minimise":
        assert prediction.min() < start and found["prediction"].iloc[0] == prediction.min()
    else:
        bench = panel.benchmark.predict_proba(full_rows(panel))[:, 1]
        np.testing.assert_allclose(found["benchmark"], bench, rtol=1e-9)
        np.testing.assert_allclose(found["objective"], np.abs(prediction - bench), rtol=1e-9)
    for f in ("SEX", "AGE"):  # immutable in the schema: never changed
        assert (found[f] == session.X.at[panel.prototype, f]).all()


def test_flip_finds_a_row_that_really_flips(credit, session):
    data, model = credit
    scores = session.predictions()[:, 0]
    label = session.X.index[int(np.flatnonzero(scores < 0.3)[0])]
    session.focus_row = label
    panel = AdversarialSearch(session)
    panel.mode = "flip"
    panel.features_select_.value = ()
    panel.budget_.value = 2_400
    run_and_wait(panel)
    assert len(panel.found_) == 1 and panel.status_.value.startswith("done:")
    row = full_rows(panel)
    assert proba(model, row)[0] >= 0.5 > proba(model, session.X.loc[[label]])[0]
    assert panel.found_["prediction"].iloc[0] == pytest.approx(proba(model, row)[0])
    assert (row[["SEX", "AGE"]].to_numpy() == session.X.loc[[label], ["SEX", "AGE"]]
            .to_numpy()).all()
    panel.features_select_.value = ("MARRIAGE",)  # marriage alone cannot flip it: said so
    panel.budget_.value = 100
    run_and_wait(panel)
    assert panel.found_.empty and "no flip found (not found)" in panel.status_.value


@pytest.mark.parametrize("mode, locked", [("maximise", ["PAY_0", "PAY_AMT1"]),
                                          ("flip", ["PAY_0"])])
def test_a_locked_feature_is_never_changed(credit, session, mode, locked):
    data, model = credit
    scores = session.predictions()[:, 0]
    session.focus_row = session.X.index[int(np.flatnonzero(scores < 0.3)[1])]
    panel = AdversarialSearch(session)
    panel.mode = mode
    panel.features_select_.value = ()
    panel.budget_.value = 1_500
    base = session.X.loc[panel.prototype]

    def changed(feature):
        return (~np.isclose(panel.found_[feature].astype(float), float(base[feature]))).any()

    run_and_wait(panel)
    assert all(changed(f) for f in locked)  # free, the search moves them: the test can fail
    for f in locked:
        panel.locks_[f].value = True  # the constraints editor's checkbox
    assert set(locked) <= panel.constraints().immutable
    run_and_wait(panel)
    assert len(panel.found_) and not any(changed(f) for f in locked)


def test_constraints_editor_is_built_when_opened_with_the_schemas_defaults(session):
    panel = AdversarialSearch(session)
    editor = panel.constraints_editor
    assert editor.widget.children[0].children == ()  # nothing to draw until it is opened
    unopened = panel.constraints()
    assert unopened.immutable == {f for f in session.features
                                  if not session.schema[f].mutable}  # SEX, AGE, ...
    assert unopened.immutable
    editor.widget.selected_index = 0  # the user opens it
    rows = editor.widget.children[0].children
    assert len(rows) == 1 + len(session.features)
    assert {f for f, box in panel.locks_.items() if box.value} == unopened.immutable
    lo, hi = panel.ranges_["LIMIT_BAL"]
    assert (lo.value, hi.value) == (session.schema["LIMIT_BAL"].min,
                                    session.schema["LIMIT_BAL"].max)
    opened = panel.constraints()
    assert opened.immutable == unopened.immutable
    assert dict(opened.ranges) == dict(unopened.ranges) == {}
    editor.widget.selected_index = None
    editor.widget.selected_index = 0
    assert editor.widget.children[0].children == rows  # built once


def test_attack_reports_the_planted_missing_payment_fault(credit, session):
    data, model = credit
    panel = AdversarialSearch(session)
    panel.mode = "attack"
    panel.features_select_.value = ()
    panel.budget_.value = 2_000
    run_and_wait(panel)
    r = panel.result_
    assert r.n_queries == len(r.frame) == 2_000 and panel.progress == 1.0
    report = panel.report_.value
    for feature in data.bugs["missing_payment_imputation"].features:  # PAY_AMT1, PAY_AMT2
        assert re.search(f"Missing {feature} (raises the mean prediction|is in )", report)
    missing = r.frame[["PAY_AMT1", "PAY_AMT2"]].isna().any(axis=1)
    assert r.frame.loc[missing, "prediction"].mean() > r.frame.loc[~missing, "prediction"].mean()
    assert panel.report_ in panel.results_.children
    assert panel.histogram.figure in panel.results_.children
    for bars in (panel.histogram.without, panel.histogram.with_missing):
        assert np.asarray(bars.y).sum() == pytest.approx(1.0)
    top = r.frame["prediction"].nlargest(10)
    np.testing.assert_allclose(panel.found_["prediction"], top.to_numpy())
    np.testing.assert_allclose(proba(model, full_rows(panel)), top.to_numpy(), rtol=1e-12)


# -- bad input: shown in the status, never raised, never a hung panel ------------------------
def assert_shown(panel, *pieces: str) -> None:
    assert not panel.running and not panel.run_button_.disabled
    for piece in pieces:
        assert piece in panel.status_.value, panel.status_.value


def test_every_feature_locked(session):
    panel = AdversarialSearch(session)
    for box in panel.locks_.values():
        box.value = True
    for mode, chosen in (("grid", ("PAY_AMT1",)), ("maximise", ()), ("flip", ())):
        panel.mode = mode
        panel.features_select_.value = chosen
        panel.run(wait=True)
        assert_shown(panel, "is locked", "untick one in the constraints editor", "mld-error")
        assert panel.result_ is None and panel.found_.empty


def test_budget_zero_and_too_small(session):
    panel = AdversarialSearch(session)
    panel.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    panel.budget_.value = 0
    for mode in ("grid", "maximise", "flip", "attack"):
        panel.mode = mode
        panel.run(wait=True)
        assert_shown(panel, "the budget is 0 model queries; set it to at least 1")
    panel.mode, panel.budget_.value = "grid", 50  # a 10 x 10 grid needs 100 queries
    panel.run(wait=True)
    assert_shown(panel, "the grid has 100 rows", "lower the resolution")


def test_empty_range_in_the_constraints_editor(session):
    panel = AdversarialSearch(session)
    lo, hi = panel.ranges_["PAY_AMT1"]
    lo.value, hi.value = 5_000.0, 100.0
    for mode in ("grid", "maximise", "flip"):
        panel.mode = mode
        panel.run(wait=True)
        assert_shown(panel, "the range of PAY_AMT1 is empty (5000 &gt; 100)")
    lo.value = 0.0  # fixed: a narrowed range is searched
    panel.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    panel.mode = "grid"
    panel.run(wait=True)
    np.testing.assert_allclose(panel.result_.grid["PAY_AMT1"], np.linspace(0.0, 100.0, 10))


def test_a_model_that_raises_on_some_rows(credit):
    data, model = credit
    top = float(data.X["PAY_AMT1"].max())

    def fragile(df):
        if (df["PAY_AMT1"] > top).any():
            raise ValueError("PAY_AMT1 beyond the training range")
        return model.predict_proba(df)

    session = bind(fragile, data.X, data.y, task="binary", schema=SCHEMA)
    panel = AdversarialSearch(session)
    panel.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    panel.run(wait=True)
    r = panel.result_
    beyond = int((r.frame["PAY_AMT1"] > top).sum())
    assert beyond == 10  # the last of the 10 grid values, with every PAY_AMT2 value
    assert_shown(panel, "done: 100 model queries", f"the model raised on {beyond} rows",
                 "PAY_AMT1 beyond the training range")
    assert r.frame.loc[r.frame["PAY_AMT1"] > top, "prediction"].isna().all()
    assert np.isnan(np.asarray(panel.heatmap.map.color)[-1]).all()
    assert np.isfinite(np.asarray(panel.heatmap.map.color)[:-1]).all()
    assert table_rows(panel) == 10 and (panel.found_["PAY_AMT1"] <= top).all()
    panel.mode = "maximise"  # the evolutionary search carries on too
    panel.features_select_.value = ()
    panel.budget_.value = 1_000
    panel.run(wait=True)
    assert panel.status_.value.startswith("done:") and len(panel.found_)
    assert (panel.found_["PAY_AMT1"] <= top).all()
    raised = sum(panel.result_.errors.values())
    assert raised > 0 and f"the model raised on {raised:,} rows" in panel.status_.value


def test_a_model_that_returns_nan_for_some_rows(credit):
    data, model = credit
    top = float(data.X["PAY_AMT2"].max())

    def holes(df):
        out = model.predict_proba(df)
        out[(df["PAY_AMT2"] > top).to_numpy()] = np.nan
        return out

    session = bind(holes, data.X, data.y, task="binary", schema=SCHEMA)
    panel = AdversarialSearch(session)
    panel.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    panel.run(wait=True)
    nan_rows = int((panel.result_.frame["PAY_AMT2"] > top).sum())
    assert nan_rows == 10
    assert_shown(panel, "done: 100 model queries", f"scored {nan_rows} rows NaN or inf")
    assert np.isnan(np.asarray(panel.heatmap.map.color)[:, -1]).all()
    assert table_rows(panel) == 10 and np.isfinite(panel.found_["prediction"]).all()
