"""The WhatIfEditor in JupyterLab: run a notebook through the menu and use the editor.

The notebook is a smaller copy of ``notebooks/dashboard.ipynb`` (3,000 rows, logistic
model) written into the lab's root directory, so the test stays fast.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from playwright.sync_api import expect

import mldebug_widgets as mdw

pytestmark = pytest.mark.browser

N_ROWS = 3_000
SETUP = f"""\
import mldebug_widgets as mdw

data = mdw.datasets.load_credit(n_rows={N_ROWS})
model = mdw.datasets.demo_model(data, kind="logistic")
session = mdw.bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                   schema=mdw.datasets.CREDIT_SCHEMA)"""
SHOW = "editor = mdw.WhatIfEditor(session)\neditor"
PANEL = ".jp-NotebookPanel"
LOAD_TIMEOUT = 60_000  # ms
RUN_TIMEOUT = 90_000  # ms


def run_menu_item(page, menu: str, item: str) -> None:
    """Click ``menu`` > ``item`` in the menu bar like a user.

    Lumino triggers a menu item on mouse-up over the *active* item; a click that lands
    while the menu is still opening is lost, so hover first and wait until it is active.
    """
    page.locator(f".lm-MenuBar-item:has(.lm-MenuBar-itemLabel:text-is('{menu}'))").click()
    entry = page.locator(f".lm-Menu .lm-Menu-item:has(.lm-Menu-itemLabel:text-is('{item}'))")
    entry.hover()
    expect(entry).to_have_class(re.compile(r"\blm-mod-active\b"))
    entry.click()
    expect(page.locator(".lm-Menu")).to_have_count(0)


@pytest.fixture(scope="module")
def whatif_notebook(lab_root) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# WhatIfEditor in JupyterLab"),
                nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(SHOW)]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nbformat.write(nb, lab_root / "whatif.ipynb")
    return "whatif.ipynb"


def test_editor_runs_in_jupyterlab(offline, page_errors, lab_url, whatif_notebook, rendered,
                                   screenshot_dir):
    page = offline
    page.goto(f"{lab_url}lab/tree/{whatif_notebook}", timeout=LOAD_TIMEOUT)
    # The notebook's execution indicator says "idle" already while the status bar still
    # reads "No Kernel | Initializing", and "Run All Cells" then runs nothing: wait for
    # the kernel itself to be idle.
    expect(page.locator(".jp-StatusBar-Widget").filter(
        has_text=re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_be_visible(timeout=LOAD_TIMEOUT)

    # meanwhile, the expected numbers (the kernel computes the same)
    data = mdw.datasets.load_credit(n_rows=N_ROWS)
    model = mdw.datasets.demo_model(data, kind="logistic")
    row = data.X.iloc[[0]]
    original = float(model.predict_proba(row)[0, 1])
    edited = row.copy()
    edited["PAY_0"] = 3 if row["PAY_0"].item() != 3 else 2
    now = float(model.predict_proba(edited)[0, 1])

    run_menu_item(page, "Run", "Run All Cells")

    root = page.locator(f"{PANEL} .mld-whatif")
    rendered(page, root.locator(".mld-prediction b"), RUN_TIMEOUT)
    expect(root.locator(".mld-prediction b")).to_have_text(f"P(DEFAULT = 1) = {original:.4f}")
    expect(root.locator(".mld-prediction small")).to_have_text(
        f"row {data.X.index[0]} · label {data.y.iloc[0]}")
    expect(root.locator(".mld-ice .mainheading")).to_have_text(
        f"ICE of {data.X.columns[0]} for row {data.X.index[0]}")
    page.wait_for_function(
        """sel => [...document.querySelectorAll(sel)]
                .filter(p => (p.getAttribute('d') || '').length > 1).length >= 3""",
        arg=f"{PANEL} .mld-whatif .mld-ice path.line")

    # one edit through the kernel
    editor = root.locator(".mld-edit-PAY_0")
    value = str(edited["PAY_0"].item())
    if editor.locator("select").count():
        editor.locator("select").select_option(label=value)
    else:
        editor.locator("input").fill(value)
        editor.locator("input").press("Enter")
    expect(root.locator(".mld-prediction b")).to_have_text(f"P(DEFAULT = 1) = {now:.4f}")
    expect(root.locator(".mld-prediction small")).to_contain_text("edited: PAY_0")
    expect(root.locator(".mld-ice .mainheading")).to_have_text(
        f"ICE of PAY_0 for row {data.X.index[0]}")
    expect(page.locator(f"{PANEL} .jp-OutputArea-output").filter(has_text="Traceback"))\
        .to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "jupyterlab-whatif.png"), full_page=True)
    page_errors.check()
