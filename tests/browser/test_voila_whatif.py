"""The demo dashboard in Voila: the WhatIfEditor renders and every edit round-trips.

The expected numbers are computed here, in the test process, from the same deterministic
data and model the notebook builds (``load_credit()`` and ``demo_model(data)``).
The tests share one page (one kernel): each starts by loading the row it needs.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NOTEBOOK = "dashboard.ipynb"
RENDER_TIMEOUT = 120_000  # ms: the notebook generates 30k rows and trains the model first
ROUND_TRIP = 30_000  # ms: one edit is one kernel round-trip (a predict over the ICE grid)
ROOT = ".mld-whatif"


@pytest.fixture(scope="module")
def credit(credit_future):
    return credit_future.result()


@pytest.fixture(scope="module")
def dashboard(credit_future, new_offline_page, voila_url, rendered, screenshot_dir):
    """The rendered dashboard page and its error collector, shared by the module."""
    page, errors = new_offline_page()
    page.set_default_timeout(ROUND_TRIP)
    page.goto(f"{voila_url}voila/render/{NOTEBOOK}", timeout=RENDER_TIMEOUT)
    prediction = page.locator(f"{ROOT} .mld-prediction")
    rendered(page, prediction, RENDER_TIMEOUT)
    expect(prediction).to_contain_text("P(DEFAULT = 1) =")
    yield page, errors
    page.screenshot(path=str(screenshot_dir / "voila-whatif.png"), full_page=True)
    page.context.close()


# -- helpers ----------------------------------------------------------------------------------
def probability(model, rows: pd.DataFrame) -> float:
    return float(model.predict_proba(rows)[0, 1])


def expect_prediction(page, now: float, original: float, small: str) -> None:
    """The prediction line exactly as the widget formats it (delta shown when edited)."""
    pred = page.locator(f"{ROOT} .mld-prediction")
    expect(pred.locator("b")).to_have_text(f"P(DEFAULT = 1) = {now:.4f}")
    delta = now - original
    if abs(delta) < 1e-12:
        expect(pred.locator(".mld-delta")).to_have_count(0)
    else:
        sign = "+" if delta >= 0 else "\u2212"
        expect(pred.locator(".mld-delta")).to_have_text(
            f"({sign}{abs(delta):.4f} from {original:.4f})")
    expect(pred.locator("small")).to_have_text(small)


def load_row(page, label) -> None:
    """Type a row ID into the row box; Reset as well, in case that row is already loaded."""
    box = page.locator(f"{ROOT} .mld-row input")
    box.fill(str(label))
    box.press("Enter")
    page.locator(f"{ROOT} button", has_text="Reset").click()


def set_feature(page, feature: str, value) -> None:
    """Edit one feature like a user: a number box (Enter) or a dropdown."""
    editor = page.locator(f"{ROOT} .mld-edit-{feature}")
    if editor.locator("select").count():
        editor.locator("select").select_option(label=str(value))
    else:
        box = editor.locator("input")
        box.fill(str(value))
        box.press("Enter")


def expect_ice_drawn(page, feature: str, row) -> None:
    """The ICE figure shows ``feature`` for ``row`` and has at least 3 drawn curves."""
    expect(page.locator(f"{ROOT} .mld-ice .mainheading")).to_have_text(
        f"ICE of {feature} for row {row}")
    page.wait_for_function(
        """([sel, n]) => [...document.querySelectorAll(sel)].filter(p => {
               const d = p.getAttribute('d') || '';
               return d.length > 1 && !d.includes('NaN');
           }).length >= n""",
        arg=[f"{ROOT} .mld-ice path.line", 3])


# -- tests --------------------------------------------------------------------------------------
def test_loaded_row_matches_model(dashboard, credit):
    page, errors = dashboard
    data, model = credit
    label = data.X.index[0]
    p = probability(model, data.X.iloc[[0]])
    expect_prediction(page, p, p, f"row {label} · label {data.y.iloc[0]}")
    expect(page.locator(f"{ROOT} .mld-row input")).to_have_value(str(label))
    expect_ice_drawn(page, data.X.columns[0], label)
    expect(page.locator(f"{ROOT} .mld-sensitivity rect.bar")).to_have_count(data.X.shape[1])
    expect(page.locator(f"{ROOT} .mld-message")).to_have_text("")
    errors.check()


def test_edits_update_prediction_and_ice(dashboard, credit, screenshot_dir):
    page, errors = dashboard
    data, model = credit
    label = data.X.index[0]
    load_row(page, label)
    original_row = data.X.loc[[label]]
    original = probability(model, original_row)
    expect_prediction(page, original, original, f"row {label} · label {data.y.loc[label]}")

    pay0 = 3 if original_row["PAY_0"].item() != 3 else 2
    edited = original_row.copy()
    edited["PAY_0"] = pay0
    now = probability(model, edited)
    assert f"{now:.4f}" != f"{original:.4f}", "pick an edit that changes the shown prediction"
    set_feature(page, "PAY_0", pay0)
    expect_prediction(page, now, original,
                      f"row {label} · label {data.y.loc[label]} · edited: PAY_0")
    expect(page.locator(f"{ROOT} .mld-edit-PAY_0")).to_have_class(
        re.compile(r"\bmld-changed\b"))
    expect_ice_drawn(page, "PAY_0", label)

    edited["LIMIT_BAL"] = 500_000.0
    now = probability(model, edited)
    set_feature(page, "LIMIT_BAL", 500_000)
    expect_prediction(page, now, original,
                      f"row {label} · label {data.y.loc[label]} · edited: LIMIT_BAL, PAY_0")
    expect_ice_drawn(page, "LIMIT_BAL", label)
    expect(page.locator(f"{ROOT} .mld-message")).to_have_text("")
    page.screenshot(path=str(screenshot_dir / "voila-whatif-edited.png"), full_page=True)
    errors.check()


def test_row_box_loads_row(dashboard, credit):
    page, errors = dashboard
    data, model = credit
    label = 10
    p = probability(model, data.X.loc[[label]])
    box = page.locator(f"{ROOT} .mld-row input")
    box.fill(str(label))
    box.press("Enter")
    expect_prediction(page, p, p, f"row {label} · label {data.y.loc[label]}")
    expect(page.locator(f"{ROOT} .mld-edit-PAY_0 input, {ROOT} .mld-edit-PAY_0 select"))\
        .to_have_value(str(data.X.loc[label, "PAY_0"]))
    expect(page.locator(f"{ROOT} .mld-changed")).to_have_count(0)
    errors.check()


def drawn_bar_widths(page) -> list[float]:
    """Widths (px) of the sensitivity bars as drawn, from the top bar to the bottom one."""
    return page.evaluate(
        """sel => [...document.querySelectorAll(sel)]
               .map(r => r.getBoundingClientRect())
               .sort((a, b) => a.y - b.y).map(b => b.width)""",
        f"{ROOT} .mld-sensitivity rect.bar")


def is_largest_first(widths: list[float]) -> bool:
    return all(a >= b - 0.5 for a, b in zip(widths, widths[1:], strict=False))


def settled_widths(page, n: int, unlike: list | None = None, timeout: float = 30.0) -> list:
    """The drawn bar widths once two reads 250 ms apart agree (and differ from ``unlike``).

    bqplot redraws after the kernel's message: reading once after a fixed wait can catch a
    half-drawn chart on a loaded machine.
    """
    previous = None
    for _ in range(int(timeout / 0.25)):
        widths = drawn_bar_widths(page)
        if widths == previous and len(widths) == n and widths != unlike:
            return widths
        previous = widths
        page.wait_for_timeout(250)
    return previous


def test_sensitivity_bars_stay_sorted(dashboard, credit):
    page, errors = dashboard
    data, _model = credit
    label = data.X.index[0]
    load_row(page, label)
    expect(page.locator(f"{ROOT} .mld-prediction small")).to_have_text(
        f"row {label} · label {data.y.loc[label]}")
    before = settled_widths(page, data.X.shape[1])
    assert len(before) == data.X.shape[1]
    assert is_largest_first(before), f"bars not sorted on load: {before}"
    set_feature(page, "PAY_0", 3 if data.X.loc[label, "PAY_0"] != 3 else 2)
    expect(page.locator(f"{ROOT} .mld-prediction small")).to_contain_text("edited: PAY_0")
    after = settled_widths(page, data.X.shape[1], unlike=before)
    assert after != before, "the bars did not change with the edit"
    assert is_largest_first(after), f"bars not sorted after an edit: {after}"
    errors.check()
