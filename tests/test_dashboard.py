"""Dashboard headless: one session links the four panels; the header says what is true.

References are independent of the package: predictions from the model's own
``predict_proba``, residuals and group rates written out with numpy, metrics from
scikit-learn, grids rebuilt by the seed's rule.
"""

from __future__ import annotations

import re

import comm
import ipywidgets as w
import numpy as np
import pandas as pd
import pytest
from comm.base_comm import BaseComm
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from mldebug_widgets import (
    AdversarialSearch,
    Dashboard,
    FairnessSlicer,
    ResidualExplorer,
    WhatIfEditor,
    bind,
    datasets,
)
from mldebug_widgets.widgets._summary import SessionSummary
from mldebug_widgets.widgets._table import RowTable

BINS = {"AGE": [0, 30, 200]}
ROW_VIEWS = (RowTable, WhatIfEditor, AdversarialSearch, ResidualExplorer)


@pytest.fixture(scope="module")
def credit():
    data = datasets.load_credit(n_rows=3_000)
    model = datasets.demo_model(data)
    p = model.predict_proba(data.X)[:, 1]
    truth = data.y.to_numpy() == 1
    eps = np.finfo(np.float64).eps
    clipped = np.clip(p, eps, 1 - eps)
    logloss = -(truth * np.log(clipped) + ~truth * np.log1p(-clipped))
    return data, model, p, logloss


def new_session(credit, **kwargs):
    data, model, _p, _ll = credit
    kwargs.setdefault("sensitive_features", ["SEX", "AGE"])
    return bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA, **kwargs)


@pytest.fixture
def dash(credit):
    return Dashboard(new_session(credit), bins=BINS)


def from_frontend(widget, **state):
    widget._handle_msg({"content": {"data": {"method": "update", "state": state,
                                             "buffer_paths": []}}, "buffers": []})


def descendants(widget, seen=None):
    """Every widget reachable from ``widget`` (children, marks, scales, ...)."""
    seen = set() if seen is None else seen
    if id(widget) in seen:
        return []
    seen.add(id(widget))
    found = [widget]
    for name in widget.keys:
        value = getattr(widget, name, None)
        items = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, w.Widget):
                found += descendants(item, seen)
    return found


def visible_path(root, target) -> list | None:
    """The chain of containers from ``root`` to ``target`` through ``children``."""
    if root is target:
        return [root]
    for child in getattr(root, "children", ()):
        path = visible_path(child, target)
        if path is not None:
            return [root, *path]
    return None


def count_shown(header) -> int:
    return int(re.search(r"mld-summary-selected'>([\d,]+)<", header.selection_.value)
               .group(1).replace(",", ""))


# -- layout and links -------------------------------------------------------------------------
def test_four_panels_share_one_session_all_visible(dash):
    s = dash.session
    assert dash.explorer.session is dash.editor.session is dash.slicer.session \
        is dash.search.session is dash.header.session is s
    assert list(dash.panels) == ["explorer", "editor", "slicer", "search"]
    assert dash.children[0] is dash.header
    for panel in dash.panels.values():  # all on the page at once: no tab, accordion or stack
        path = visible_path(dash, panel)
        assert path is not None
        assert not any(isinstance(box, w.Tab | w.Accordion | w.Stack) for box in path)
    assert dash.notes == {}
    assert dash.slicer.bins == BINS


def test_brush_publishes_the_selection_and_the_header_counts_it(dash, credit):
    data, _model, p, logloss = credit
    s, header = dash.session, dash.header
    assert count_shown(header) == 0 and "residuals" not in header.flags
    brush = dash.explorer.panels_[0]["brush"]
    from_frontend(brush, brushing=True)
    from_frontend(brush, selected_x=[0.0, 0.6], selected_y=[0.3, 40.0])
    from_frontend(brush, brushing=False)
    inside = (p >= 0.0) & (p <= 0.6) & (logloss >= 0.3) & (logloss <= 40.0)
    assert inside.sum() > 10
    assert set(s.selected_rows) == set(data.X.index[inside])
    assert count_shown(header) == inside.sum()
    # the flag: the cohort's mean log-loss and how many are in the top 1 % (by hand)
    cut = np.quantile(np.abs(logloss), 0.99)
    outliers = int((logloss[inside] >= cut).sum())
    flag = header.flags["residuals"]
    assert outliers > 0
    assert flag.startswith(f"selected cohort: {inside.sum():,} rows, mean logloss "
                           f"{logloss[inside].mean():.3g} (all rows {logloss.mean():.3g}); "
                           f"{outliers:,} of them among the top 1% of residuals")
    # the slicer shows the same cohort
    assert int(dash.slicer.cohort_table["count"].iloc[-1]) == inside.sum()
    dash.explorer.clear_selection()
    assert count_shown(header) == 0 and "residuals" not in header.flags


