"""Constraints, grid search and evolutionary search (issue 5), against brute force and the
demo's planted adversarial pocket (default logit + 5 where PAY_AMT1 <= 200 and PAY_AMT2 <= 200).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

import mldebug_widgets as mdw
from mldebug_widgets.analysis._constraints import Constraints, grid_values
from mldebug_widgets.analysis._probe import BudgetError
from mldebug_widgets.analysis.adversarial import evolve_search, grid_search
from mldebug_widgets.schema import FeatureSchema, FeatureSpec

POCKET = 200.0


class Spy:
    """A model as a function that records every frame it scores; optional faults."""

    def __init__(self, model, *, raise_below=None, nan_pay0=None, sleep=0.0):
        self.model, self.frames = model, []
        self.raise_below, self.nan_pay0, self.sleep = raise_below, nan_pay0, sleep
        self.armed = False  # faults start after binding (bind checks the output is finite)

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        if self.armed:
            self.frames.append(df.copy())
            time.sleep(self.sleep)
            if self.raise_below is not None and (df["PAY_AMT1"] < self.raise_below).any():
                raise ValueError("negative payment amount")
        proba = self.model.predict_proba(df)
        if self.armed and self.nan_pay0 is not None:
            proba[(df["PAY_0"] >= self.nan_pay0).to_numpy()] = np.nan
        return proba

    @property
    def seen(self) -> pd.DataFrame:
        return pd.concat(self.frames, ignore_index=True)


@pytest.fixture(scope="module")
def credit():
    return mdw.datasets.load_credit(n_rows=3_000, random_state=0)


@pytest.fixture(scope="module")
def hgb(credit):
    return mdw.datasets.demo_model(credit, kind="hgb")


@pytest.fixture(scope="module")
def logistic(credit):
    return mdw.datasets.demo_model(credit, kind="logistic")


@pytest.fixture(scope="module")
def session(credit, hgb):
    return mdw.bind(hgb, credit.X, credit.y, schema=mdw.datasets.CREDIT_SCHEMA)


def spy_session(credit, hgb, **faults):
    spy = Spy(hgb, **faults)
    session = mdw.bind(spy, credit.X, credit.y, task="binary",
                       schema=mdw.datasets.CREDIT_SCHEMA)
    spy.armed = True
    return spy, session


@pytest.fixture(scope="module")
def outside(session, credit):
    """A prototype far outside the pocket with a low default probability."""
    X, p = session.X, session.predictions()[:, 0]
    ok = (X["PAY_AMT1"] > 2_000) & (X["PAY_AMT2"] > 2_000) & (p < 0.2)
    assert not credit.bugs["adversarial_pocket"].mask[ok.to_numpy()].any()
    return X.index[ok.to_numpy()][0]


# -- the grid rule and the constraints ---------------------------------------------------
def test_grid_values_follow_the_seed_rule_by_hand():
    # lo = -10 - |0.1 * -10| = -11, hi = 50 + |0.1 * 50| = 55, 5 points: step 16.5
    assert grid_values((-10.0, 50.0), 5, 0.1).tolist() == [-11.0, 5.5, 22.0, 38.5, 55.0]
    # integers: numpy rounding (half to even: 5.5 -> 6, 38.5 -> 38), unique
    assert grid_values((-10.0, 50.0), 5, 0.1, integer=True).tolist() == [-11, 6, 22, 38, 55]
    assert grid_values((-1.0, 1.0), 10, 0.0, integer=True).tolist() == [-1, 0, 1]
    # a positive minimum moves down: 10 - 1 = 9; 50 + 5 = 55; step 11.5
    assert grid_values((10.0, 50.0), 5).tolist() == [9.0, 20.5, 32.0, 43.5, 55.0]
    frame = pd.DataFrame({"x": [-10.0, 3.0, 50.0], "n": [-10, 3, 50], "c": ["b", "a", "b"]})
    schema = FeatureSchema.infer(frame)
    assert grid_values(schema["x"], 5).tolist() == [-11.0, 5.5, 22.0, 38.5, 55.0]
    assert grid_values(schema["n"], 5).tolist() == [-11, 6, 22, 38, 55]
    assert grid_values(schema["c"], 5).tolist() == ["a", "b"]
    session = mdw.bind(lambda df: df["x"] + df["n"], frame, task="regression")
    result = grid_search(session, 0, ["x", "n", "c"], resolution=5)
    assert result.grid["x"].tolist() == [-11.0, 5.5, 22.0, 38.5, 55.0]
    assert result.grid["n"].tolist() == [-11, 6, 22, 38, 55]
    assert result.grid["c"].tolist() == ["a", "b"]


def test_grid_values_bad_resolution():
    with pytest.raises(ValueError, match="resolution"):
        grid_values((0.0, 1.0), 1)


def test_constraints_project_sample_and_distance():
    schema = FeatureSchema([
        FeatureSpec("x", "numeric", min=0.0, max=100.0,
                    quantiles=tuple(np.linspace(0, 100, 101))),
        FeatureSpec("n", "integer", "int64", min=0, max=10),
        FeatureSpec("c", "categorical", "object", categories=("a", "b")),
        FeatureSpec("k", "categorical", "int64", categories=(1, 2, 5)),
        FeatureSpec("age", "integer", "int64", min=18, max=90, mutable=False),
    ])
    base = pd.DataFrame({"x": [50.0], "n": [5], "c": ["a"], "k": [1], "age": [40]})
    c = Constraints(schema, {"age"}, monotone={"x": -1})
    assert c.bounds("x") == (0.0, 110.0)
    assert c.bounds("x", 50.0) == (0.0, 50.0)  # may only decrease
    assert c.bounds("n") == (0.0, 11.0)
    frame = pd.DataFrame({"x": [80.0, -5.0, np.nan], "n": [3.4, 99.0, -7.0],
                          "c": ["b", "zzz", None], "k": [4, 2, 7], "age": [18, 99, 40]})
    out = c.project(frame, base)
    assert out["x"].tolist() == [50.0, 0.0, 50.0]  # monotone clip; missing -> prototype
    assert out["n"].tolist() == [3, 11, 0] and out["n"].dtype == np.int64
    assert out["c"].tolist() == ["b", "a", "a"]  # unknown and missing -> prototype
    assert out["k"].tolist() == [5, 2, 5]  # nearest known code
    assert out["age"].tolist() == [40, 40, 40]
    assert frame["n"].tolist() == [3.4, 99.0, -7.0]  # input untouched
    rows = c.sample(np.random.default_rng(0), base, ["x", "n", "c", "k"], 500)
    assert rows["x"].between(0, 50).all() and set(rows["n"]) == set(range(12))
    assert set(rows["c"]) == {"a", "b"} and set(rows["k"]) == {1, 2, 5}
    assert (rows["age"] == 40).all()
    assert list(rows.dtypes) == list(base.dtypes)
    scale = c.scales()["x"]
    assert scale == pytest.approx(50 / 1.349)
    dist, k = c.distance(pd.DataFrame({"x": [50.0, 50.0 - scale], "n": [5, 7], "c": ["a", "b"],
                                       "k": [1, 1], "age": [40, 40]}), base)
    assert k.tolist() == [0, 3]
    assert dist[0] == 0 and dist[1] == pytest.approx(1 + 2 / c.scales()["n"] + 1)
    with pytest.raises(ValueError, match="immutable"):
        c.sample(np.random.default_rng(0), base, ["age"], 3)


def test_constraints_errors_and_missing():
    schema = FeatureSchema([FeatureSpec("x", "numeric", min=0.0, max=1.0, allow_missing=True),
                            FeatureSpec("s", "categorical", categories=(1, 2), mutable=False)])
    with pytest.raises(ValueError, match="every feature is immutable.*immutable=\\[\\]"):
        Constraints(schema, {"x", "s"}).searchable()
    with pytest.raises(ValueError, match="unknown feature"):
        Constraints(schema).searchable(["nope"])
    with pytest.raises(ValueError, match="monotone"):
        Constraints(schema, monotone={"x": 2})
    with pytest.raises(ValueError, match="empty"):
        Constraints(schema, ranges={"x": (1.0, 0.0)})
    assert Constraints(schema, ranges={"x": (-5, 5)}).bounds("x") == (-5.0, 5.0)
    base = pd.Series({"x": 0.5, "s": 1})
    frame = pd.DataFrame({"x": [np.nan], "s": [2]})
    assert np.isnan(Constraints(schema, allow_missing=True).project(frame, base)["x"][0])
    assert Constraints(schema).project(frame, base)["x"][0] == 0.5


# -- grid search ----------------------------------------------------------------------------
@pytest.mark.parametrize("agg", ["max", "mean", "min"])
def test_surface_equals_brute_force_groupby(session, outside, agg):
    result = grid_search(session, outside, ["PAY_AMT1", "PAY_0", "EDUCATION"], resolution=5)
    assert result.n_queries == len(result.frame) == np.prod([len(v) for v in
                                                            result.grid.values()])
    for f1, f2 in [("PAY_AMT1", "PAY_0"), ("EDUCATION", "PAY_AMT1")]:
        expected = (result.frame.groupby([f1, f2])["prediction"].agg(agg).unstack()
                    .reindex(index=result.grid[f1], columns=result.grid[f2]))
        np.testing.assert_allclose(result.surface(f1, f2, agg), expected.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(result.surface("PAY_0", "PAY_AMT1", agg),
                               result.surface("PAY_AMT1", "PAY_0", agg).T)
    curve = result.frame.groupby("PAY_0")["prediction"].agg(agg).reindex(result.grid["PAY_0"])
    np.testing.assert_allclose(result.curve("PAY_0", agg), curve.to_numpy())


def test_grid_predictions_equal_the_model_row_by_row(session, hgb, outside):
    result = grid_search(session, outside, ["PAY_AMT1", "EDUCATION"], resolution=4)
    best = result.best(len(result.frame))
    np.testing.assert_allclose(best["prediction"],
                               hgb.predict_proba(best[session.features])[:, 1], rtol=1e-12)
    assert (best["AGE"] == session.X.loc[outside, "AGE"]).all()
    assert list(best[session.features].dtypes) == list(session.X.dtypes)
    assert best["prediction"].is_monotonic_decreasing


def test_grid_finds_the_planted_pocket(session, outside):
    proto = session.predictions()[session.position(outside), 0]
    result = grid_search(session, outside, ["PAY_AMT1", "PAY_AMT2"], resolution=12)
    surface = result.surface("PAY_AMT1", "PAY_AMT2")
    i, j = np.unravel_index(np.nanargmax(surface), surface.shape)
    assert result.grid["PAY_AMT1"][i] <= POCKET and result.grid["PAY_AMT2"][j] <= POCKET
    assert surface[i, j] > proto + 0.3
    # zoomed in on 0..2000 (steps of 100): the pocket's 3 x 3 cells stand out
    ranges = {"PAY_AMT1": (0, 2_000), "PAY_AMT2": (0, 2_000)}
    zoom = grid_search(session, outside, ["PAY_AMT1", "PAY_AMT2"], resolution=21,
                       constraints=Constraints.from_session(session, ranges=ranges))
    s = zoom.surface("PAY_AMT1", "PAY_AMT2")
    inside = np.logical_and.outer(zoom.grid["PAY_AMT1"] <= POCKET,
                                  zoom.grid["PAY_AMT2"] <= POCKET)
    far = np.logical_or.outer(zoom.grid["PAY_AMT1"] >= 500, zoom.grid["PAY_AMT2"] >= 500)
    assert inside.sum() == 9 and s[inside].max() == s.max()
    # the model learned a blurred pocket (few training rows lie at 100..300), yet its
    # inside is several times the surface away from it
    assert s[inside].mean() > 3 * s[far].mean()


def test_grid_refuses_bad_requests(session, outside):
    with pytest.raises(ValueError, match="immutable"):
        grid_search(session, outside, ["PAY_AMT1", "AGE"])
    with pytest.raises(ValueError, match="resolution=10"):
        grid_search(session, outside, ["PAY_AMT1", "PAY_AMT2"], resolution=50, budget=100)
    with pytest.raises(ValueError, match="1 to 4"):
        grid_search(session, outside, ["PAY_AMT1", "PAY_AMT2", "PAY_AMT3", "PAY_AMT4",
                                       "PAY_AMT5"])
    with pytest.raises(BudgetError, match="budget"):
        grid_search(session, outside, ["PAY_AMT1"], budget=0)
    with pytest.raises(ValueError, match="f1 and f2"):
        grid_search(session, outside, ["PAY_AMT1"], resolution=3).surface("PAY_AMT1",
                                                                          "PAY_AMT1")


def test_grid_model_failures_are_reported(credit, hgb, outside):
    spy, session = spy_session(credit, hgb, raise_below=0)
    ranges = {"PAY_AMT1": (-1_000, 1_000)}
    result = grid_search(session, outside, ["PAY_AMT1", "PAY_AMT2"], resolution=5,
                         constraints=Constraints.from_session(session, ranges=ranges))
    negative = result.frame["PAY_AMT1"] < 0
    assert negative.sum() == 10
    assert result.frame.loc[negative, "prediction"].isna().all()
    assert result.frame.loc[~negative, "prediction"].notna().all()
    (message, count), = result.errors.items()
    assert "negative payment amount" in message and count == 10
    assert result.best(3)["PAY_AMT1"].ge(0).all()


def test_grid_cancel_between_chunks(credit, hgb, outside):
    spy, session = spy_session(credit, hgb)
    stop = threading.Event()
    result = grid_search(session, outside, ["PAY_AMT1", "PAY_AMT2", "BILL_AMT1"],
                         resolution=30, progress=lambda f: stop.set(), cancel=stop)
    assert result.cancelled and result.n_queries == 10_000 == len(spy.seen)
    assert result.frame["prediction"].notna().sum() == 10_000 < len(result.frame)
    assert np.isfinite(result.surface("PAY_AMT1", "PAY_AMT2")).any()


# -- evolutionary search ----------------------------------------------------------------------
def test_evolve_finds_the_pocket_and_never_moves_immutables(credit, hgb, outside):
    spy, session = spy_session(credit, hgb)
    proto = session.row(outside)
    result = evolve_search(session, outside, random_state=0)  # 64 x 30, budget 5,000
    best = result.best
    assert best["PAY_AMT1"] <= POCKET and best["PAY_AMT2"] <= POCKET
    assert {"PAY_AMT1", "PAY_AMT2"} <= set(result.changed[0])
    assert best["prediction"] > result.prototype_objective + 0.5
    assert len(result.changed[0]) <= 6  # simplified: the few changes that matter
    seen = spy.seen
    assert len(seen) == result.n_queries <= 5_000
    for name in ("SEX", "AGE"):
        assert (seen[name] == proto[name].item()).all()
    assert seen["EDUCATION"].isin(session.schema["EDUCATION"].categories).all()
    assert (seen["PAY_0"] == seen["PAY_0"].round()).all()
    np.testing.assert_allclose(result.rows["prediction"],
                               hgb.predict_proba(result.rows[session.features])[:, 1])
    assert np.all(np.diff(result.history) >= 0)  # the best so far never gets worse
    # without PAY_AMT1 and PAY_AMT2 the same search stays below the pocket
    others = [f for f in session.features if f not in ("SEX", "AGE", "PAY_AMT1", "PAY_AMT2")]
    without = evolve_search(session, outside, features=others, random_state=0)
    assert without.history[-1] < result.history[-1]


def test_evolve_minimise_and_monotone(credit, hgb, session):
    X, p = session.X, session.predictions()[:, 0]
    high = X.index[np.argmax(np.where(credit.bugs["adversarial_pocket"].mask, p, -1))]
    spy, spied = spy_session(credit, hgb)
    constraints = Constraints.from_session(spied, monotone={"PAY_AMT1": 1, "PAY_AMT2": 1})
    result = evolve_search(spied, high, objective="minimise", constraints=constraints,
                           population=32, generations=10, budget=1_000, random_state=1)
    assert result.best["prediction"] < result.prototype_objective - 0.3
    assert np.all(np.diff(result.history) <= 0)
    assert result.rows["objective"].is_monotonic_increasing or result.rows["objective"].iloc[
        1:].is_monotonic_increasing  # simplified best first, then by objective
    for name in ("PAY_AMT1", "PAY_AMT2"):
        assert (spy.seen[name] >= X.loc[high, name]).all()  # may only increase


def test_evolve_disagree_with_a_logistic_benchmark(session, hgb, logistic, outside):
    result = evolve_search(session, outside, objective="disagree", benchmark=logistic,
                           population=32, generations=10, budget=1_000, random_state=0)
    row = session.row(outside)
    start = abs(hgb.predict_proba(row)[0, 1] - logistic.predict_proba(row)[0, 1])
    assert result.prototype_objective == pytest.approx(start)
    assert result.best["objective"] > start + 0.2
    rows = result.rows[session.features]
    np.testing.assert_allclose(result.rows["benchmark"], logistic.predict_proba(rows)[:, 1])
    np.testing.assert_allclose(result.rows["objective"],
                               np.abs(hgb.predict_proba(rows)[:, 1]
                                      - logistic.predict_proba(rows)[:, 1]))
    with pytest.raises(ValueError, match="benchmark"):
        evolve_search(session, outside, objective="disagree")


def test_evolve_is_reproducible_and_keeps_the_budget(session, outside):
    kwargs = dict(population=16, generations=5, budget=60, random_state=3)
    calls = session.adapter.n_calls
    a = evolve_search(session, outside, **kwargs)
    b = evolve_search(session, outside, **kwargs)
    pd.testing.assert_frame_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.history, b.history)
    assert a.changed == b.changed and a.n_queries == b.n_queries <= 60
    assert session.adapter.n_calls > calls
    c = evolve_search(session, outside, **{**kwargs, "random_state": 4})
    assert not c.rows.equals(a.rows)
    with pytest.raises(BudgetError, match="budget must be at least 1"):
        evolve_search(session, outside, budget=0)
    every = Constraints.from_session(session, immutable=session.features)
    with pytest.raises(ValueError, match="every feature is immutable"):
        evolve_search(session, outside, constraints=every)
    with pytest.raises(ValueError, match="objective"):
        evolve_search(session, outside, objective="maximize")


def test_evolve_stops_when_cancelled_from_progress(credit, hgb, outside):
    spy, session = spy_session(credit, hgb, sleep=0.02)
    stop = threading.Event()
    reports = []

    def progress(fraction):
        reports.append(fraction)
        stop.set()

    result = evolve_search(session, outside, population=32, generations=1_000,
                           budget=100_000, progress=progress, cancel=stop, random_state=0)
    # stopped after the initial population (one call), far below the budget
    assert result.cancelled and result.n_queries == 32 == len(spy.seen)
    assert len(spy.frames) == 1 and len(result.history) == 1
    assert reports[-1] < 1.0  # a stopped search does not report itself done


def test_evolve_stops_when_cancelled_from_a_timer(credit, hgb, outside):
    spy, session = spy_session(credit, hgb, sleep=0.05)
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        result = evolve_search(session, outside, population=32, generations=10_000,
                               budget=320_000, cancel=stop, random_state=0)
    finally:
        timer.cancel()
    assert result.cancelled and result.n_queries < 32_000  # budget / 10
    assert len(spy.seen) == result.n_queries


def test_evolve_continues_past_a_model_that_raises(credit, hgb, outside):
    spy, session = spy_session(credit, hgb, raise_below=0)
    ranges = {"PAY_AMT1": (-2_000, 2_000)}
    result = evolve_search(session, outside, population=32, generations=8, budget=1_000,
                           constraints=Constraints.from_session(session, ranges=ranges),
                           random_state=0)
    (message, count), = result.errors.items()
    assert "negative payment amount" in message and count > 0
    assert result.n_queries > 32 * 4  # the search went on after the first failures
    assert result.rows["prediction"].notna().all() and (result.rows["PAY_AMT1"] >= 0).all()


def test_evolve_never_returns_nan_rows(credit, hgb, outside):
    # NaN where PAY_0 >= 3: the region a maximising search is drawn to
    spy, session = spy_session(credit, hgb, nan_pay0=3)
    result = evolve_search(session, outside, population=32, generations=10, budget=1_000,
                           random_state=0)
    assert result.n_nonfinite == (spy.seen["PAY_0"] >= 3).sum() > 0
    assert np.isfinite(result.rows["prediction"]).all() and (result.rows["PAY_0"] < 3).all()
    grid = grid_search(session, outside, ["PAY_0", "PAY_AMT1"], resolution=5)
    n_nan = (grid.grid["PAY_0"] >= 3).sum() * 5
    assert grid.frame["prediction"].isna().sum() == n_nan == grid.n_nonfinite > 0
    best = grid.best(100)
    assert best["prediction"].notna().all() and len(best) == len(grid.frame) - n_nan


def test_multiclass_needs_an_output(multiclass_data, multiclass_model):
    X, y = multiclass_data
    session = mdw.bind(multiclass_model, X, y)
    with pytest.raises(ValueError, match="output="):
        grid_search(session, 0, ["f0"])
    result = grid_search(session, 0, ["f0", "f1"], resolution=4, output=2)
    expected = multiclass_model.predict_proba(result.best(16)[X.columns])[:, 2]
    np.testing.assert_allclose(np.sort(result.frame["prediction"]), np.sort(expected))
    found = evolve_search(session, 0, output=2, population=8, generations=3, random_state=0)
    assert found.output == 2 and found.best["prediction"] >= found.prototype_objective


def test_progress_rises_to_one(session, outside):
    grid_reports, evolve_reports = [], []
    grid_search(session, outside, ["PAY_AMT1", "PAY_AMT2", "BILL_AMT1"], resolution=25,
                progress=grid_reports.append)
    assert grid_reports == [10_000 / 15_625, 1.0]
    evolve_search(session, outside, population=16, generations=4, budget=200,
                  progress=evolve_reports.append, random_state=0)
    assert evolve_reports == sorted(evolve_reports) and evolve_reports[-1] == 1.0
    assert len(evolve_reports) == 5


def test_string_categories_and_missing_values(mixed_data, pipeline_model):
    X, y = mixed_data
    session = mdw.bind(pipeline_model, X, y)
    constraints = Constraints.from_session(session, immutable=["age"], allow_missing=True)
    grid = grid_search(session, 0, ["income", "city"], resolution=4, constraints=constraints)
    assert np.isnan(grid.grid["income"][-1]) and pd.isna(grid.grid["city"][-1])
    assert list(grid.grid["city"][:-1]) == ["east", "north", "south"]
    rows = grid.best(len(grid.frame))
    # 5 incomes (4 + missing) x 4 cities (3 + missing)
    assert len(rows) == 20 and rows["income"].isna().sum() == 4
    assert rows["city"].isna().sum() == 5
    assert list(rows[X.columns].dtypes) == list(X.dtypes)
    np.testing.assert_allclose(rows["prediction"],
                               pipeline_model.predict_proba(rows[X.columns])[:, 1])
    found = evolve_search(session, 0, constraints=constraints, population=16, generations=5,
                          random_state=0)
    assert (found.rows["age"] == X.loc[0, "age"]).all()
    assert found.rows["city"].dropna().isin(["east", "north", "south"]).all()
    assert list(found.rows[X.columns].dtypes) == list(X.dtypes)
    np.testing.assert_allclose(found.rows["prediction"],
                               pipeline_model.predict_proba(found.rows[X.columns])[:, 1])
    # without allow_missing no candidate is missing anywhere the prototype is not
    strict = evolve_search(session, 0, population=16, generations=5, random_state=0,
                           constraints=Constraints.from_session(session, immutable=["age"]))
    assert not strict.rows[X.columns].isna().any().any()
