"""MonitoringPanel headless: the drift table and bins, anomalies sent to the what-if editor."""

from __future__ import annotations

import numpy as np
import pytest

from mldebug_widgets import MonitoringPanel, WhatIfEditor, bind, datasets
from mldebug_widgets.analysis import anomalies, drift


@pytest.fixture(scope="module")
def batches():
    reference = datasets.load_credit(n_rows=4_000)
    current = datasets.load_credit(n_rows=4_000, batch="current")
    model = datasets.demo_model(reference, kind="logistic")
    return reference, current, model


def test_drift_table_flags_the_planted_shift(batches):
    reference, current, model = batches
    session = bind(model, reference.X, reference.y, schema=datasets.CREDIT_SCHEMA)
    panel = MonitoringPanel(session, current.X)
    expected = drift(current=current.X, session=session)
    assert panel.drift_.flagged == expected.flagged
    shifted = set(current.bugs["drift"].features)
    assert shifted <= set(panel.drift_.flagged)
    assert not (set(panel.drift_.flagged) - shifted - {"prediction"})
    for name in shifted:  # each flagged row is highlighted in the table
        row = panel.table_.value.split(f"<td>{name}</td>")[0].rsplit("<tr", 1)[1]
        assert "background" in row
    # the bins chart shows the first flagged row's PSI bins
    bins = expected.histogram(panel.feature_.value)
    np.testing.assert_allclose(panel.reference_bars_.y[1], bins["current"])
    panel.feature_.value = "AGE"
    np.testing.assert_allclose(panel.reference_bars_.y[0],
                               expected.histogram("AGE")["reference"])
    assert "AGE: PSI" in panel.bins_figure_.title


def test_anomalous_rows_go_to_the_whatif_editor(batches):
    reference, current, model = batches
    session = bind(model, reference.X, reference.y, schema=datasets.CREDIT_SCHEMA)
    panel = MonitoringPanel(session, current.X)
    editor = WhatIfEditor(session)
    expected = anomalies(current=current.X, session=session).top(10)
    assert list(panel.anomaly_select_.options) == [(str(i), i) for i in expected.index]
    label = expected.index[0]
    panel.send_to_whatif(label)
    for feature in ("LIMIT_BAL", "PAY_AMT1", "EDUCATION"):
        assert editor.edited[feature].iloc[0] == current.X.loc[label, feature]
    panel.send_to_whatif(None)
    assert "pick" in panel.message_.value


def test_model_change_and_bad_input(batches):
    reference, current, model = batches
    session = bind(model, reference.X, reference.y, schema=datasets.CREDIT_SCHEMA)
    panel = MonitoringPanel(session, current.X)
    before = panel.drift_.table.loc["prediction", "psi"]
    session.set_model(datasets.demo_model(reference, kind="hgb"))
    assert panel.drift_.table.loc["prediction", "psi"] != before
    with pytest.raises(TypeError, match="DataFrame"):
        MonitoringPanel(session, current.X.to_numpy())
    broken = MonitoringPanel(session, current.X.drop(columns=["AGE"]))
    assert "AGE" in broken.message_.value  # shown in the panel, not raised
