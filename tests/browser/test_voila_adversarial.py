"""The demo dashboard in Voila: a small grid search run from the page, sent to the what-if editor.

Everything is done the way a user does it: the two features are picked in the panel's
multiple-choice list, Run is clicked, the progress bar fills, the heat map (one cell per
grid point pair) and the found-rows table appear, and "Send to what-if editor" loads the
best find in the what-if editor on the same page.

The expected numbers are computed here, in the test process, from the same deterministic
data and model the notebook builds (``load_credit()`` and ``demo_model(data)``): the grid of
each feature by the seed's rule (``resolution`` points from ``min - |0.1*min|`` to
``max + |0.1*max|``, with numpy), the prototype row with every grid pair scored by the
model's own ``predict_proba``; the table's first row is the highest of those predictions.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NOTEBOOK = "dashboard.ipynb"
RENDER_TIMEOUT = 120_000  # ms: the notebook generates 30k rows and trains the model first
ROUND_TRIP = 30_000  # ms: a click is a kernel round-trip; the search itself takes < 1 s
ROOT = ".mld-adversarial"
EDITOR = ".mld-whatif"
FEATURES = ("PAY_AMT1", "PAY_AMT2")  # the planted adversarial pocket lives at their low end
RESOLUTION = 10  # the panel's default
MARGIN = 0.1  # the panel's default
FOUND = f"{ROOT} .mld-found table.mld-found-rows tr"
CHANGED = "fde0c5"  # the highlight of a changed cell (background:#fde0c5)
CELL = (3, 6)  # a heat-map cell to click: (row = PAY_AMT1 index, column = PAY_AMT2 index)


@pytest.fixture(scope="module")
def credit(credit_future):
    return credit_future.result()


@pytest.fixture(scope="module")
def dashboard(credit_future, new_offline_page, voila_url, rendered, screenshot_dir):
    """The rendered dashboard page and its error collector, shared by the module."""
    page, errors = new_offline_page()
    page.set_default_timeout(ROUND_TRIP)
    page.goto(f"{voila_url}voila/render/{NOTEBOOK}", timeout=RENDER_TIMEOUT)
    rendered(page, page.locator(f"{ROOT} .mld-run"), RENDER_TIMEOUT)
    expect(page.locator(ROOT)).to_have_count(1)
    expect(page.locator(f"{EDITOR} .mld-prediction")).to_contain_text("P(DEFAULT = 1) =")
    yield page, errors
    page.screenshot(path=str(screenshot_dir / "voila-adversarial.png"), full_page=True)
    page.context.close()


def seed_grid(values: pd.Series) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return np.linspace(lo - abs(MARGIN * lo), hi + abs(MARGIN * hi), RESOLUTION)


def expected_grid(data, model, prototype) -> pd.DataFrame:
    """Every grid pair around the prototype, scored by the model (rows in grid order)."""
    g1, g2 = (seed_grid(data.X[f]) for f in FEATURES)
    a, b = np.meshgrid(g1, g2, indexing="ij")
    rows = data.X.loc[[prototype] * a.size].reset_index(drop=True)
    rows[FEATURES[0]], rows[FEATURES[1]] = a.ravel(), b.ravel()
    rows["prediction"] = model.predict_proba(rows[list(data.X.columns)])[:, 1]
    return rows


def expect_number(page, selector: str, value: float) -> None:
    """Wait until the number box at ``selector`` shows ``value`` (to 1e-6 relative)."""
    page.wait_for_function(
        """([sel, v]) => Math.abs(parseFloat(document.querySelector(sel).value) - v)
                         <= 1e-6 * Math.max(1, Math.abs(v))""",
        arg=[selector, value], timeout=ROUND_TRIP)


def progress_width(page) -> float:
    return page.evaluate(f"""() => parseFloat(
        document.querySelector('{ROOT} .mld-progress .progress-bar').style.width || '0')""")


def test_grid_search_from_the_page(dashboard, credit, screenshot_dir):
    page, errors = dashboard
    data, model = credit
    root = page.locator(ROOT)
    prototype_text = root.locator("input[type='text']").first.input_value()
    prototype = int(prototype_text)
    assert prototype in data.X.index
    grid = expected_grid(data, model, prototype)
    best = grid.loc[grid["prediction"].idxmax()]
    base = data.X.loc[prototype]
    changed = [f for f in FEATURES if not np.isclose(best[f], base[f])]
    assert changed  # the best find moves the prototype (the Send check below can fail)

    # pick the features and run, like a user
    root.locator(".mld-search-features select").select_option(label=list(FEATURES))
    expect(root.locator(".mld-search-features select option:checked")).to_have_text(
        list(FEATURES))
    # the default search is the grid (ipywidgets writes the label with a no-break space)
    expect(root.locator(".mld-mode select option:checked")).to_have_text(
        re.compile(r"^grid\s+search$"))
    root.locator(".mld-run").click()

    # the bar fills, the status says done, the heat map and the table appear
    page.wait_for_function(f"""() => parseFloat(document.querySelector(
        '{ROOT} .mld-progress .progress-bar').style.width) >= 100""", timeout=ROUND_TRIP)
    assert progress_width(page) == pytest.approx(100.0)
    expect(root.locator(".mld-status")).to_have_text(
        f"done: {RESOLUTION ** 2} model queries")
    cells = root.locator(".mld-heatmap rect.heatmapcell")
    expect(cells).to_have_count(RESOLUTION ** 2)
    rows = page.locator(FOUND)
    expect(rows).to_have_count(2 + 10)  # header, prototype, the 10 best grid rows
    header = rows.nth(0).locator("th").all_inner_texts()
    assert header[0] == "#" and header[-1] == "prediction"
    assert set(changed) <= set(header[1:-1]) <= set(FEATURES)
    first = rows.nth(2).locator("td")
    expect(first.last).to_have_text(f"{best['prediction']:.4g}")
    for feature in changed:
        cell = first.nth(header.index(feature))
        expect(cell).to_have_text(f"{best[feature]:.4g}")
        assert CHANGED in (cell.get_attribute("style") or "")
    top = grid["prediction"].nlargest(10).to_numpy()
    shown = [float(rows.nth(2 + i).locator("td").last.inner_text()) for i in range(10)]
    np.testing.assert_allclose(shown, top, rtol=5e-4)
    root.screenshot(path=str(screenshot_dir / "voila-adversarial-grid.png"))

    # send the best find to the what-if editor: its boxes and prediction show it
    root.locator(".mld-send").click()
    expect(root.locator(".mld-status")).to_contain_text("sent to the what-if editor")
    editor = page.locator(EDITOR)
    for feature in changed:
        expect_number(page, f"{EDITOR} .mld-edit-{feature} input", float(best[feature]))
    expect(editor.locator(".mld-prediction b")).to_have_text(
        f"P(DEFAULT = 1) = {best['prediction']:.4f}")
    expect(editor.locator(".mld-prediction small")).to_contain_text(
        f"edited: {', '.join(changed)}")
    editor.screenshot(path=str(screenshot_dir / "voila-adversarial-sent.png"))

    # a click on a heat-map cell sends that grid point (cells are in row-major data order;
    # the lowest values of the first feature are drawn at the bottom)
    row, column = CELL
    assert cells.nth(0).bounding_box()["y"] > cells.nth(RESOLUTION).bounding_box()["y"]
    cells.nth(row * RESOLUTION + column).click()
    point = grid.iloc[row * RESOLUTION + column]
    expect(root.locator(".mld-status")).to_contain_text("sent to the what-if editor")
    for feature in FEATURES:
        expect_number(page, f"{EDITOR} .mld-edit-{feature} input", float(point[feature]))
    expect(editor.locator(".mld-prediction b")).to_have_text(
        f"P(DEFAULT = 1) = {point['prediction']:.4f}")
    errors.check()
