"""The demo dashboard in Voila: moving one group's threshold slider updates the fairness table.

The dashboard's FairnessSlicer groups the rows by SEX and AGE binned at ``[0, 30, 200]``
(``bins={"AGE": [0, 30, 200]}``). The slider of one group is moved with the keyboard, the
way a user does (focus the noUiSlider handle, press PageDown and ArrowLeft); the table's
numbers are then read from the page and compared with numbers computed here, in the test
process, from the same deterministic data and model the notebook builds (``load_credit()``
and ``demo_model(data)``): each group's confusion counts at its threshold come from
scikit-learn's ``confusion_matrix`` (``score >= threshold`` is predicted positive, as in
``analysis/thresholds.py``) and the rates, AIR and disparity are written out by hand (the
package's ``threshold_sweep`` is not used).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from playwright.sync_api import expect
from sklearn.metrics import confusion_matrix

pytestmark = pytest.mark.browser

NOTEBOOK = "dashboard.ipynb"
RENDER_TIMEOUT = 120_000  # ms: the notebook generates 30k rows and trains the model first
ROUND_TRIP = 30_000  # ms: a slider move is one kernel round-trip (a lookup, no predict)
ROOT = ".mld-fairness"
TABLE = f"{ROOT} .mld-fairness-table table.mld-fairness-rows"
HEADER = ("group", "count", "selection_rate", "accuracy", "tpr", "fpr", "precision", "fnr",
          "air", "disparity")
AGE_EDGES = (0, 30, 200)  # the notebook's bins={"AGE": [0, 30, 200]}
START = 0.50  # every threshold on load
STEP = 0.01  # the sliders' step: (max - min) / 100 over probabilities
PAGE_STEPS = 5  # noUiSlider's keyboardPageMultiplier: PageUp/PageDown move 5 steps
MOVED = "2 & [0, 30)"  # SEX == 2, AGE < 30: the group of the planted label bias
PAGE_DOWNS, ARROW_LEFTS = 4, 2
TARGET = round(START - (PAGE_DOWNS * PAGE_STEPS + ARROW_LEFTS) * STEP, 2)  # 0.28
OVERALL = "overall"
ANY = re.compile(r"^[\s\S]*$")  # a cell of a column outside HEADER


# -- expected values, computed by hand -----------------------------------------------------------
def group_names(data) -> np.ndarray:
    """Each row's group as the widget names it: ``"<SEX> & [a, b)"`` (last bin closed)."""
    age = data.X["AGE"].to_numpy()
    assert age.min() >= AGE_EDGES[0] and age.max() <= AGE_EDGES[-1]
    bins = np.array([f"[{AGE_EDGES[0]}, {AGE_EDGES[1]})", f"[{AGE_EDGES[1]}, {AGE_EDGES[2]}]"])
    sex = data.X["SEX"].astype(str).to_numpy()
    return np.char.add(np.char.add(sex, " & "), bins[(age >= AGE_EDGES[1]).astype(int)])


