"""Notebook 05 in Voila: a rule typed in the page is checked on every row; drift is flagged.

The assertions panel's text box is cleared and a rule is typed into it key by key, the way
a user does; the box syncs when it loses focus (Tab). The violation count the page then
shows is compared with a count made here, in the test process, from the same deterministic
data and model the notebook builds (``load_credit()`` and ``demo_model(data)``): the rows
with ``PAY_AMT1 <= 200``, ``PAY_AMT2 <= 200`` and ``predict_proba > 0.5``, by hand with
pandas (the package's rule engine is not used). A typo is reported with the position of the
offending token (found here with ``str.index``) and a caret under it. The first violating
row, picked in the list, is loaded in the what-if editor, which shows that the rule fires on
it; an edit that breaks the condition removes the warning.

The monitoring panel compares ``load_credit(batch="current")`` with the reference: the
features the demo's answer key says were shifted (``current.bugs["drift"]``) are flagged
and highlighted, the others are not. The bins chart of the first flagged feature drew a
reference and a current bar per bin, their heights proportional to the shares of rows in
the bins (counted here with pandas from the bin labels), and its title's PSI matches the
PSI of those shares.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NOTEBOOK = "05_remediate_and_monitor.ipynb"
RENDER_TIMEOUT = 180_000  # ms: 30k rows, the model, drift tests and an IsolationForest first
ROUND_TRIP = 30_000  # ms: a rule check uses cached predictions; a what-if edit is one predict
ASSERTIONS = ".mld-assertions"
EDITOR = ".mld-whatif"
MONITOR = ".mld-monitoring"
RULE = 'PAY_AMT1 <= 200 and PAY_AMT2 <= 200 and prediction > 0.5 -> flag "payment pocket"'
MESSAGE = "payment pocket"
TYPO = 'AGE < 21 and and prediction > 0.5 -> flag "x"'
TYPO_TOKEN = "and"  # the second "and": a condition was expected there
N_LISTED = 200  # the panel lists the first 200 violating rows
SHIFTED = {"LIMIT_BAL", "AGE", "PAY_0"}  # what the brief and the answer key name
CLEAR = "rgba(0, 0, 0, 0)"  # computed background of a row without a highlight
BINS_TITLE = re.compile(r"^(\w+): PSI (\d+\.\d{3}) \((stable|moderate|significant)\)$")


@pytest.fixture(scope="module")
def credit(credit_future) -> dict:
    """The notebook's data and model, and the rows the pocket rule must flag (by hand)."""
    data, model = credit_future.result()
    X = data.X
    score = model.predict_proba(X)[:, 1]
    caught = (X["PAY_AMT1"] <= 200) & (X["PAY_AMT2"] <= 200) & (score > 0.5)
    return {"data": data, "model": model, "score": score, "caught": X.index[caught.to_numpy()]}


@pytest.fixture(scope="module")
def notebook(credit_future, new_offline_page, voila_url, rendered, screenshot_dir):
    """The rendered notebook page and its error collector, shared by the module."""
    page, errors = new_offline_page()
    page.set_default_timeout(ROUND_TRIP)
    page.goto(f"{voila_url}voila/render/{NOTEBOOK}", timeout=RENDER_TIMEOUT)
    rendered(page, page.locator(f"{MONITOR} .mld-drift-table table"), RENDER_TIMEOUT)
    expect(page.locator(ASSERTIONS)).to_have_count(1)
    expect(page.locator(MONITOR)).to_have_count(1)
    expect(page.locator(f"{EDITOR} .mld-prediction")).to_contain_text("P(DEFAULT = 1) =")
    yield page, errors
    page.screenshot(path=str(screenshot_dir / "voila-remediate.png"), full_page=True)
    page.context.close()


# -- helpers ----------------------------------------------------------------------------------
def type_rules(page, text: str) -> None:
    """Clear the rules box and type ``text`` key by key; Tab blurs it, which syncs it."""
    box = page.locator(f"{ASSERTIONS} .mld-rules textarea")
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    expect(box).to_have_value("")
    page.keyboard.type(text)
    expect(box).to_have_value(text)
    page.keyboard.press("Tab")


