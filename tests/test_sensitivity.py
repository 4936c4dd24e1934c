"""ICE, partial dependence and ALE against scikit-learn and hand-computed references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import partial_dependence as sk_partial_dependence

from mldebug_widgets import bind
from mldebug_widgets.analysis import ale, feature_grids, ice, partial_dependence, what_if


def _sk_pd(model, X, feature, grid, kind="average"):
    result = sk_partial_dependence(model, X, [feature], custom_values={feature: grid},
                                   method="brute", kind=kind)
    return result[kind]


@pytest.mark.parametrize("fixture", ["binary", "multiclass", "regression"])
def test_partial_dependence_equals_sklearn(request, fixture):
    X, y = request.getfixturevalue(f"{fixture}_data")
    model = request.getfixturevalue(f"{fixture}_model")
    session = bind(model, X, y)
    feature = X.columns[1]
    grid = np.linspace(X[feature].min() - 0.5, X[feature].max() + 0.5, 7)
    ours = partial_dependence(session, feature, grid=grid)
    expected = _sk_pd(model, X, feature, grid)  # (n_outputs, n_grid)
    got = ours["average"].to_numpy().reshape(len(grid), -1).T
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    assert ours["value"].astype(float).unique().tolist() == pytest.approx(grid.tolist())
    assert len(ours) == len(grid) * (3 if fixture == "multiclass" else 1)


def test_partial_dependence_chunks_equal_one_call(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y)
    whole = partial_dependence(session, "f0", resolution=9)
    chunked = partial_dependence(session, "f0", resolution=9, batch_rows=900)
    np.testing.assert_allclose(whole["average"], chunked["average"], atol=1e-12)


@pytest.mark.parametrize("fixture", ["binary", "multiclass", "regression"])
def test_ice_equals_sklearn_individual(request, fixture):
    X, y = request.getfixturevalue(f"{fixture}_data")
    model = request.getfixturevalue(f"{fixture}_model")
    session = bind(model, X, y)
    rows = [3, 10, 42]
    grid = np.linspace(X.iloc[:, 0].min(), X.iloc[:, 0].max(), 5)
    feature = X.columns[0]
    result = ice(session, rows, grid={feature: grid})
    expected = _sk_pd(model, X.loc[rows], feature, grid, kind="individual")  # (k, rows, grid)
    got = np.moveaxis(result.curves[feature], 2, 0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_ice_of_all_features_is_one_predict_call(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y)
    before = session.adapter.n_calls
    result = ice(session, 5, resolution=20)
    assert session.adapter.n_calls == before + 1
    assert set(result.curves) == set(X.columns)
    frame = result.to_frame()
    assert len(frame) == sum(len(g) for g in result.grids.values())
    # each ICE point equals predicting that edited row directly
    row = X.loc[[5]].copy()
    row["f2"] = result.grids["f2"][3]
    direct = binary_model.predict_proba(row)[0, 1]
    assert result.curve("f2")[3] == pytest.approx(direct, abs=1e-12)


def test_pipeline_with_categoricals_nan_and_beyond_range(pipeline_model, mixed_data):
    X, y = mixed_data
    session = bind(pipeline_model, X, y)
    assert session.schema["city"].kind == "categorical"
    assert session.schema["income"].allow_missing
    grids = feature_grids(session, ["income", "city"], margin=0.1, include_missing=True,
                          resolution=10)
    assert np.isnan(grids["income"][-1]) and grids["city"][-1] is np.nan
    assert grids["income"][-2] == pytest.approx(X["income"].max() * 1.1)
    result = ice(session, [0, 1], grid=grids)
    for feature, values in grids.items():
        for i, value in enumerate(values):
            edited = X.loc[[1]].copy()
            edited[feature] = value
            expected = pipeline_model.predict_proba(edited)[0, 1]
            assert result.curve(feature, row=1)[i] == pytest.approx(expected, abs=1e-12)
    pd_frame = partial_dependence(session, "income", grid=grids["income"])
    manual = []
    for value in grids["income"]:
        edited = X.copy()
        edited["income"] = value
        manual.append(pipeline_model.predict_proba(edited)[:, 1].mean())
    np.testing.assert_allclose(pd_frame["average"], manual, atol=1e-12)


def test_categorical_partial_dependence_equals_sklearn(pipeline_model, mixed_data):
    X, y = mixed_data
    session = bind(pipeline_model, X, y)
    grid = np.array(["east", "north", "south"], dtype=object)
    ours = partial_dependence(session, "city", grid=grid)
    expected = _sk_pd(pipeline_model, X, "city", grid)
    np.testing.assert_allclose(ours["average"], expected[0], atol=1e-10)


def test_what_if_scores_edited_row_and_its_ice_in_one_call(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y)
    edited = session.row(7)
    edited["f1"] = 2.5
    before = session.adapter.n_calls
    result = what_if(session, edited, resolution=10)
    assert session.adapter.n_calls == before + 1
    assert result.prediction[0] == pytest.approx(binary_model.predict_proba(edited)[0, 1])
    assert set(result.ice.curves) == set(X.columns)
    reference = ice(session, edited, resolution=10)
    for feature in X.columns:
        np.testing.assert_allclose(result.ice.curve(feature), reference.curve(feature))


def test_ale_linear_model_is_slope_times_centred_value():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(0, 10, 1000), "b": rng.normal(size=1000)})
    session = bind(lambda df: 3.0 * df["a"] - df["b"] ** 2, X, task="regression")
    frame = ale(session, "a", bins=10)
    edges = frame["value"].astype(float).to_numpy()
    counts = frame["count"].to_numpy()
    # for f = 3a + g(b) the ALE is 3 * (a - weighted mean of bin midpoints)
    centre = (((edges[:-1] + edges[1:]) / 2) * counts[1:]).sum() / counts.sum()
    np.testing.assert_allclose(frame["ale"], 3.0 * (edges - centre), atol=1e-9)
    assert counts.sum() == 1000


def test_ale_hand_computed_with_interaction():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 1.0, 2.0, 2.0]})
    session = bind(lambda df: df["a"] * df["b"], X, task="regression")
    frame = ale(session, "a", bins=3)
    # edges 0,1,2,3; bins hold rows {0,1}, {2}, {3}; local slopes are b: (1+1)/2, 2, 2
    accumulated = np.array([0.0, 1.0, 3.0, 5.0])
    counts = np.array([0, 2, 1, 1])
    centre = ((accumulated[:-1] + accumulated[1:]) / 2 * counts[1:]).sum() / 4
    np.testing.assert_allclose(frame["ale"], accumulated - centre)
    assert frame["count"].tolist() == counts.tolist()


def test_ale_categorical_hand_computed():
    X = pd.DataFrame({"c": ["x", "y", "z", "x", "y", "z"], "b": [0.0] * 6})
    effect = {"x": 0.0, "y": 2.0, "z": 5.0}
    session = bind(lambda df: df["c"].map(effect).astype(float) + df["b"], X,
                   task="regression")
    frame = ale(session, "c")
    # additive effect: ALE recovers it up to centring (equal counts -> mean 7/3)
    np.testing.assert_allclose(frame["ale"], np.array([0.0, 2.0, 5.0]) - 7 / 3)


def test_ale_skips_missing_and_works_for_multiclass(multiclass_model, multiclass_data):
    X, y = multiclass_data
    X = X.copy()
    X.loc[:9, "f0"] = np.nan
    session = bind(lambda df: multiclass_model.predict_proba(df.fillna(0.0)), X, y)
    frame = ale(session, "f0", bins=5)
    assert set(frame["output"]) == {0, 1, 2}
    assert frame.groupby("output")["count"].sum().tolist() == [440, 440, 440]
    # probabilities sum to one, so the class ALEs sum to zero at every edge
    np.testing.assert_allclose(frame.groupby("value")["ale"].sum(), 0.0, atol=1e-12)


def test_grid_given_as_values_needs_one_feature(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y)
    with pytest.raises(ValueError, match="exactly one feature"):
        ice(session, 0, grid=[0.0, 1.0])


def test_ale_agrees_with_alibi_when_installed(binary_model, binary_data):
    alibi_explainers = pytest.importorskip("alibi.explainers")
    X, y = binary_data
    session = bind(binary_model, X, y)
    ours = ale(session, "f1", bins=10)
    edges = ours["value"].astype(float).to_numpy()
    explainer = alibi_explainers.ALE(lambda a: binary_model.predict_proba(
        pd.DataFrame(a, columns=X.columns))[:, 1:], feature_names=list(X.columns))
    explanation = explainer.explain(X.to_numpy(), features=[1], grid_points={1: edges})
    np.testing.assert_allclose(explanation.feature_values[0], edges)
    np.testing.assert_allclose(explanation.ale_values[0][:, 0], ours["ale"], atol=1e-8)