def confusion(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, int]:
    """tn, fp, fn, tp of ``score >= threshold`` against the labels (scikit-learn)."""
    tn, fp, fn, tp = confusion_matrix(y, (score >= threshold).astype(int), labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def metrics(c: dict[str, int]) -> dict[str, float]:
    n = c["tp"] + c["fp"] + c["tn"] + c["fn"]
    return {"count": n,
            "selection_rate": ratio(c["tp"] + c["fp"], n),
            "accuracy": ratio(c["tp"] + c["tn"], n),
            "tpr": ratio(c["tp"], c["tp"] + c["fn"]),
            "fpr": ratio(c["fp"], c["fp"] + c["tn"]),
            "precision": ratio(c["tp"], c["tp"] + c["fp"]),
            "fnr": ratio(c["fn"], c["tp"] + c["fn"])}


def expected_table(credit, thresholds: dict[str, float]) -> tuple[dict[str, dict], str]:
    """Every group's row (and "overall") at per-group ``thresholds``; and the reference group.

    AIR is the ratio of favourable rates (the dashboard's default: favourable = predicted
    non-default, i.e. 1 - selection rate), disparity the ratio of the chart's metric (fpr,
    its default), both to the reference group: the largest one. The overall row sums the
    groups' confusion counts and shows no ratios.
    """
    names, y, score = credit["groups"], credit["y"], credit["score"]
    counts = {g: confusion(y[names == g], score[names == g], t) for g, t in thresholds.items()}
    rows = {g: metrics(c) for g, c in counts.items()}
    reference = max(rows, key=lambda g: rows[g]["count"])
    ref = rows[reference]
    for row in rows.values():
        row["air"] = ratio(1 - row["selection_rate"], 1 - ref["selection_rate"])
        row["disparity"] = ratio(row["fpr"], ref["fpr"])
    total = {k: sum(c[k] for c in counts.values()) for k in ("tn", "fp", "fn", "tp")}
    rows[OVERALL] = {**metrics(total), "air": None, "disparity": None}
    return rows, reference


def shown(value: float | int | None, column: str) -> re.Pattern:
    """The cell text of ``value`` as the table formats it: ``3,470``, ``0.124``, ``NaN``.

    A value within 1e-9 of a rounding tie may be shown either way, so both are accepted.
    """
    if value is None:
        texts = {""}
    elif column == "count":
        texts = {f"{value:,}"}
    elif math.isnan(value):
        texts = {"NaN"}
    else:
        texts = {f"{value + d:.3f}" for d in (-1e-9, 0.0, 1e-9)}
    return re.compile("^(" + "|".join(map(re.escape, sorted(texts))) + ")$")


def expected_cells(name: str, row: dict, reference: str,
                   header: list[str]) -> list[re.Pattern]:
    """One pattern per cell of the row, in the page's column order.

    Columns other than ``HEADER`` (the widget may show more, e.g. an interval or a note)
    match anything here; the other groups' rows are compared whole, before and after.
    """
    label = re.escape(name) + (r" \(reference\)" if name == reference else "")
    first = re.compile(f"^{label}$" if name != OVERALL else "^overall( & overall)?$")
    return [first, *(shown(row[c], c) if c in HEADER else ANY for c in header[1:])]


@pytest.fixture(scope="module")
def credit(credit_future) -> dict:
    """The notebook's data and model: per row, its group, label and P(DEFAULT = 1)."""
    data, model = credit_future.result()
    return {"groups": group_names(data), "y": data.y.to_numpy().astype(int),
            "score": model.predict_proba(data.X)[:, 1]}


# -- page --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dashboard(credit_future, new_offline_page, voila_url, rendered, screenshot_dir):
    """The rendered dashboard page and its error collector, shared by the module."""
    page, errors = new_offline_page()
    page.set_default_timeout(ROUND_TRIP)
    page.goto(f"{voila_url}voila/render/{NOTEBOOK}", timeout=RENDER_TIMEOUT)
    table = page.locator(TABLE)
    rendered(page, table, RENDER_TIMEOUT)
    expect(page.locator(ROOT)).to_have_count(1)
    yield page, errors
    page.screenshot(path=str(screenshot_dir / "voila-fairness.png"), full_page=True)
    page.context.close()


def table_row(page, name: str):
    """The ``<tr>`` of group ``name`` (its first cell may carry " (reference)")."""
    label = "overall" if name == OVERALL else re.escape(name)
    first = page.locator("td:first-child", has_text=re.compile(f"^{label}( |$)"))
    return page.locator(f"{TABLE} tr").filter(has=first)


def table_header(page) -> list[str]:
    """The table's column names; ``HEADER`` must be among them, in that order."""
    header = page.locator(f"{TABLE} tr").first.locator("th").all_inner_texts()
    found = [c for c in header if c in HEADER]
    assert found == list(HEADER) and header[0] == HEADER[0], header
    return header


def expect_rows(page, rows: dict[str, dict], reference: str, header: list[str]) -> None:
    """Every row of the table shows exactly the expected texts (polled: each key press is a
    kernel round-trip, so the table passes through intermediate thresholds)."""
    expect(page.locator(f"{TABLE} tr")).to_have_count(len(rows) + 1)
    for name, row in rows.items():
        cells = table_row(page, name)
        expect(cells).to_have_count(1)
        expect(cells.locator("td")).to_have_text(expected_cells(name, row, reference, header))


def row_texts(page) -> dict[str, list[str]]:
    """The table's body rows as shown: first cell -> every cell's text."""
    rows = page.locator(f"{TABLE} tr").all()[1:]
    return {texts[0]: texts for texts in (r.locator("td").all_inner_texts() for r in rows)}


def group_slider(page, name: str):
    """The FloatSlider of group ``name`` (its description label is the group name)."""
    label = page.locator(".widget-label", has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator(f"{ROOT} .mld-group-threshold").filter(has=label)


def near(score: np.ndarray, threshold: float, tol: float = 1e-6) -> int:
    return int((np.abs(score - threshold) < tol).sum())


# -- test ----------------------------------------------------------------------------------------
def test_group_threshold_slider_updates_table(dashboard, credit, screenshot_dir):
    page, errors = dashboard
    groups = sorted(set(credit["groups"]))
    assert MOVED in groups and len(groups) == 4, groups
    at_start = {g: START for g in groups}
    moved = {**at_start, MOVED: TARGET}
    before, reference = expected_table(credit, at_start)
    after, reference_after = expected_table(credit, moved)
    # the moved group is not the reference, so the other groups' ratios must not move
    assert reference == reference_after != MOVED
    # no score sits (within float noise of the slider's value) on a threshold used here
    in_group = credit["score"][credit["groups"] == MOVED]
    assert near(credit["score"], START) == 0 and near(in_group, TARGET) == 0
    # the move changes the moved group's and the overall row as shown (the test can fail)
    for name in (MOVED, OVERALL):
        assert [p.pattern for p in expected_cells(name, before[name], reference, HEADER)] != \
               [p.pattern for p in expected_cells(name, after[name], reference, HEADER)], name

    # on load: header, one slider per group, every row at 0.50
    header = table_header(page)
    sliders = page.locator(f"{ROOT} .mld-group-threshold")
    expect(sliders).to_have_count(len(groups))
    expect(sliders.locator(".widget-label")).to_have_text(groups)
    expect(sliders.locator(".widget-readout")).to_have_text([f"{START:.2f}"] * len(groups))
    expect(page.locator(f"{ROOT} .mld-threshold .widget-readout")).to_have_text(f"{START:.2f}")
    expect_rows(page, before, reference, header)
    shown_before = row_texts(page)

    # move one group's slider with the keyboard, like a user
    slider = group_slider(page, MOVED)
    expect(slider).to_have_count(1)
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(PAGE_DOWNS):
        handle.press("PageDown")
    for _ in range(ARROW_LEFTS):
        handle.press("ArrowLeft")
    expect(slider.locator(".widget-readout")).to_have_text(f"{TARGET:.2f}")

    # the moved group's row and the overall row show the new numbers ...
    expect_rows(page, after, reference, header)
    shown_after = row_texts(page)
    assert shown_after[MOVED] != shown_before[MOVED]
    # ... and the other groups' rows, sliders and the global slider did not change
    for name in groups:
        if name != MOVED:
            key = next(k for k in shown_before if k.startswith(name))
            assert shown_after[key] == shown_before[key], name
            expect(group_slider(page, name).locator(".widget-readout")).to_have_text(
                f"{START:.2f}")
    expect(page.locator(f"{ROOT} .mld-threshold .widget-readout")).to_have_text(f"{START:.2f}")
    page.locator(ROOT).screenshot(path=str(screenshot_dir / "voila-fairness-moved.png"))
    errors.check()