def test_row_pick_in_the_explorer_loads_the_editor_and_the_search(dash, credit):
    data, model, _p, logloss = credit
    s = dash.session
    picker = dash.explorer.worst_table_.picker_
    from_frontend(picker, index=1)
    label = picker.options[1][1]
    assert label == data.X.index[np.argsort(-logloss, kind="stable")[1]]
    assert s.focus_row == label == dash.editor.row == dash.search.prototype
    expected = model.predict_proba(data.X.loc[[label]])[0, 1]
    assert dash.editor.result_.prediction[0] == pytest.approx(expected, abs=1e-12)
    focus = re.search(r"mld-summary-focus'>([^<]+)<", dash.header.selection_.value).group(1)
    assert focus == str(label)
    assert f"P(DEFAULT = 1) = {expected:.4f}" in dash.header.selection_.value


def test_slice_pick_selects_rows_in_the_explorer_and_the_header(dash):
    s, slicer = dash.session, dash.slicer
    slicer.find_slices()
    top = slicer.slices_.to_frame().iloc[0]
    assert dash.header.flags["slices"] == (
        f"worst slice {top['slice']}: error {top['error']:.3f} on {int(top['size']):,} rows "
        f"(average {slicer.slices_.average_error:.3f})")
    from_frontend(slicer.slices_list_, index=0)
    rows = set(slicer.slices_.rows(0))
    assert set(s.selected_rows) == rows and count_shown(dash.header) == len(rows)
    assert f"{len(rows):,} rows selected" in dash.explorer.selected_table_.table_.value


def seed_grid(values: pd.Series, resolution: int, margin: float = 0.1) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return np.linspace(lo - abs(margin * lo), hi + abs(margin * hi), resolution)


def test_adversarial_find_loads_in_the_editor_and_is_flagged(dash, credit):
    data, model, _p, _ll = credit
    s, search, editor = dash.session, dash.search, dash.editor
    s.focus_row = base = data.X.index[5]
    assert search.prototype == base
    search.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    search.resolution_.value = 4
    search.run(wait=True)
    # the grid by the seed's rule, scored by the model itself
    g1, g2 = (seed_grid(data.X[f], 4) for f in ("PAY_AMT1", "PAY_AMT2"))
    rows = data.X.loc[[base] * 16].copy()
    rows["PAY_AMT1"], rows["PAY_AMT2"] = np.repeat(g1, 4), np.tile(g2, 4)
    scores = model.predict_proba(rows)[:, 1]
    best = int(np.argmax(scores))
    assert (scores >= scores[best] - 1e-12).sum() == 1  # one best row
    search.send_button_.click()
    assert editor.row == base
    assert editor.edited["PAY_AMT1"].item() == pytest.approx(rows["PAY_AMT1"].iloc[best])
    assert editor.edited["PAY_AMT2"].item() == pytest.approx(rows["PAY_AMT2"].iloc[best])
    assert editor.result_.prediction[0] == pytest.approx(scores[best], abs=1e-12)
    before = model.predict_proba(data.X.loc[[base]])[0, 1]
    changed = [f for f in ("PAY_AMT1", "PAY_AMT2") if rows[f].iloc[best] != data.X.loc[base, f]]
    assert dash.header.flags["adversarial"] == (
        f"grid search around row {base}: P(DEFAULT = 1) = {scores[best]:.4f} (prototype "
        f"{before:.4f}), changing {', '.join(changed)}")


# -- the header ---------------------------------------------------------------------------------
def test_header_metrics_equal_sklearn_and_cost_no_predict_call(credit):
    data, model, p, _ll = credit
    s = new_session(credit)
    header = SessionSummary(s)
    assert header.metrics == pytest.approx({
        "accuracy": accuracy_score(data.y, model.predict(data.X)),
        "roc_auc": roc_auc_score(data.y, p), "log_loss": log_loss(data.y, p)}, abs=1e-12)
    for name, value in header.metrics.items():
        assert f"<b class='mld-metric-{name}'>{value:.4f}</b>" in header.metrics_.value
    assert "Pipeline (pre: ColumnTransformer → model: HistGradientBoostingClassifier)" in \
        header.model_.value and "3,000 rows × 23 features" in header.model_.value
    calls = s.adapter.n_calls
    for label in data.X.index[:20]:
        s.focus_row = label
        s.selected_rows = tuple(data.X.index[:label])
    assert s.adapter.n_calls == calls  # trait changes are cache lookups
    assert count_shown(header) == data.X.index[19]


def test_header_metrics_regression_and_multiclass(regression_data, regression_model,
                                                  multiclass_data, multiclass_model):
    X, y = regression_data
    pred = regression_model.predict(X)
    header = SessionSummary(bind(regression_model, X, y))
    assert header.metrics == pytest.approx({"rmse": root_mean_squared_error(y, pred),
                                            "mae": mean_absolute_error(y, pred),
                                            "r2": r2_score(y, pred)}, abs=1e-12)
    X, y = multiclass_data
    header = SessionSummary(bind(multiclass_model, X, y))
    assert header.metrics == pytest.approx({
        "accuracy": accuracy_score(y, multiclass_model.predict(X)),
        "log_loss": log_loss(y, multiclass_model.predict_proba(X))}, abs=1e-12)


