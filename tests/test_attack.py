"""Random attack: draws under the seed's rule, injection rates, the planted input fault,
exceptions by pattern, non-finite and out-of-range outputs, reproducibility, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import mldebug_widgets as mdw
from mldebug_widgets.analysis.attack import (
    EXTREME,
    MISSING,
    NO_PATTERN,
    PATTERNS,
    UNSEEN,
    WRONG_TYPE,
    AttackResult,
    random_attack,
)
from mldebug_widgets.datasets import CREDIT_SCHEMA


def _binomial_ok(count: int, n: int, rate: float) -> bool:
    """Count within 4.5 standard deviations of n * rate."""
    return abs(count - n * rate) <= 4.5 * np.sqrt(n * rate * (1 - rate)) + 1


@pytest.fixture(scope="module")
def credit():
    data = mdw.datasets.load_credit(n_rows=3000)
    model = mdw.datasets.demo_model(data)
    return data, model, mdw.bind(model, data.X, data.y, schema=CREDIT_SCHEMA)


@pytest.fixture(scope="module")
def credit_attack(credit):
    return random_attack(credit[2], n_rows=2000, random_state=0)


@pytest.fixture(scope="module")
def tiny():
    """x numeric on [-10, 50], n integer on [10, 40], c strings, k integer codes, b boolean."""
    X = pd.DataFrame({"x": [-10.0, 50.0, 0.0, 20.0], "n": [10, 40, 25, 11],
                      "c": ["a", "b", "c", "a"], "k": [1, 2, 3, 1], "b": [True, False, True, True]})
    return X, mdw.bind(lambda df: np.zeros(len(df)), X, task="regression",
                       schema={"k": {"kind": "categorical"}})


# -- drawing ----------------------------------------------------------------------------
def test_clean_draws_lie_within_the_seed_rule_bounds(tiny):
    X, session = tiny
    r = random_attack(session, n_rows=3000, missing_rate=0, unseen_rate=0, extreme_rate=0,
                      random_state=0)
    f = r.frame
    # by hand: x in [-10 - 1, 50 + 5]; n in [10 - 1, 40 + 4] (whole numbers)
    assert r.bounds == {"x": (-11.0, 55.0), "n": (9.0, 44.0)}
    assert f["x"].between(-11.0, 55.0).all() and f["x"].min() < -10.5 and f["x"].max() > 54.5
    assert f["n"].dtype == np.int64 and set(f["n"]) == set(range(9, 45))
    assert set(f["c"]) == {"a", "b", "c"} and set(f["k"]) == {1, 2, 3}
    assert f["k"].dtype == np.int64 and f["b"].dtype == bool
    assert (r.injected == "").all().all() and (f["patterns"].map(len) == 0).all()
    assert list(f.columns[:5]) == list(X.columns)


def test_injected_cells_and_rates(tiny):
    X, session = tiny
    n = 4000
    rates = dict(missing_rate=0.1, unseen_rate=0.05, extreme_rate=0.04, wrong_type_rate=0.03)
    r = random_attack(session, n_rows=n, random_state=1, **rates)
    f, inj = r.frame, r.injected
    for col in X.columns:
        assert _binomial_ok(int((inj[col] == MISSING).sum()), n, 0.1)
        # missing values exactly where the report says (an independent look at the frame)
        assert (f[col].isna() == (inj[col] == MISSING)).all()
    for col in ("x", "n"):
        assert _binomial_ok(int((inj[col] == EXTREME).sum()), n, 0.04)
        assert _binomial_ok(int((inj[col] == WRONG_TYPE).sum()), n, 0.03)
        assert f[col].dtype == object
        text = f[col].map(lambda v: isinstance(v, str))
        assert (text == (inj[col] == WRONG_TYPE)).all()
        normal = inj[col] == ""
        values = pd.to_numeric(f[col], errors="coerce")  # the text holds the drawn number
        lo, hi = r.bounds[col]
        assert values[normal | text].between(lo, hi).all()
        # by hand: max + 1e6 * range or min - 1e6 * range
        width = X[col].max() - X[col].min()
        assert set(values[inj[col] == EXTREME]) == {X[col].max() + 1e6 * width,
                                                     X[col].min() - 1e6 * width}
    assert (pd.to_numeric(f["n"], errors="coerce").dropna() % 1 == 0).all()
    for col, known in (("c", {"a", "b", "c"}), ("k", {1, 2, 3})):
        assert _binomial_ok(int((inj[col] == UNSEEN).sum()), n, 0.05)
        unseen = ~f[col].isin(known) & f[col].notna()
        assert (unseen == (inj[col] == UNSEEN)).all()
    assert set(f.loc[inj["k"] == UNSEEN, "k"]) == {4}
    assert set(inj["b"]) == {"", MISSING}  # a boolean has no unseen value
    # the patterns column lists every injected cell
    expected = [tuple(f"{c} {inj.at[i, c]}" for c in X.columns if inj.at[i, c])
                for i in range(n)]
    assert f["patterns"].tolist() == expected


def test_attacked_subset_keeps_real_rows_for_the_other_columns(credit):
    data, _, session = credit
    r = random_attack(session, n_rows=300, features=["PAY_AMT1", "PAY_AMT2"], random_state=2)
    others = [c for c in data.X.columns if c not in ("PAY_AMT1", "PAY_AMT2")]
    real = set(map(tuple, data.X[others].to_numpy()))
    assert all(tuple(row) in real for row in r.frame[others].to_numpy())
    assert r.features == ("PAY_AMT1", "PAY_AMT2") and list(r.injected.columns) == list(r.features)


# -- the planted input fault ------------------------------------------------------------
def test_finds_the_missing_payment_imputation_fault(credit, credit_attack):
    data, model, session = credit
    r = credit_attack
    f = r.frame
    assert isinstance(r, AttackResult) and len(f) == 2000 and r.n_queries == 2000
    bug = data.bugs["missing_payment_imputation"]
    missing = r.by_feature[r.by_feature["pattern"] == MISSING].set_index("feature")
    top = missing["difference"].sort_values(ascending=False).index[:2]
    assert set(top) == set(bug.features)
    for feature in bug.features:
        # independent: pandas on the frame, normal = in the drawn range (not missing/extreme)
        low, high = data.X[feature].min(), data.X[feature].max()
        lo, hi = low - abs(0.1 * low), high + abs(0.1 * high)
        was_missing = f[feature].isna()
        normal = f[feature].between(lo, hi)
        assert missing.at[feature, "mean"] == pytest.approx(f.loc[was_missing, "prediction"].mean())
        assert missing.at[feature, "baseline_mean"] == pytest.approx(
            f.loc[normal, "prediction"].mean())
        assert missing.at[feature, "difference"] > 0.1 and missing.at[feature, "notable"]
        assert any(line.startswith(f"Missing {feature} raises the mean prediction")
                   for line in r.summary())
    # the striking predictions: the highest 1 % (20 rows) are mostly missing PAY_AMT1/2
    k = r.tail_size
    top_rows = f["prediction"].nlargest(k).index
    assert k == 20 and set(missing["top_lift"].sort_values().index[-2:]) == set(bug.features)
    for feature in bug.features:
        assert missing.at[feature, "top_count"] == f.loc[top_rows, feature].isna().sum() >= 10
        assert missing.at[feature, "top_notable"]
        assert any(line.startswith(f"Missing {feature} is in ") and f"of the {k} highest" in line
                   for line in r.summary())
    # the mechanism: missing is scored as 0 (the imputer), which lands in the pocket
    both = f["PAY_AMT1"].isna() & f["PAY_AMT2"].isna()
    assert both.sum() >= 10 and f.loc[both, "prediction"].mean() > 0.6
    zeros = f.loc[both, list(data.X.columns)].copy()
    zeros[["PAY_AMT1", "PAY_AMT2"]] = 0.0
    np.testing.assert_allclose(model.predict_proba(zeros)[:, 1], f.loc[both, "prediction"])
    # ranges, recomputed from the frame
    any_missing = f[list(data.X.columns)].isna().any(axis=1)
    assert r.prediction_range == (f["prediction"].min(), f["prediction"].max())
    assert r.range_with_missing == (f.loc[any_missing, "prediction"].min(),
                                    f.loc[any_missing, "prediction"].max())
    assert r.range_without_missing == (f.loc[~any_missing, "prediction"].min(),
                                       f.loc[~any_missing, "prediction"].max())
    assert r.range_with_missing[1] > r.range_without_missing[1] + 0.2
    assert r.exceptions.empty and r.n_nonfinite == 0 and r.n_out_of_range == 0
    assert r.output_bounds == (0.0, 1.0)


def test_predictions_match_the_model(credit, credit_attack):
    data, model, _ = credit
    f = credit_attack.frame.iloc[:300]
    np.testing.assert_allclose(model.predict_proba(f[list(data.X.columns)])[:, 1],
                               f["prediction"])


# -- failures ---------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_exceptions_are_attributed_to_the_unseen_category(credit):
    data, _, _ = credit
    X, y = data.X, data.y
    numeric = [c for c in X.columns if c not in ("SEX", "EDUCATION", "MARRIAGE")]
    pre = ColumnTransformer([
        ("edu", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="error")), ["EDUCATION"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), ["SEX", "MARRIAGE"]),
        ("num", SimpleImputer(strategy="median"), numeric)])
    model = make_pipeline(pre, LogisticRegression(max_iter=50)).fit(X, y)
    session = mdw.bind(model, X, y, schema=CREDIT_SCHEMA)
    r = random_attack(session, n_rows=1000, unseen_rate=0.03, random_state=3)
    f = r.frame
    unseen = f["EDUCATION"].notna() & ~f["EDUCATION"].isin(session.schema["EDUCATION"].categories)
    assert unseen.sum() > 10 and (f["SEX"].isin([3]).sum() + f["MARRIAGE"].isin([4])).sum() > 10
    assert len(r.exceptions) == 1
    row = r.exceptions.iloc[0]
    assert row["pattern"] == "EDUCATION unseen category"
    assert (row["feature"], row["kind"]) == ("EDUCATION", UNSEEN)
    assert row["count"] == unseen.sum() == row["rows_with_pattern"] and row["failure_rate"] == 1
    assert "unknown categories" in row["message"]
    assert (f["error"].notna() == unseen).all() and r.n_errors == unseen.sum()
    assert f.loc[~unseen, "prediction"].notna().all() and f.loc[unseen, "prediction"].isna().all()
    assert r.n_queries == 1000 and not r.cancelled and r.n_nonfinite == 0
    assert unseen.sum() < r.n_calls < 4 * unseen.sum()  # failing rows isolated in few calls
    ok = f.loc[~unseen].iloc[:200]
    np.testing.assert_allclose(model.predict_proba(ok[list(X.columns)])[:, 1], ok["prediction"])
    assert any("EDUCATION unseen category (100% of such rows failed)" in s for s in r.summary())


def _probe_calls(fails: np.ndarray) -> int:
    """Model calls to isolate the failing rows of one batch: halve it until below 8 rows,
    then one row at a time (the probe's documented rule, counted by hand)."""
    if not fails.any() or len(fails) == 1:
        return 1
    if len(fails) < 8:
        return 1 + sum(_probe_calls(fails[i:i + 1]) for i in range(len(fails)))
    half = len(fails) // 2
    return 1 + _probe_calls(fails[:half]) + _probe_calls(fails[half:])


def test_greedy_attribution_is_honest_when_every_missing_value_fails(binary_data):
    X, y = binary_data
    session = mdw.bind(LogisticRegression().fit(X, y), X, y)  # no NaN support
    calls, seen = session.adapter.n_calls, []
    # skip_failing=None: every row scored, in batches of batch_size, as before the option
    r = random_attack(session, n_rows=600, extreme_rate=0, random_state=4, batch_size=250,
                      skip_failing=None, progress=seen.append)
    f = r.frame
    assert seen == [250 / 600, 500 / 600, 1.0] and r.n_skipped == 0 and r.retired.empty
    assert not r.skipped.any() and r.n_queries == 600 and r.skip_failing is None
    # the calls: each batch of 250 rows sorted by its injected patterns, failing rows isolated
    codes = r.injected.replace({"": 0, MISSING: 1, UNSEEN: 3}).to_numpy(dtype=np.int8)
    fails = f[list(X.columns)].isna().any(axis=1).to_numpy()
    expected = sum(_probe_calls(fails[start + np.lexsort(codes[start:start + 250].T[::-1])])
                   for start in range(0, 600, 250))
    assert r.n_calls == session.adapter.n_calls - calls == expected
    failing = f[list(X.columns)].isna().any(axis=1)
    assert (f["error"].notna() == failing).all()
    ex = r.exceptions
    assert set(ex["pattern"]) == {f"{c} missing" for c in X.columns}
    assert ex["count"].sum() == failing.sum()  # each failing row attributed once
    assert (ex["failure_rate"] == 1.0).all()
    for _, row in ex.iterrows():
        assert row["rows_with_pattern"] == f[row["feature"]].isna().sum()


def test_text_in_a_numeric_column(tiny):
    X, _ = tiny
    # a model that multiplies cell by cell: text raises (a column of floats in object dtype not)
    session = mdw.bind(lambda df: df["x"].map(lambda v: v * 2.0).astype(float), X[["x", "c"]],
                       task="regression")
    r = random_attack(session, n_rows=500, missing_rate=0, extreme_rate=0, wrong_type_rate=0.05,
                      random_state=5)
    text = r.frame["x"].map(lambda v: isinstance(v, str))
    assert r.frame["x"].dtype == object and text.sum() > 5
    assert r.exceptions["pattern"].tolist() == ["x wrong type (str)"]
    assert r.exceptions["count"].item() == text.sum() == r.n_errors


def test_no_injected_pattern_is_reported_as_such(tiny):
    X, _ = tiny

    def fn(df):
        if (df["x"] > 50.5).any():
            raise ValueError("x too large")
        return df["x"] * 1.0

    # x drawn in [-11, 55]; some failing rows carry "n missing" by chance, but most
    # rows with n missing do not fail: that pattern does not explain the failures
    session = mdw.bind(fn, X[["x", "n"]], task="regression")
    r = random_attack(session, n_rows=300, missing_rate=0.3, extreme_rate=0, random_state=6)
    assert r.frame.loc[r.frame["x"] > 50.5, "patterns"].map(len).sum() >= 3
    assert r.exceptions["pattern"].tolist() == [NO_PATTERN]
    assert r.exceptions["count"].item() == (r.frame["x"] > 50.5).sum() > 0
    assert np.isnan(r.exceptions["failure_rate"].item())
    assert any("that no injected pattern explains: The model raised ValueError" in line
               for line in r.summary())
    assert r.n_nonfinite == r.frame["x"].isna().sum()  # fn returns NaN for a missing x


def test_non_finite_and_out_of_range_outputs(tiny):
    X, _ = tiny
    y = pd.Series([0, 1, 0, 1])

    def fn(df):
        p = 1 / (1 + np.exp(-df["x"].fillna(0).to_numpy() / 10))
        p[df["x"].to_numpy() > 50] = 1.5
        p[df["n"].to_numpy(dtype=float) > 41] = np.nan  # beyond the bound data's range
        p[df["n"].to_numpy(dtype=float) < 10] = np.inf
        return p

    session = mdw.bind(fn, X[["x", "n"]], y, task="binary")
    r = random_attack(session, n_rows=800, missing_rate=0.05, extreme_rate=0, random_state=7)
    f = r.frame
    n = f["n"].astype(float)
    nonfinite = (n > 41) | (n < 10)
    assert r.n_nonfinite == nonfinite.sum() > 0
    assert r.n_out_of_range == ((f["x"] > 50) & ~nonfinite).sum() > 0
    assert r.exceptions.empty and r.output_bounds == (0.0, 1.0)


def test_regression_huge_outputs_are_out_of_range(regression_data):
    X, y = regression_data
    session = mdw.bind(lambda df: df["r0"].to_numpy() * np.where(df["r1"] > 1.5, 1e9, 1.0), X, y,
                       task="regression")
    r = random_attack(session, n_rows=500, random_state=8)
    lo, hi = y.min(), y.max()
    width = hi - lo
    assert r.output_bounds == pytest.approx((lo - 0.1 * width, hi + 0.1 * width))
    p = r.frame["prediction"]
    assert r.n_out_of_range == ((p < r.output_bounds[0]) | (p > r.output_bounds[1])).sum()
    assert r.n_out_of_range >= (r.frame["r1"] > 1.5).sum() * 0.5 > 0


def test_multiclass_reports_the_largest_class_or_a_chosen_one(multiclass_data, multiclass_model):
    X, y = multiclass_data
    session = mdw.bind(multiclass_model, X, y)
    r = random_attack(session, n_rows=300, missing_rate=0, random_state=9)
    classes = [f"prediction[{c}]" for c in session.output_names]
    np.testing.assert_allclose(r.frame["prediction"], r.frame[classes].max(axis=1))
    np.testing.assert_allclose(r.frame[classes], multiclass_model.predict_proba(
        r.frame[list(X.columns)]))
    assert r.output == "max"
    r2 = random_attack(session, n_rows=300, missing_rate=0, random_state=9, output=2)
    np.testing.assert_allclose(r2.frame["prediction"], r.frame["prediction[2]"])


# -- reproducibility, progress, cancel, bad input -----------------------------------------
def test_same_seed_same_frame_whatever_the_batches(credit):
    session = credit[2]
    a = random_attack(session, n_rows=500, random_state=11, batch_size=500)
    b = random_attack(session, n_rows=500, random_state=11, batch_size=64)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.by_feature, b.by_feature)
    c = random_attack(session, n_rows=500, random_state=12)
    assert not a.frame["LIMIT_BAL"].equals(c.frame["LIMIT_BAL"])


