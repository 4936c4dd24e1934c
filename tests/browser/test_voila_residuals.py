"""The demo dashboard in Voila: brushing the residual plot selects rows, picking one loads it.

The expected numbers are computed here, in the test process, from the same deterministic
data and model the notebook builds (``load_credit()`` and ``demo_model(data)``): every row's
prediction (the plot's x) and per-row log-loss (its y). The brush is dragged with the mouse
over a region of high residuals, at pixels calibrated from the axes' tick lines; the kernel's
selected count must lie between the counts of the box shrunk and grown by a couple of pixels
(the page exposes no Python, so the exact box the brush reports is not readable).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NOTEBOOK = "dashboard.ipynb"
RENDER_TIMEOUT = 120_000  # ms: the notebook generates 30k rows and trains the model first
ROUND_TRIP = 30_000  # ms: a brush or a pick is one kernel round-trip
ROOT = ".mld-residuals"
PLOT = f"{ROOT} .mld-residual-plot"
SELECTED = f"{ROOT} .mld-selected"
EDITOR = ".mld-whatif"
TOLERANCE_PX = 2.0  # pixel rounding between our calibration and the brush's own inversion
COUNT = re.compile(r"([\d,]+) rows selected")


@pytest.fixture(scope="module")
def dashboard(credit_future, new_offline_page, voila_url, rendered, screenshot_dir):
    """The rendered dashboard page and its error collector, shared by the module."""
    page, errors = new_offline_page()
    page.set_default_timeout(ROUND_TRIP)
    page.goto(f"{voila_url}voila/render/{NOTEBOOK}", timeout=RENDER_TIMEOUT)
    rendered(page, page.locator(f"{EDITOR} .mld-prediction"), RENDER_TIMEOUT)
    expect(page.locator(f"{EDITOR} .mld-prediction")).to_contain_text("P(DEFAULT = 1) =")
    expect(page.locator(f"{ROOT} .mld-residual-summary")).to_contain_text("rows")
    expect(page.locator(PLOT)).to_have_count(1)
    yield page, errors
    page.screenshot(path=str(screenshot_dir / "voila-residuals.png"), full_page=True)
    page.context.close()


# -- helpers ----------------------------------------------------------------------------------
def calibration(page, figure: str) -> dict:
    """Affine maps data <-> page pixels of a bqplot figure, from its axes' tick lines.

    x ticks are the tick lines taller than wide, y ticks (dashed grid lines here) the ones
    wider than tall; the first and last tick of each axis fix the map.
    """
    page.wait_for_function(
        "sel => document.querySelectorAll(sel + ' g.tick line').length >= 4", arg=figure)
    ticks = page.evaluate(
        """sel => [...document.querySelectorAll(sel + ' g.tick')].map(g => {
               const r = g.querySelector('line').getBoundingClientRect();
               const text = g.textContent.replace('\u2212', '-');
               return [parseFloat(text), r.x, r.y, r.width, r.height];
           })""", figure)
    xs = sorted((v, x) for v, x, y, w, h in ticks if h > w and np.isfinite(v))
    ys = sorted((v, y) for v, x, y, w, h in ticks if w > h and np.isfinite(v))
    assert len(xs) >= 2 and len(ys) >= 2, f"cannot calibrate from ticks {ticks}"
    (a0, p0), (a1, p1) = xs[0], xs[-1]
    (b0, q0), (b1, q1) = ys[0], ys[-1]
    return {"x": lambda v: p0 + (v - a0) * (p1 - p0) / (a1 - a0),
            "y": lambda v: q0 + (v - b0) * (q1 - q0) / (b1 - b0),
            "x_inv": lambda px: a0 + (px - p0) * (a1 - a0) / (p1 - p0),
            "y_inv": lambda py: b0 + (py - q0) * (b1 - b0) / (q1 - q0)}


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    page.mouse.move(*middle, steps=8)
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def count_in_box(x: np.ndarray, y: np.ndarray, box: tuple) -> int:
    x0, x1, y0, y1 = box
    return int(((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).sum())


def data_box(cal: dict, pixels: tuple, grow: float) -> tuple:
    """The data box of a pixel box (left, top, right, bottom), grown by ``grow`` pixels."""
    left, top, right, bottom = pixels
    xs = sorted([cal["x_inv"](left - grow), cal["x_inv"](right + grow)])
    ys = sorted([cal["y_inv"](top - grow), cal["y_inv"](bottom + grow)])
    return (*xs, *ys)


def row_label(option_text: str) -> int:
    """The row ID of a pick-list option: ``row 8262 · prediction 0.0165 · residual 4.107``.

    The browser shows the option's spaces as no-break spaces.
    """
    return int(re.search(r"row\s+(\S+)", option_text).group(1))


def selected_count(page) -> int:
    note = page.locator(f"{SELECTED} .mld-row-table small")
    expect(note).to_contain_text("rows selected")
    return int(COUNT.search(note.inner_text()).group(1).replace(",", ""))


@pytest.fixture(scope="module")
def brushed(dashboard, credit_scores):
    """Drag a brush over high residuals once; return the pixel box and the calibration."""
    page, _errors = dashboard
    _data, _model, p, logloss = credit_scores
    expect(page.locator(f"{SELECTED} .mld-row-table small")).to_contain_text("Brush the plot")
    overlay = page.locator(f"{PLOT} rect.overlay")
    expect(overlay).to_have_count(1)
    area = overlay.bounding_box()
    cal = calibration(page, PLOT)
    # high residuals: confident predictions of "no default" for rows labelled 1 (the
    # mislabeled batch, the biased labels): x from the left edge to 0.3, log-loss >= 2.5
    left = area["x"] + 4
    right = min(cal["x"](0.3), area["x"] + area["width"] - 4)
    top = area["y"] + 4
    bottom = cal["y"](2.5)
    assert left < right - 20 and top < bottom - 20, (left, right, top, bottom, area)
    pixels = (left, top, right, bottom)
    assert count_in_box(p, logloss, data_box(cal, pixels, -TOLERANCE_PX)) > 0, \
        "the box to brush holds no rows: pick another region"
    drag(page, (left, top), (right, bottom))
    expect(page.locator(f"{SELECTED} .mld-row-table small")).to_contain_text("rows selected")
    return cal, pixels


# -- tests --------------------------------------------------------------------------------------
def test_brush_selects_high_residual_rows(dashboard, credit_scores, brushed):
    page, errors = dashboard
    data, _model, p, logloss = credit_scores
    cal, pixels = brushed
    kernel = selected_count(page)
    inner_box = data_box(cal, pixels, -TOLERANCE_PX)
    outer_box = data_box(cal, pixels, TOLERANCE_PX)
    inner, outer = count_in_box(p, logloss, inner_box), count_in_box(p, logloss, outer_box)
    exact = count_in_box(p, logloss, data_box(cal, pixels, 0.0))
    assert inner <= kernel <= outer, (
        f"kernel selected {kernel} rows; the brushed box by our calibration holds {exact} "
        f"(between {inner} and {outer} within {TOLERANCE_PX} px)")
    # the table and the pick list hold the selection, largest residual first
    expect(page.locator(f"{SELECTED} .mld-row-table tr")).to_have_count(min(kernel, 25) + 1)
    options = page.locator(f"{SELECTED} .mld-row-picker select option")
    expect(options).to_have_count(min(kernel, 200))
    first = data.X.index.get_loc(row_label(options.first.inner_text()))
    assert count_in_box(p[[first]], logloss[[first]], outer_box) == 1
    inside = ((p >= inner_box[0]) & (p <= inner_box[1]) & (logloss >= inner_box[2])
              & (logloss <= inner_box[3]))
    assert logloss[first] >= logloss[inside].max() - 1e-12
    errors.check()


def test_picking_a_row_loads_it_in_the_editor(dashboard, credit_scores, brushed):
    page, errors = dashboard
    data, model, _p, _logloss = credit_scores
    select = page.locator(f"{SELECTED} .mld-row-picker select")
    first = select.locator("option").first
    label = row_label(first.inner_text())
    select.select_option(value=first.get_attribute("value"))

    expected = float(model.predict_proba(data.X.loc[[label]])[0, 1])
    prediction = page.locator(f"{EDITOR} .mld-prediction")
    expect(prediction.locator("small")).to_have_text(f"row {label} · label {data.y.loc[label]}")
    expect(prediction.locator("b")).to_have_text(f"P(DEFAULT = 1) = {expected:.4f}")
    expect(page.locator(f"{EDITOR} .mld-row input")).to_have_value(str(label))
    expect(page.locator(f"{EDITOR} .mld-message")).to_have_text("")
    errors.check()