def flagged_by_hand(credit, threshold: float) -> str:
    """The fairness flag the header must show, from group rates computed with numpy."""
    data, _model, p, _ll = credit
    age = np.where(data.X["AGE"].to_numpy() < 30, "[0, 30)", "[30, 200]")
    groups = pd.Series(data.X["SEX"].astype(str).to_numpy() + " & " + age)
    decided, negative = p >= threshold, data.y.to_numpy() == 0
    names = sorted(groups.unique())
    size = {g: int((groups == g).sum()) for g in names}
    favourable = {g: 1 - decided[groups == g].mean() for g in names}
    fpr = {g: decided[(groups == g) & negative].mean() for g in names}
    ref = max(names, key=lambda g: size[g])
    parts = []
    for title, rate in (("AIR", favourable), ("fpr ratio", fpr)):
        bad = [(g, rate[g] / rate[ref]) for g in names
               if not 0.8 <= rate[g] / rate[ref] <= 1.25]
        if bad:
            parts.append(f"{title} outside 0.8–1.25: " +
                         ", ".join(f"{g} ({r:.2f})" for g, r in bad))
    return f"groups by SEX & AGE (reference {ref}): " + "; ".join(parts) if parts else ""


def test_header_flags_the_groups_the_slicer_flags(dash, credit):
    data, _model, p, _ll = credit
    slicer, header = dash.slicer, dash.header
    base_rate = float(np.quantile(p, 1 - data.y.mean()))  # as many flagged as defaults
    for threshold in (0.5, round(base_rate, 2)):
        slicer.threshold = threshold
        assert header.flags.get("fairness", "") == flagged_by_hand(credit, threshold)
    assert "2 & [0, 30)" in header.flags["fairness"]  # the planted label bias
    assert "<li class='mld-flag-fairness'>" in header.flags_.value


# -- aggregates only and missing inputs ------------------------------------------------------------
@pytest.fixture
def sent(monkeypatch):
    """Every state the widgets send to the page (comm open and update messages)."""
    log = []

    class Recorder(BaseComm):
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **kwargs):
            log.append((data or {}).get("state", {}))

    monkeypatch.setattr(comm, "create_comm", Recorder)
    return log


def test_aggregates_only_sends_no_raw_row_view(credit, sent):
    data, _model, _p, _ll = credit
    s = new_session(credit)
    dash = Dashboard(s, bins=BINS, aggregates_only=True)
    assert dash.explorer is dash.editor is dash.search is None
    assert isinstance(dash.slicer, FairnessSlicer)
    assert set(dash.notes) == {"explorer", "editor", "search"}
    found = descendants(dash)
    assert not [x for x in found if isinstance(x, ROW_VIEWS)]
    # nothing built for the page carries a row view's class (a hidden widget would)
    classes = {c for state in sent for c in state.get("_dom_classes", ())}
    assert "mld-fairness" in classes and "mld-summary" in classes
    row_classes = {"mld-whatif", "mld-residuals", "mld-adversarial", "mld-rows",
                   "mld-selected", "mld-worst", "mld-row-table", "mld-residual-plot"}
    assert not classes & row_classes
    notes = " ".join(x.value for x in found if isinstance(x, w.HTML)
                     and "mld-unavailable" in x._dom_classes)
    assert "left out when sharing aggregates only" in notes
    # a focused row is not shown; small cohorts are not summarised
    s.focus_row = data.X.index[3]
    assert "focused row" not in dash.header.selection_.value
    s.selected_rows = tuple(data.X.index[:5])
    assert count_shown(dash.header) == 5 and "residuals" not in dash.header.flags
    s.selected_rows = tuple(data.X.index[:50])
    assert dash.header.flags["residuals"].startswith("selected cohort: 50 rows")


def test_no_sensitive_features_explains_the_missing_slicer(credit):
    dash = Dashboard(new_session(credit, sensitive_features=None))
    assert dash.slicer is None and list(dash.panels) == ["explorer", "editor", "search"]
    note = dash.sections_["slicer"].children[0]
    assert "mld-unavailable-slicer" in note._dom_classes
    assert "sensitive_features=" in note.value and note in descendants(dash)
    assert "fairness" not in dash.header.flags


def test_no_labels_leaves_out_the_views_that_need_them(credit):
    data, model, _p, _ll = credit
    dash = Dashboard(model, data.X, sensitive_features=["SEX"], schema=datasets.CREDIT_SCHEMA)
    assert dash.explorer is None and dash.slicer is None
    assert "needs the true labels" in dash.notes["explorer"]
    assert "needs the true labels" in dash.notes["slicer"]
    assert isinstance(dash.editor, WhatIfEditor) and isinstance(dash.search, AdversarialSearch)
    assert dash.header.metrics == {} and "bind the labels" in dash.header.metrics_.value


def test_bad_input_says_how_to_fix_it(credit):
    data, model, _p, _ll = credit
    with pytest.raises(TypeError, match="not both"):
        Dashboard(new_session(credit), data.X, data.y)
    with pytest.raises(TypeError, match="mldebug_widgets.bind"):
        Dashboard(model)
