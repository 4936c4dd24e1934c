"""AssertionsPanel headless, and the what-if editor's live check of the edited row."""

from __future__ import annotations

import numpy as np
import pytest

from mldebug_widgets import AssertionsPanel, WhatIfEditor, bind, datasets
from mldebug_widgets.analysis import RuleModel, check_rules

POCKET = 'PAY_AMT1 <= 200 and PAY_AMT2 <= 200 and prediction > 0.5 -> flag "payment pocket"'


@pytest.fixture(scope="module")
def demo():
    data = datasets.load_credit(n_rows=3_000)
    return data, datasets.demo_model(data)


def test_rules_are_checked_counted_and_published(demo):
    data, model = demo
    session = bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA)
    panel = AssertionsPanel(session)
    session.predictions()  # computed once, then cached
    calls = session.adapter.n_calls
    panel.rules_.value = POCKET + "\nEDUCATION in (0, 5, 6) -> flag 'undocumented code'"
    assert session.adapter.n_calls == calls  # the cached predictions are used
    expected = check_rules(session, panel.rules_.value)
    assert panel.result_.counts.tolist() == expected.counts.tolist()
    # by hand: the pocket rule fires on pocket rows the model rates above 0.5
    p = model.predict_proba(data.X)[:, 1]
    by_hand = ((data.X["PAY_AMT1"] <= 200) & (data.X["PAY_AMT2"] <= 200) & (p > 0.5)).sum()
    assert int(panel.result_.counts[0]) == by_hand > 0
    assert f"<td class='mld-count'>{by_hand:,}</td>" in panel.summary_.value
    assert session.rules == panel.rules_.value
    label = panel.rows_.options[0][1]
    panel.rows_.value = label
    assert session.focus_row == label


def test_a_parse_error_points_at_the_token(demo):
    data, model = demo
    session = bind(model, data.X, data.y)
    panel = AssertionsPanel(session, rules=POCKET)
    panel.rules_.value = "AGE < 21 and and prediction > 0.5 -> flag 'x'"
    assert "position 13" in panel.message_.value and "^" in panel.message_.value
    assert session.rules == POCKET  # the last good rules stay published
    panel.rules_.value = "__import__('os').system('true') -> flag 'x'"
    assert "position" in panel.message_.value


def test_the_whatif_editor_checks_the_edited_row(demo):
    data, model = demo
    session = bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA)
    editor = WhatIfEditor(session)
    safe = data.X.index[(data.X["PAY_AMT1"] > 1_000) & (data.X["PAY_AMT2"] > 1_000)][0]
    session.focus_row = safe
    session.rules = 'PAY_AMT1 <= 200 and PAY_AMT2 <= 200 -> flag "payment pocket"'
    assert editor.rules_.value == ""
    calls = session.adapter.n_calls
    editor.set_value("PAY_AMT1", 0.0)
    editor.set_value("PAY_AMT2", 0.0)
    assert "payment pocket" in editor.rules_.value
    assert session.adapter.n_calls == calls + 2  # one predict per edit, none for the rules
    editor.undo()
    assert editor.rules_.value == ""


def test_apply_binds_the_rule_model(demo):
    data, model = demo
    session = bind(model, data.X, data.y)
    panel = AssertionsPanel(session, rules="PAY_AMT1 <= 200 and PAY_AMT2 <= 200 -> clip 0 0.5")
    expected = panel.result_.overridden[:, 0]
    panel.apply_button_.click()
    assert isinstance(session.model, RuleModel)
    np.testing.assert_allclose(session.predictions()[:, 0], expected)
    panel.restore_button_.click()
    assert session.model is model
    session.rules = ""
    empty = AssertionsPanel(session)
    empty.apply_button_.click()
    assert "check rules first" in empty.message_.value
