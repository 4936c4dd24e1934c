"""Random attack: input patterns the model always raises on are retired (``skip_failing``).

Once a pattern has failed on ``skip_failing`` scored rows and never succeeded, later rows with
it are not sent to the model; the result says so, and a pattern with any success is never
retired.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mldebug_widgets as mdw
from mldebug_widgets.analysis.attack import MISSING, random_attack
from mldebug_widgets.datasets import CREDIT_SCHEMA
from mldebug_widgets.widgets._adversarial_views import attack_report

# -- retiring input patterns the model always raises on ------------------------------------
NAN_FEATURES = ["LIMIT_BAL", "SEX", "EDUCATION", "AGE", "PAY_0", "BILL_AMT1", "PAY_AMT1",
                "PAY_AMT2"]


@pytest.fixture(scope="module")
def nan_attacks():
    """A pipeline that rejects missing values, attacked with the default skip_failing and
    with every row scored (8 features, 30 % missing values: the full run stays short)."""
    data = mdw.datasets.load_credit(n_rows=1000)
    X = data.X.fillna(0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, data.y)
    session = mdw.bind(model, X, data.y, schema=CREDIT_SCHEMA)
    options = dict(n_rows=2000, features=NAN_FEATURES, missing_rate=0.3, random_state=0)
    out = {}
    for name, skip in (("default", {}), ("none", {"skip_failing": None})):
        calls = session.adapter.n_calls
        out[name] = random_attack(session, **options, **skip)
        out[f"{name}_calls"] = session.adapter.n_calls - calls
    return X, model, session, options, out


def test_patterns_that_always_fail_are_retired(nan_attacks):
    X, model, session, options, out = nan_attacks
    r, full = out["default"], out["none"]
    f, g, features = r.frame, full.frame, list(X.columns)
    assert r.n_calls == out["default_calls"] and full.n_calls == out["none_calls"]
    assert out["none_calls"] >= 5 * out["default_calls"]
    # the same rows; in the full run exactly the rows with a missing value fail
    pd.testing.assert_frame_equal(f[features], g[features])
    nan_rows = f[NAN_FEATURES].isna().any(axis=1).to_numpy()
    assert (g["error"].notna().to_numpy() == nan_rows).all() and full.n_skipped == 0
    # the same failing patterns reported: in the exceptions table, or retired
    failing = {f"{c} missing" for c in NAN_FEATURES}
    assert set(full.exceptions["pattern"]) == failing
    assert set(r.exceptions["pattern"]) | set(r.retired["pattern"]) == failing
    assert len(r.retired) >= 6 and set(r.retired["kind"]) == {MISSING}
    skipped = r.skipped.to_numpy()
    scored = ~skipped
    assert r.n_skipped == skipped.sum() > len(f) / 2 and r.n_queries == scored.sum()
    n_retired = f[r.retired["feature"].tolist()].isna().sum(axis=1).to_numpy()
    for feature in NAN_FEATURES:
        cells = f[feature].isna().to_numpy()
        found = r.retired.loc[r.retired["feature"] == feature]
        if found.empty:  # never succeeded either, but fewer than 50 failures were scored
            assert (cells & scored).sum() < 50
            continue
        row = found.iloc[0]
        # it failed on every scored row with it (at least 50), then its rows were skipped
        assert row["n_failed"] == (cells & scored).sum() == (cells & f["error"].notna()).sum()
        assert row["n_failed"] >= 50 and row["n_skipped"] == (cells & skipped).sum() > 0
        # rows skipped for this pattern alone come after every scored row with it
        alone = cells & skipped & (n_retired == 1)
        assert alone.any() and np.flatnonzero(cells & scored)[-1] < np.flatnonzero(alone)[0]
        assert "Input X contains NaN" in row["message"]
        line = (f"{row['pattern']}: the model raised on all {row['n_failed']} rows scored with "
                f"it; {row['n_skipped']:,} more rows with it were not scored: The model raised")
        assert any(s.startswith(line) for s in r.summary())
        listed = r.exceptions.loc[r.exceptions["pattern"] == row["pattern"], "rows_skipped"]
        assert (listed == row["n_skipped"]).all()
        effects = r.by_feature.set_index(["feature", "pattern"]).loc[(feature, MISSING)]
        assert effects["n_skipped"] == row["n_skipped"] and np.isnan(effects["mean"])
    # every skipped row carries a retired pattern (read from the injected cells)
    retired = (r.injected[r.retired["feature"].tolist()] == MISSING).any(axis=1).to_numpy()
    assert retired[skipped].all()
    assert f.loc[skipped, "prediction"].isna().all() and f.loc[skipped, "error"].isna().all()
    # the scored rows: errors exactly where a value is missing, else the model's predictions
    assert (f["error"].notna().to_numpy() == (scored & nan_rows)).all()
    ok = scored & ~nan_rows
    assert ok.sum() > 50
    np.testing.assert_allclose(model.predict_proba(f.loc[ok, features])[:, 1],
                               f.loc[ok, "prediction"])
    # ranges and counts over the scored rows (rows without a missing value are never skipped)
    assert r.range_without_missing == full.range_without_missing
    assert r.prediction_range == (f["prediction"].min(), f["prediction"].max())
    assert r.n_nonfinite == 0 and r.n_errors == (scored & nan_rows).sum()
    assert r.summary()[0].startswith(f"2,000 attack rows: {r.n_queries:,} scored with "
                                     f"{r.n_queries:,} model queries and {r.n_skipped:,} not "
                                     "scored")
    # the same seed, the same batches: the same result
    again = random_attack(session, **options)
    pd.testing.assert_frame_equal(again.frame, f)
    pd.testing.assert_series_equal(again.skipped, r.skipped)
    pd.testing.assert_frame_equal(again.retired, r.retired)


def test_the_attack_report_shows_the_skipped_rows(nan_attacks):
    r, full = nan_attacks[-1]["default"], nan_attacks[-1]["none"]
    shown = attack_report(r)
    assert f"{r.n_queries:,} rows scored" in shown
    assert f"{r.n_skipped:,} rows not scored: each carries an input pattern" in shown
    assert f"{len(r.retired)} patterns); skip_failing=None scores every row" in shown
    assert "<th>not scored</th>" in shown
    plain = attack_report(full)
    assert "not scored" not in plain and f"{len(full.frame):,} rows scored" in plain


def _credit_fn(reject):
    """A probability from LIMIT_BAL; raises on any row ``reject`` flags."""
    def fn(df):
        if reject(df).any():
            raise ValueError("rejected input")
        limit = df["LIMIT_BAL"].fillna(0).to_numpy(dtype=np.float64)
        return 0.5 + 0.5 * np.tanh((limit - 150_000) / 100_000)
    return fn


@pytest.fixture(scope="module")
def credit_filled():
    data = mdw.datasets.load_credit(n_rows=1000)
    return data.X.fillna(0), data.y


def test_only_the_pattern_that_always_fails_is_retired(credit_filled):
    X, y = credit_filled
    fn = _credit_fn(lambda df: df["PAY_AMT1"].isna())
    session = mdw.bind(fn, X, y, task="binary", schema=CREDIT_SCHEMA)
    r = random_attack(session, n_rows=2000, random_state=1)
    f = r.frame
    assert r.retired["pattern"].tolist() == ["PAY_AMT1 missing"]
    missing, skipped = f["PAY_AMT1"].isna().to_numpy(), r.skipped.to_numpy()
    assert (missing[skipped]).all() and skipped.sum() == r.retired["n_skipped"].item() > 100
    assert r.retired["n_failed"].item() == (missing & ~skipped).sum() >= 50
    assert (f["error"].notna().to_numpy() == (missing & ~skipped)).all()
    assert r.exceptions["pattern"].tolist() == ["PAY_AMT1 missing"]
    assert r.exceptions["rows_skipped"].item() == skipped.sum()
    assert r.exceptions["failure_rate"].item() == 1.0
    np.testing.assert_allclose(f.loc[~missing, "prediction"], fn(f.loc[~missing, list(X.columns)]))


def test_a_pattern_that_fails_only_sometimes_is_never_retired(credit_filled):
    X, y = credit_filled
    median = X["LIMIT_BAL"].median()
    session = mdw.bind(_credit_fn(lambda df: df["PAY_AMT1"].isna() & (df["LIMIT_BAL"] > median)),
                       X, y, task="binary", schema=CREDIT_SCHEMA)
    r = random_attack(session, n_rows=1500, random_state=2)
    full = random_attack(session, n_rows=1500, random_state=2, skip_failing=None)
    f = r.frame
    fails = (f["PAY_AMT1"].isna() & (f["LIMIT_BAL"] > median)).to_numpy()
    assert fails.sum() >= 50  # more failures than skip_failing, but also successes
    assert r.retired.empty and r.n_skipped == 0 and r.n_queries == 1500
    assert (f["error"].notna().to_numpy() == fails).all()
    row = r.exceptions.set_index("pattern").loc["PAY_AMT1 missing"]
    assert row["count"] == fails.sum() and 0.5 <= row["failure_rate"] < 1.0
    pd.testing.assert_frame_equal(f, full.frame)
    pd.testing.assert_frame_equal(r.exceptions, full.exceptions)
    pd.testing.assert_frame_equal(r.by_feature, full.by_feature)
    assert r.summary() == full.summary()
