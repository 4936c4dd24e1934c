"""minimal_flip: flips, constraints, distances, budget, reproducibility, bad input."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import mldebug_widgets as mdw
from mldebug_widgets.analysis._constraints import Constraints
from mldebug_widgets.analysis.flip import FlipResult, minimal_flip

BUDGET = 2_400


class Counting:
    """A classifier wrapper counting the rows it scores; optionally raising on some rows."""

    def __init__(self, model, fail=None):
        self.model, self.fail, self.rows, self.calls = model, fail, 0, 0
        self.classes_ = model.classes_

    def predict_proba(self, X):
        self.rows += len(X)
        self.calls += 1
        if self.fail is not None and self.fail(X).any():
            raise ValueError("LIMIT_BAL beyond the training range is not supported")
        return self.model.predict_proba(X)


@pytest.fixture(scope="module")
def credit():
    data = mdw.datasets.load_credit(n_rows=3_000)
    model = mdw.datasets.demo_model(data, kind="hgb")
    scores = model.predict_proba(data.X)[:, 1]
    return data, model, scores


def bind(data, model):
    session = mdw.bind(model, data.X, data.y, schema=mdw.datasets.CREDIT_SCHEMA)
    return session


@pytest.fixture(scope="module")
def hundred(credit):
    """100 rows predicted "no default", flipped once with a counting model."""
    data, model, scores = credit
    counting = Counting(model)
    session = bind(data, counting)
    counting.rows = 0  # bind scored a few rows to check the model
    rows = list(data.X.index[scores < 0.5][:100])
    reports = []
    result = minimal_flip(session, rows, budget=BUDGET, random_state=0, progress=reports.append)
    return session, rows, result, counting, reports


def test_flips_at_least_95_percent_of_100_rows(hundred, credit):
    session, rows, result, _, _ = hundred
    table = result.to_frame()
    assert isinstance(result, FlipResult)
    assert table["row"].tolist() == rows
    assert result.success_rate >= 0.95
    assert result.success_rate == table["flipped"].mean()
    assert set(table["status"]) <= {"flipped", "not found"}
    assert (table.loc[table["flipped"], "original"] == 0).all()
    assert (table.loc[table["flipped"], "new"] == 1).all()
    assert not result.cancelled and result.errors == {}


def test_counterfactuals_cross_the_threshold_when_rescored(hundred, credit):
    _, _, result, _, _ = hundred
    data, model, _ = credit
    cfs = result.counterfactuals
    table = result.to_frame().set_index("row")
    assert list(cfs.columns) == list(data.X.columns)
    assert (cfs.dtypes == data.X.dtypes).all()
    assert list(cfs.index) == list(table.index[table["flipped"]])
    rescored = model.predict_proba(cfs)[:, 1]  # the model itself, not the session
    assert (rescored >= 0.5).all()
    np.testing.assert_allclose(rescored, table.loc[cfs.index, "new_score"], atol=1e-12)
    original = model.predict_proba(data.X.loc[table.index])[:, 1]
    np.testing.assert_allclose(original, table["original_score"], atol=1e-12)


def test_constraints_hold_for_every_counterfactual(hundred, credit):
    session, _, result, _, _ = hundred
    data = credit[0]
    cfs, base = result.counterfactuals, data.X.loc[result.counterfactuals.index]
    for name in ("SEX", "AGE"):  # immutable in CREDIT_SCHEMA
        assert (cfs[name] == base[name]).all()
    schema = session.schema
    for name in data.X.columns:
        spec = schema[name]
        if spec.kind == "integer":
            assert cfs[name].dtype == np.int64
        elif spec.kind == "categorical":
            assert cfs[name].isin(spec.categories).all()
        if spec.kind in ("numeric", "integer"):
            lo = spec.min - abs(0.1 * spec.min)
            hi = spec.max + abs(0.1 * spec.max)
            assert cfs[name].between(lo, hi).all()
    assert not cfs.isna().any().any()
    constraints = Constraints.from_session(session)
    for label in cfs.index[:20]:
        pd.testing.assert_frame_equal(constraints.project(cfs.loc[[label]], base.loc[label]),
                                      cfs.loc[[label]])


def test_distances_match_an_independent_computation(hundred, credit):
    _, _, result, _, _ = hundred
    data = credit[0]
    X, cfs = data.X, result.counterfactuals
    table = result.to_frame().set_index("row").loc[cfs.index]
    base = X.loc[cfs.index]
    categorical = ("SEX", "EDUCATION", "MARRIAGE")
    distance = np.zeros(len(cfs))
    changed = np.zeros((len(cfs), X.shape[1]), dtype=bool)
    for j, name in enumerate(X.columns):
        a, b = cfs[name].to_numpy(), base[name].to_numpy()
        changed[:, j] = a != b
        if name in categorical:
            distance += a != b
        else:
            q25, q75 = np.percentile(X[name].to_numpy(dtype=float), [25, 75])
            distance += np.abs(a - b) / ((q75 - q25) / 1.349)
    np.testing.assert_allclose(table["distance"], distance, rtol=1e-9, atol=1e-12)
    assert (table["n_changed"] == changed.sum(axis=1)).all()
    names = [tuple(X.columns[row]) for row in changed]
    assert table["changed"].tolist() == names
    assert (table["n_changed"] >= 1).all() and (table["distance"] > 0).all()


def test_budget_per_row_is_respected_and_counted(hundred):
    _, _, result, counting, reports = hundred
    table = result.to_frame()
    assert (table["queries"] <= BUDGET).all()
    assert counting.rows == result.n_queries == table["queries"].sum()
    assert result.n_queries < BUDGET * len(table)  # it stops when nothing helps
    assert reports[-1] == 1.0 and np.all(np.diff(reports) >= 0)


def test_small_budget_and_lockstep_rows_are_independent(credit):
    data, model, scores = credit
    counting = Counting(model)
    session = bind(data, counting)
    rows = list(data.X.index[scores < 0.5][:4])
    counting.rows = 0
    together = minimal_flip(session, rows, budget=150, random_state=7)
    assert counting.rows == together.n_queries <= 4 * 150
    assert (together.to_frame()["queries"] <= 150).all()
    again = minimal_flip(session, rows, budget=150, random_state=7)
    pd.testing.assert_frame_equal(together.to_frame(), again.to_frame())
    pd.testing.assert_frame_equal(together.counterfactuals, again.counterfactuals)
    first = minimal_flip(session, rows[:1], budget=150, random_state=7)
    pd.testing.assert_frame_equal(first.to_frame(), together.to_frame().iloc[:1])


def test_rows_already_on_the_target_side_are_flagged(credit):
    data, model, scores = credit
    session = bind(data, model)
    positive = list(data.X.index[scores >= 0.5][:2])
    negative = list(data.X.index[scores < 0.5][:2])
    result = minimal_flip(session, positive + negative, target=1, budget=1_200, random_state=0)
    table = result.to_frame()
    assert table["status"].tolist()[:2] == ["already", "already"]
    assert (table["distance"][:2] == 0).all() and (table["n_changed"][:2] == 0).all()
    assert (table["queries"][:2] == 1).all()
    pd.testing.assert_frame_equal(result.counterfactuals.loc[positive], data.X.loc[positive])
    assert table["status"].tolist()[2:] == ["flipped", "flipped"]
    # no target: a positive row is flipped to negative
    down = minimal_flip(session, positive[:1], budget=400, random_state=0)
    assert down.to_frame()["new"].tolist() == [0]
    assert model.predict_proba(down.counterfactuals)[0, 1] < 0.5


def test_unknown_rows_and_bad_options_raise_clearly(credit):
    data, model, scores = credit
    session = bind(data, model)
    good = int(data.X.index[0])
    with pytest.raises(ValueError, match=r"rows \[-5\] are not index labels"):
        minimal_flip(session, [good, -5])
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        minimal_flip(session, [good], budget=0)
    with pytest.raises(ValueError, match="every feature is immutable"):
        minimal_flip(session, [good], constraints={"immutable": list(data.X.columns)})
    with pytest.raises(ValueError, match="not a decision of this model"):
        minimal_flip(session, [good], target="yes")
    with pytest.raises(ValueError, match="rows is empty"):
        minimal_flip(session, [])


def test_cancel_stops_the_search(credit):
    data, model, scores = credit
    session = bind(data, model)
    rows = list(data.X.index[scores < 0.5][:10])
    full = minimal_flip(session, rows, budget=BUDGET, random_state=0)
    stop = threading.Event()
    calls = []

    def progress(fraction):
        calls.append(fraction)
        if len(calls) == 2:
            stop.set()

    result = minimal_flip(session, rows, budget=BUDGET, random_state=0, progress=progress,
                          cancel=stop)
    assert result.cancelled and not full.cancelled
    assert result.n_queries < full.n_queries
    assert set(result.to_frame()["status"]) <= {"flipped", "cancelled"}
    stop_first = threading.Event()
    stop_first.set()
    none = minimal_flip(session, rows, cancel=stop_first)
    assert none.n_queries == 0 and set(none.to_frame()["status"]) == {"cancelled"}


def test_a_model_raising_on_some_rows_is_reported_and_the_search_goes_on(credit):
    data, model, scores = credit
    top = data.X["LIMIT_BAL"].max()  # the model raises above the data's range
    counting = Counting(model, fail=lambda X: X["LIMIT_BAL"].to_numpy() > top)
    session = bind(data, counting)
    rows = data.X.loc[data.X.index[scores < 0.5][:5]].copy()
    rich = rows.iloc[[0]].copy()
    rich.index = ["rich"]
    rich["LIMIT_BAL"] = top + 10_000.0
    result = minimal_flip(session, pd.concat([rows, rich]), budget=600, random_state=0)
    table = result.to_frame().set_index("row")
    assert table.loc["rich", "status"] == "error" and not table.loc["rich", "flipped"]
    assert table["flipped"].iloc[:5].sum() >= 4
    assert sum(result.errors.values()) >= 1
    assert all("beyond the training range" in message for message in result.errors)
    assert (result.counterfactuals["LIMIT_BAL"] <= top).all()


def test_multiclass_flips_the_top_class(multiclass_data, multiclass_model):
    X, y = multiclass_data
    session = mdw.bind(multiclass_model, X, y)
    rows = list(X.index[:8])
    result = minimal_flip(session, rows, budget=400, random_state=0)
    top = multiclass_model.predict(X.loc[rows])
    new = multiclass_model.predict(result.counterfactuals)
    assert result.success_rate == 1.0
    assert (new != top[: len(new)]).all()
    assert (result.to_frame()["new"].to_numpy() == new).all()
    target = minimal_flip(session, rows, target=2, budget=400, random_state=0)
    assert (multiclass_model.predict(target.counterfactuals) == 2).all()
    assert target.to_frame().loc[top == 2, "status"].eq("already").all()


def test_regression_needs_a_threshold_to_cross(regression_data, regression_model):
    X, y = regression_data
    session = mdw.bind(regression_model, X, y)
    with pytest.raises(ValueError, match="pass threshold="):
        minimal_flip(session, [0])
    value = regression_model.predict(X)
    low = list(X.index[value < 0][:5])
    result = minimal_flip(session, low, threshold=0.0, budget=300, random_state=0)
    assert result.success_rate == 1.0
    assert (regression_model.predict(result.counterfactuals) >= 0).all()
    assert set(result.to_frame()["new"]) == {"above"}


def test_nan_scores_are_never_a_flip(binary_data, binary_model):
    X, y = binary_data

    state = {"nan": False}

    def model(df):  # NaN wherever f0 > 1: the search must not count those as flips
        p = binary_model.predict_proba(df)[:, 1]
        return np.where(state["nan"] & (df["f0"].to_numpy() > 1), np.nan, p)

    session = mdw.bind(model, X, y, task="binary")
    state["nan"] = True
    p = binary_model.predict_proba(X)[:, 1]
    rows = list(X.index[(p < 0.5) & (X["f0"] <= 1)][:5])
    result = minimal_flip(session, rows, budget=400, random_state=0)
    cfs = result.counterfactuals
    assert (cfs["f0"] <= 1).all()
    assert (binary_model.predict_proba(cfs)[:, 1] >= 0.5).all()
