"""Per-group threshold search: exact over the grid (brute force), meets its constraint."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from mldebug_widgets import bind, datasets
from mldebug_widgets.analysis import (
    group_metrics,
    optimise_thresholds,
    threshold_sweep,
    tradeoff,
    worst_air,
)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(3)
    n = 600
    X = pd.DataFrame({"p": rng.uniform(size=n), "g": rng.choice(["a", "b", "c"], n)})
    X.loc[X["g"] == "b", "p"] *= 0.6
    y = (rng.uniform(size=n) < X["p"]).astype(int)
    return bind(lambda df: df["p"].to_numpy(), X, y, task="binary", sensitive_features="g")


@pytest.mark.parametrize("objective", ["demographic_parity", "equal_opportunity",
                                       "equalised_odds", "air"])
def test_search_equals_brute_force(small, objective):
    grid = np.linspace(0, 1, 11)
    sweep = threshold_sweep(small, grid)
    plan = optimise_thresholds(small, objective, sweep=sweep, tolerance=0.1)
    groups = list(sweep.groups[:-1])
    best = -1.0
    for combo in itertools.product(grid, repeat=len(groups)):
        table = sweep.at_groups(list(combo))
        rows = table.iloc[:-1]
        ref = int(np.argmax(rows["count"].to_numpy()))
        if objective == "demographic_parity":
            ok = (rows["selection_rate"] - rows["selection_rate"].iloc[ref]).abs() <= 0.1
        elif objective == "equal_opportunity":
            ok = (rows["tpr"] - rows["tpr"].iloc[ref]).abs() <= 0.1
        elif objective == "equalised_odds":
            ok = ((rows["tpr"] - rows["tpr"].iloc[ref]).abs() <= 0.1) & \
                ((rows["fpr"] - rows["fpr"].iloc[ref]).abs() <= 0.1)
        else:
            favourable = 1 - rows["selection_rate"]
            ratio = favourable / favourable.iloc[ref]
            ok = (ratio >= 0.8) & (ratio <= 1.25)
        if ok.all():
            best = max(best, table["accuracy"].iloc[-1])
    assert plan.feasible
    assert plan.accuracy == pytest.approx(best)


def test_air_plan_fixes_the_planted_bias():
    data = datasets.load_credit(n_rows=20_000)
    session = bind(datasets.demo_model(data), data.X, data.y,
                   sensitive_features=["SEX", "AGE"], schema=datasets.CREDIT_SCHEMA)
    bins = {"AGE": [0, 30, 200]}
    calls = session.adapter.n_calls
    session.predictions()
    calls = session.adapter.n_calls
    plan = optimise_thresholds(session, "air", bins=bins)
    assert session.adapter.n_calls == calls  # the search reads the sweep only
    favourable = 1 - plan.table["selection_rate"].iloc[:-1]
    ratio = favourable / favourable.iloc[int(np.argmax(plan.table["count"].iloc[:-1]))]
    assert ratio.between(0.8, 1.25).all()
    # the plan's table is what group_metrics says at each group's own threshold
    for group, threshold in plan.thresholds.items():
        expected = group_metrics(session, threshold=threshold, bins=bins).loc[group]
        assert plan.table.loc[group, "tpr"] == pytest.approx(expected["tpr"], nan_ok=True)
        assert plan.table.loc[group, "count"] == expected["count"]


def test_unknown_objective(small):
    with pytest.raises(ValueError, match="objective must be one of"):
        optimise_thresholds(small, "calibration")


def test_tradeoff_curve_equals_group_metrics_at_each_threshold(small):
    grid = np.linspace(0.05, 0.95, 7)
    curve = tradeoff(threshold_sweep(small, grid), favourable="negative")
    for threshold in grid:
        table = group_metrics(small, threshold=threshold)
        favourable = 1.0 - table["selection_rate"].iloc[:-1]
        ratio = favourable / favourable.loc[table["count"].iloc[:-1].idxmax()]
        expected = np.minimum(ratio, 1 / ratio).min()  # by hand: min over groups
        assert curve.loc[threshold, "worst_air"] == pytest.approx(expected)
        assert curve.loc[threshold, "accuracy"] == pytest.approx(table["accuracy"].iloc[-1])
        assert worst_air(table) == pytest.approx(expected)


def test_worst_air_is_nan_when_undefined():
    table = pd.DataFrame({"count": [5, 5, 10], "selection_rate": [1.0, 1.0, 1.0]},
                         index=["a", "b", "overall"])
    assert np.isnan(worst_air(table))  # nobody gets the favourable outcome: 0 / 0
    assert worst_air(table, favourable="positive") == 1.0