def test_progress_and_cancel(credit):
    session = credit[2]
    seen = []
    random_attack(session, n_rows=500, batch_size=200, random_state=0, progress=seen.append,
                  skip_failing=None)
    assert seen == [0.4, 0.8, 1.0]
    # the default starts small: skip_failing / 4 = 12.5 rows of the commonest pattern (missing
    # values, 10 %), i.e. 125 rows; nothing failed, so batch_size rows from then on
    seen.clear()
    random_attack(session, n_rows=500, batch_size=200, random_state=0, progress=seen.append)
    assert seen == [125 / 500, 325 / 500, 1.0]
    stop = threading.Event()
    calls = session.adapter.n_calls

    def progress(fraction):
        stop.set()

    r = random_attack(session, n_rows=1000, batch_size=200, random_state=0, progress=progress,
                      cancel=stop, skip_failing=None)
    assert r.cancelled and len(r.frame) == 200 == r.n_queries
    assert session.adapter.n_calls - calls == 1
    assert r.summary()[-1] == "Stopped after 200 of 1,000 rows."


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(n_rows=0), "n_rows must be a positive integer"),
    (dict(n_rows=-3), "n_rows must be a positive integer"),
    (dict(n_rows=2.5), "n_rows must be a positive integer"),
    (dict(missing_rate=-0.1), "missing_rate must be a number between 0 and 1"),
    (dict(missing_rate=1.5), "missing_rate must be a number between 0 and 1"),
    (dict(unseen_rate=2), "unseen_rate must be a number between 0 and 1"),
    (dict(extreme_rate=float("nan")), "extreme_rate must be a number between 0 and 1"),
    (dict(missing_rate=0.9, extreme_rate=0.2),
     r"numeric feature 'x' takes missing_rate \+ extreme_rate \+ wrong_type_rate = 1.1 > 1"),
    (dict(missing_rate=0.9, unseen_rate=0.2, extreme_rate=0),
     r"categorical feature 'c' takes missing_rate \+ unseen_rate = 1.1 > 1"),
    (dict(margin=-1), "margin must be a finite number >= 0"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(features=["nope"]), "features must be distinct columns"),
    (dict(output=1), "output must be None or, for a multiclass model"),
    (dict(skip_failing=0), "skip_failing must be a positive integer .* or None to score"),
    (dict(skip_failing=-5), "skip_failing must be a positive integer"),
    (dict(skip_failing=2.5), "skip_failing must be a positive integer"),
    (dict(skip_failing=50.0), "skip_failing must be a positive integer"),
    (dict(skip_failing=True), "skip_failing must be a positive integer"),
    (dict(skip_failing="50"), "skip_failing must be a positive integer"),
])
def test_bad_options_raise_clear_errors(tiny, kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_attack(tiny[1], **kwargs)


def test_feature_without_a_range_is_a_clear_error():
    X = pd.DataFrame({"a": [np.nan, np.nan], "b": [1.0, 2.0]})
    session = mdw.bind(lambda df: df["b"] * 1.0, X, task="regression")
    with pytest.raises(ValueError, match="a has no observed range"):
        random_attack(session, n_rows=10)
    assert len(random_attack(session, n_rows=10, features=["b"]).frame) == 10


def test_user_data_is_not_mutated(credit):
    data, model, session = credit
    X, y = data.X, data.y
    before = fingerprint(session.X, session.y, X, y, model)
    random_attack(session, n_rows=300, wrong_type_rate=0.05, random_state=0)
    assert fingerprint(session.X, session.y, X, y, model) == before


def test_to_frame_joins_patterns(tiny):
    r = random_attack(tiny[1], n_rows=50, missing_rate=0.5, random_state=0)
    shown = r.to_frame()["patterns"]
    assert shown.tolist() == ["; ".join(p) for p in r.frame["patterns"]]
    assert r.rates == dict(zip(PATTERNS, (0.5, 0.01, 0.02, 0.0), strict=True))
