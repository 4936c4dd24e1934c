"""The dashboard in Voila, end to end: brush → cohort → row → what-if → search → what-if.

``notebooks/dashboard.ipynb`` builds ``mdw.Dashboard(session, bins={"AGE": [0, 30, 200]})``.
The expected numbers are computed here, in the test process, from the same deterministic
data and model (``load_credit()`` and ``demo_model(data)``): the header's metrics with
scikit-learn, the brushed rows from every row's prediction and log-loss, the editor's
predictions and the grid search's best row with the model's own ``predict_proba`` over
the grid rebuilt by the seed's rule. Screenshots go to ``test-artifacts/dashboard-*.png``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from .test_voila_residuals import (
    TOLERANCE_PX,
    calibration,
    count_in_box,
    data_box,
    drag,
    row_label,
    selected_count,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "dashboard.ipynb"
RENDER_TIMEOUT = 120_000  # ms: the notebook generates 30k rows and trains the model first
ROUND_TRIP = 30_000  # ms: one interaction is one kernel round-trip
HEADER = ".mld-summary"
EXPLORER = ".mld-residuals"
PLOT = f"{EXPLORER} .mld-residual-plot"
EDITOR = ".mld-whatif"
SLICER = ".mld-fairness"
SEARCH = ".mld-adversarial"
#: one locator per panel, attached once the panel has drawn its content
DRAWN = {
    "header": f"{HEADER} .mld-summary-metrics .mld-metric-accuracy",
    "explorer": f"{PLOT} path.dot",
    "editor": f"{EDITOR} .mld-ice path.line",
    "slicer": f"{SLICER} .mld-fairness-table table",
    "search": f"{SEARCH} .mld-run",
}
GRID = ("PAY_AMT1", "PAY_AMT2")  # the planted adversarial pocket lies at low payments
RESOLUTION = 4


@pytest.fixture(scope="module")
def dashboard(credit_future, new_offline_page, voila_url, rendered, screenshot_dir):
    """The rendered dashboard page, every panel drawn, and its error collector."""
    page, errors = new_offline_page()
    page.set_default_timeout(ROUND_TRIP)
    page.goto(f"{voila_url}voila/render/{NOTEBOOK}", timeout=RENDER_TIMEOUT)
    rendered(page, page.locator(f"{EDITOR} .mld-prediction"), RENDER_TIMEOUT)
    for selector in DRAWN.values():
        expect(page.locator(selector).first).to_be_attached()
    for root in (HEADER, EXPLORER, EDITOR, SLICER, SEARCH):
        expect(page.locator(root)).to_have_count(1)
    page.screenshot(path=str(screenshot_dir / "dashboard-loaded.png"), full_page=True)
    yield page, errors
    # the whole dashboard (taller than the window: an element screenshot captures it all)
    page.locator(".mld-dashboard").screenshot(path=str(screenshot_dir / "dashboard.png"))
    page.context.close()


def header_count(page) -> int:
    return int(page.locator(f"{HEADER} .mld-summary-selected").inner_text().replace(",", ""))


def seed_grid(values, resolution: int, margin: float = 0.1) -> np.ndarray:
    """The adversarial search's grid of a feature: its range widened by the margin."""
    lo, hi = float(values.min()), float(values.max())
    return np.linspace(lo - abs(margin * lo), hi + abs(margin * hi), resolution)


def labelled_input(page, root: str, label: str):
    """The input of the widget described by ``label`` inside ``root``."""
    text = page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
    return page.locator(f"{root} .widget-inline-hbox").filter(has=text).locator("input")


# -- tests --------------------------------------------------------------------------------------
def test_header_names_the_model_and_its_metrics(dashboard, credit_scores):
    page, errors = dashboard
    data, model, p, _logloss = credit_scores
    header = page.locator(HEADER)
    expect(header.locator(".mld-summary-model")).to_contain_text(
        "Pipeline (pre: ColumnTransformer → model: HistGradientBoostingClassifier)")
    expect(header.locator(".mld-summary-model")).to_contain_text(
        f"{len(data.X):,} rows × {data.X.shape[1]} features")
    expected = {"accuracy": accuracy_score(data.y, model.predict(data.X)),
                "roc_auc": roc_auc_score(data.y, p), "log_loss": log_loss(data.y, p)}
    for name, value in expected.items():
        expect(header.locator(f".mld-metric-{name}")).to_have_text(f"{value:.4f}")
    expect(header.locator(".mld-summary-selected")).to_have_text("0")
    # the editor loaded the first row on start: the header shows it as the focused row
    expect(header.locator(".mld-summary-focus")).to_have_text(str(data.X.index[0]))
    errors.check()