def expect_count(page, rule: str, count: int) -> None:
    """The violations table has one row: ``rule``, its action and ``count`` rows."""
    rows = page.locator(f"{ASSERTIONS} .mld-violations table.mld-rule-counts tr")
    expect(rows).to_have_count(2)  # header + the one rule
    expect(rows.nth(1).locator("code")).to_have_text(rule)
    expect(page.locator(f"{ASSERTIONS} .mld-violations td.mld-count")).to_have_text(f"{count:,}")


def message_lines(page) -> list[str]:
    return page.locator(f"{ASSERTIONS} .mld-message pre").inner_text().split("\n")


def caret_columns(page, text: str, position: int) -> tuple[float, float]:
    """Screen x of the ``position``-th character of ``text`` echoed in the error, and of
    the caret under it (measured with DOM ranges over the message's text)."""
    return tuple(page.locator(f"{ASSERTIONS} .mld-message pre").evaluate(
        """(pre, [text, position]) => {
               const node = pre.firstChild, all = node.textContent;
               const at = i => { const r = document.createRange();
                                 r.setStart(node, i); r.setEnd(node, i + 1);
                                 return r.getBoundingClientRect().left; };
               return [at(all.indexOf(text) + position), at(all.lastIndexOf("^"))];
           }""", [text, position]))


def background(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).backgroundColor")


# -- tests --------------------------------------------------------------------------------------
def test_typed_rule_shows_violation_count(notebook, credit, screenshot_dir):
    page, errors = notebook
    data, model, caught = credit["data"], credit["model"], credit["caught"]
    assert 0 < len(caught) < len(data.X)  # the rule splits the data: the count can be wrong
    message = page.locator(f"{ASSERTIONS} .mld-message")

    # on load the notebook's three rules are checked
    expect(page.locator(f"{ASSERTIONS} .mld-violations td.mld-count")).to_have_count(3)

    type_rules(page, RULE)
    expect_count(page, RULE, len(caught))
    expect(message).to_have_text("")
    options = page.locator(f"{ASSERTIONS} .mld-violating-rows select option")
    expect(options).to_have_count(min(len(caught), N_LISTED))
    first = caught[0]
    expect(options.first).to_have_text(f"{first}: {MESSAGE}")
    page.locator(ASSERTIONS).screenshot(path=str(screenshot_dir / "voila-remediate-rule.png"))

    # pick the first violating row: the what-if editor loads it and warns that the rule fires
    options.first.click()
    expect(page.locator(f"{EDITOR} .mld-row input")).to_have_value(str(first))
    p = float(credit["score"][data.X.index.get_loc(first)])
    prediction = page.locator(f"{EDITOR} .mld-prediction")
    expect(prediction.locator("b")).to_have_text(f"P(DEFAULT = 1) = {p:.4f}")
    expect(prediction.locator("small")).to_have_text(f"row {first} · label {data.y.loc[first]}")
    check = page.locator(f"{EDITOR} .mld-rules-check")
    expect(check.locator(".mld-row-violations")).to_contain_text(MESSAGE)

    # live: an edit that breaks the rule's condition (PAY_AMT1 <= 200) clears the warning
    assert data.X.loc[first, "PAY_AMT1"] <= 200
    box = page.locator(f"{EDITOR} .mld-edit-PAY_AMT1 input")
    box.fill("5000")
    box.press("Enter")
    edited = data.X.loc[[first]].copy()
    edited["PAY_AMT1"] = 5000.0
    now = float(model.predict_proba(edited)[0, 1])
    expect(prediction.locator("b")).to_have_text(f"P(DEFAULT = 1) = {now:.4f}")
    expect(check.locator(".mld-row-violations")).to_have_count(0)
    expect(check).to_have_text("")

    # a typo: the error names the offending token's position and puts a caret under it
    type_rules(page, TYPO)
    position = TYPO.index(f"{TYPO_TOKEN} {TYPO_TOKEN}") + len(TYPO_TOKEN) + 1
    expect(message).to_contain_text(f"position {position}")
    expect(message).to_contain_text("^")
    lines = message_lines(page)
    echo = next(i for i, line in enumerate(lines) if line.strip() == TYPO)
    indent = lines[echo].index(TYPO)
    assert lines[echo + 1].rstrip() == " " * (indent + position) + "^", lines
    # ... and on the screen the caret stands under the token's first character
    token_x, caret_x = caret_columns(page, TYPO, position)
    assert abs(token_x - caret_x) < 2, (token_x, caret_x)
    page.locator(ASSERTIONS).screenshot(path=str(screenshot_dir / "voila-remediate-error.png"))

    # fixed again: the error goes away and the count is back
    type_rules(page, RULE)
    expect(message).to_have_text("")
    expect_count(page, RULE, len(caught))
    errors.check()


