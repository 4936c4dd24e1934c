"""alibi integration: agrees with the native ALE, Anchors explain a row; else a clear message.

The alibi tests run in a second environment with the ``alibi`` extra (numpy<2, pandas<3):
``bash scripts/test_alibi.sh`` (called by ``scripts/test.sh``).
"""

from __future__ import annotations

import numpy as np
import pytest

from mldebug_widgets import bind, datasets
from mldebug_widgets.integrations import alibi as integration


@pytest.fixture(scope="module")
def demo():
    data = datasets.load_credit(n_rows=2_000)
    model = datasets.demo_model(data)
    return data, model, bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA)


@pytest.mark.skipif(integration.available(), reason="alibi is installed here")
def test_without_alibi_the_message_says_how_to_install(demo):
    _, _, session = demo
    with pytest.raises(ImportError, match=r"mldebug-widgets\[alibi\].*Business Source"):
        integration.alibi_ale(session, "LIMIT_BAL")
    with pytest.raises(ImportError, match="native ALE"):
        integration.anchor(session, session.X.index[0])


@pytest.mark.skipif(not integration.available(), reason="needs the alibi extra")
@pytest.mark.parametrize("feature", ["LIMIT_BAL", "PAY_AMT1", "PAY_0"])
def test_alibi_ale_agrees_with_the_native_ale(demo, feature):
    _, _, session = demo
    both = integration.alibi_ale(session, feature, bins=10)
    assert len(both) >= 3
    np.testing.assert_allclose(both["alibi_ale"], both["ale"], atol=1e-8)


@pytest.mark.skipif(not integration.available(), reason="needs the alibi extra")
def test_anchor_explains_a_demo_row(demo):
    data, model, session = demo
    label = data.X.index[0]
    result = integration.anchor(session, label, threshold=0.9)
    assert result.precision >= 0.85 and 0 < result.coverage <= 1
    # every predicate names a feature, and the explained class is the model's own
    assert all(any(f in predicate for f in session.features) for predicate in result.rule)
    positive = model.predict_proba(data.X.loc[[label]])[0, 1] >= 0.5
    assert result.prediction == ("1" if positive else "not 1")
    with pytest.raises(ValueError, match="categorical"):
        integration.alibi_ale(session, "EDUCATION")