def test_full_flow(dashboard, credit_scores, screenshot_dir):
    page, errors = dashboard
    data, model, p, logloss = credit_scores

    # 1. brush high residuals (confident "no default" for rows labelled 1)
    overlay = page.locator(f"{PLOT} rect.overlay")
    overlay.scroll_into_view_if_needed()
    area = overlay.bounding_box()
    cal = calibration(page, PLOT)
    left, top = area["x"] + 4, area["y"] + 4
    right = min(cal["x"](0.3), area["x"] + area["width"] - 4)
    bottom = cal["y"](2.5)
    assert left < right - 20 and top < bottom - 20, (left, right, top, bottom, area)
    pixels = (left, top, right, bottom)
    inner = count_in_box(p, logloss, data_box(cal, pixels, -TOLERANCE_PX))
    outer = count_in_box(p, logloss, data_box(cal, pixels, TOLERANCE_PX))
    assert inner > 0, "the box to brush holds no rows: pick another region"
    drag(page, (left, top), (right, bottom))
    kernel = selected_count(page)
    assert inner <= kernel <= outer, (kernel, inner, outer)
    expect(page.locator(f"{HEADER} .mld-summary-selected")).to_have_text(f"{kernel:,}")
    # ... the fairness slicer shows the cohort, and the header flags it
    expect(page.locator(f"{SLICER} .mld-cohort")).to_contain_text(
        f"Selected cohort ({kernel:,} rows")
    expect(page.locator(f"{HEADER} .mld-flag-residuals")).to_contain_text(
        f"selected cohort: {kernel:,} rows")
    page.screenshot(path=str(screenshot_dir / "dashboard-brushed.png"), full_page=True)

    # 2. pick the first selected row: the editor loads it, the search takes it as prototype
    select = page.locator(f"{EXPLORER} .mld-selected .mld-row-picker select")
    first = select.locator("option").first
    label = row_label(first.inner_text())
    select.select_option(value=first.get_attribute("value"))
    original = float(model.predict_proba(data.X.loc[[label]])[0, 1])
    prediction = page.locator(f"{EDITOR} .mld-prediction")
    expect(prediction.locator("small")).to_have_text(f"row {label} · label {data.y.loc[label]}")
    expect(prediction.locator("b")).to_have_text(f"P(DEFAULT = 1) = {original:.4f}")
    expect(page.locator(f"{HEADER} .mld-summary-focus")).to_have_text(str(label))
    expect(labelled_input(page, SEARCH, "prototype")).to_have_value(str(label))

    # 3. a small grid search around it, and its best find sent to the what-if editor
    grids = {f: seed_grid(data.X[f], RESOLUTION) for f in GRID}
    rows = data.X.loc[[label] * RESOLUTION ** 2].copy()
    rows[GRID[0]] = np.repeat(grids[GRID[0]], RESOLUTION)
    rows[GRID[1]] = np.tile(grids[GRID[1]], RESOLUTION)
    scores = model.predict_proba(rows)[:, 1]
    best = int(np.argmax(scores))
    assert (scores >= scores[best] - 1e-9).sum() == 1, "the grid has no single best row"
    page.locator(f"{SEARCH} .mld-search-features select").select_option(list(GRID))
    resolution = labelled_input(page, SEARCH, "resolution")
    resolution.fill(str(RESOLUTION))
    resolution.press("Enter")
    page.locator(f"{SEARCH} .mld-run").click()
    expect(page.locator(f"{SEARCH} .mld-status")).to_have_text(
        f"done: {RESOLUTION ** 2} model queries")
    expect(page.locator(f"{SEARCH} .mld-found tr")).to_have_count(
        min(10, RESOLUTION ** 2) + 2)  # header, prototype, found rows
    page.locator(f"{SEARCH} .mld-send").click()

    found = rows.iloc[best]
    changed = [f for f in data.X.columns if found[f] != data.X.loc[label, f]]
    assert changed, "the best grid row is the prototype itself"
    delta = scores[best] - original
    sign = "+" if delta >= 0 else "\u2212"
    expect(prediction.locator("b")).to_have_text(f"P(DEFAULT = 1) = {scores[best]:.4f}")
    expect(prediction.locator(".mld-delta")).to_have_text(
        f"({sign}{abs(delta):.4f} from {original:.4f})")
    expect(prediction.locator("small")).to_have_text(
        f"row {label} · label {data.y.loc[label]} · edited: {', '.join(changed)}")
    for feature in GRID:
        box = page.locator(f"{EDITOR} .mld-edit-{feature} input")
        assert float(box.input_value()) == pytest.approx(found[feature], rel=1e-6), feature
    expect(page.locator(f"{HEADER} .mld-flag-adversarial")).to_contain_text(
        f"grid search around row {label}: P(DEFAULT = 1) = {scores[best]:.4f}")
    expect(page.locator(f"{EDITOR} .mld-message")).to_have_text("")
    page.locator(EDITOR).screenshot(path=str(screenshot_dir / "dashboard-whatif-find.png"))
    page.locator(HEADER).screenshot(path=str(screenshot_dir / "dashboard-header.png"))
    errors.check()