def test_monitoring_flags_shifted_features(notebook, credit, screenshot_dir):
    page, errors = notebook
    import mldebug_widgets as mdw

    reference = credit["data"].X
    current = mdw.datasets.load_credit(batch="current")
    shifted = set(current.bugs["drift"].features)
    assert shifted == SHIFTED
    table = page.locator(f"{MONITOR} .mld-drift-table table.mld-drift-rows")
    header = table.locator("tr").first.locator("th").all_inner_texts()
    assert header[0] == "feature" and "flagged" in header, header
    flag_col = header.index("flagged")
    rows = table.locator("tr")
    expect(rows).to_have_count(current.X.shape[1] + 2)  # header, every feature, prediction
    by_name = {}
    for row in rows.all()[1:]:
        cells = row.locator("td").all_inner_texts()
        by_name[cells[0]] = (row, cells)
    assert set(by_name) == {*current.X.columns, "prediction"}
    for name in current.X.columns:
        row, cells = by_name[name]
        if name in shifted:
            assert cells[flag_col] == "yes", (name, cells)
            assert background(row) != CLEAR, name
        else:
            assert cells[flag_col] == "", (name, cells)
            assert background(row) == CLEAR, name

    # the bins chart shows a flagged feature: a reference and a current bar per bin, whose
    # heights are proportional to the shares of the rows in the bins (counted here by hand)
    figure = page.locator(f"{MONITOR} .mld-drift-bins")
    heading = figure.locator(".mainheading")
    expect(heading).to_have_text(BINS_TITLE)
    name, psi_text, band = BINS_TITLE.match(heading.text_content()).groups()
    assert name in shifted, name
    labels = figure.locator("g.axis").first.locator(".tick text").all_text_contents()
    assert len(labels) >= 2, labels
    bars = figure.locator("rect.bar")
    expect(bars).to_have_count(2 * len(labels))
    drawn = bars.evaluate_all(
        "rs => rs.map(r => [r.parentNode.getAttribute('transform'), +r.getAttribute('height')])")
    groups = [drawn[i:i + 2] for i in range(0, len(drawn), 2)]
    assert all(a[0] == b[0] for a, b in groups), drawn  # the two bars of a bin side by side
    shares = np.array([[bin_share(reference[name], label), bin_share(current.X[name], label)]
                       for label in labels])
    assert np.isclose(shares.sum(axis=0), 1.0).all(), (labels, shares)  # the bins cover all
    heights = np.array([[a[1], b[1]] for a, b in groups])
    scale = heights[shares > 0] / shares[shares > 0]
    assert scale.min() > 0 and np.allclose(scale, scale.mean(), rtol=1e-3), (heights, shares)
    assert (heights[shares == 0] == 0).all(), (heights, shares)
    # the title's PSI: sum of (current - reference) * ln(current / reference) over the bins,
    # an empty bin counted as a share of 1e-4; bands < 0.1, 0.1-0.25, > 0.25
    ref, cur = (np.where(shares[:, i] > 0, shares[:, i], 1e-4) for i in (0, 1))
    psi = float(np.sum((cur - ref) * np.log(cur / ref)))
    assert abs(float(psi_text) - psi) < 1.5e-3, (psi_text, psi)
    assert band == ("stable" if psi < 0.1 else "moderate" if psi <= 0.25 else "significant")
    page.locator(MONITOR).screenshot(path=str(screenshot_dir / "voila-remediate-monitor.png"))
    errors.check()


def bin_share(values: pd.Series, label: str) -> float:
    """Share of ``values`` in the bin ``label``: ``"(a, b]"``, ``"(a, inf)"`` or ``"missing"``."""
    if label == "missing":
        return float(values.isna().mean())
    match = re.fullmatch(r"\((\S+), (\S+)([\])])", label)
    assert match, f"unexpected bin label {label!r}"
    low, high = float(match[1]), float(match[2])
    below = values <= high if match[3] == "]" else values < high
    return float(((values > low) & below).mean())
