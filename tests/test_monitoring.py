"""Drift and anomaly monitoring, checked against scipy, scikit-learn, hand formulas and the
demo's planted drift (``load_credit(batch="current")``, answer key ``data.bugs["drift"]``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from scipy import stats
from sklearn.ensemble import IsolationForest

from mldebug_widgets import bind
from mldebug_widgets.analysis import _drift_stats as S
from mldebug_widgets.analysis.monitoring import anomalies, drift
from mldebug_widgets.datasets import CREDIT_SCHEMA, demo_model, load_credit
from mldebug_widgets.schema import FeatureSchema

EPS = S.PSI_EPSILON


def hand_psi(ref_shares, cur_shares):
    r = np.where(np.asarray(ref_shares) > 0, ref_shares, EPS)
    c = np.where(np.asarray(cur_shares) > 0, cur_shares, EPS)
    return float(np.sum((c - r) * np.log(c / r)))


@pytest.fixture(scope="module")
def demo():
    """The demo's batches: the default size and seed of load_credit (30,000 rows, seed 0)."""
    ref, cur = load_credit(), load_credit(batch="current")
    return ref.X, cur.X, cur.bugs["drift"]


@pytest.fixture(scope="module")
def small():
    return load_credit(n_rows=2_000).X, load_credit(n_rows=2_000, batch="current").X


# -- the demo's planted drift ----------------------------------------------------------------
@pytest.mark.parametrize("schema", [None, CREDIT_SCHEMA])
def test_demo_flags_exactly_the_shifted_features(demo, schema):
    ref, cur, bug = demo
    assert set(bug.features) == {"LIMIT_BAL", "AGE", "PAY_0"}  # the answer key
    result = drift(ref, cur, schema=schema)
    assert set(result.flagged) == set(bug.features)
    table = result.table
    others = table.drop(index=list(bug.features))
    assert (others["band"] == "stable").all() and (others["p_adjusted"] >= 0.05).all()
    assert (table.loc[list(bug.features), "p_value"] < 1e-100).all()
    # the shifts read back: AGE + 6 (capped at 79), LIMIT_BAL x 0.7, PAY_0 + 1 for 25 %
    assert 5.0 < table.loc["AGE", "mean_shift"] <= 6.0
    ratio = table.loc["LIMIT_BAL", "mean_current"] / table.loc["LIMIT_BAL", "mean_reference"]
    assert 0.68 < ratio < 0.72
    assert 0.2 < table.loc["PAY_0", "mean_shift"] < 0.3
    kinds = table.loc[["SEX", "EDUCATION", "MARRIAGE"], "test"]
    assert (kinds == ("chi2" if schema else "ks")).all()


def test_demo_small_batches_flag_the_shifted_features(small):
    ref, cur = small
    assert drift(ref, cur).flagged == ["AGE", "LIMIT_BAL", "PAY_0"]


def test_bonferroni_keeps_a_chance_low_p_value_from_raising_an_alarm():
    """Why the correction: 20 unshifted features are 20 tests. With 2,000 rows and seed 29,
    BILL_AMT3 (not shifted) has p = 0.003 by chance; uncorrected, or with Benjamini-Hochberg
    (which bounds the share of false alarms, not their chance), it would be flagged. Over
    seeds 0-29 at 2,000 rows, 8 of 30 runs had some unshifted p < 0.05 and BH flagged an
    unshifted feature in 4; Bonferroni in none (nor at 5,000 or 30,000 rows)."""
    ref, cur = load_credit(2_000, 29).X, load_credit(2_000, 29, batch="current").X
    result = drift(ref, cur)
    assert result.table.loc["BILL_AMT3", "p_value"] < 0.05
    assert set(result.flagged) == {"LIMIT_BAL", "AGE", "PAY_0"}
    assert "BILL_AMT3" in drift(ref, cur, correction="bh").flagged


# -- PSI against the hand formula --------------------------------------------------------------
def test_psi_two_value_bins_equals_the_hand_formula():
    ref = pd.DataFrame({"x": [0.0, 0.0, 0.0, 1.0]})
    cur = pd.DataFrame({"x": [0.0, 1.0, 1.0, 1.0]})
    expected = (0.25 - 0.75) * np.log(0.25 / 0.75) + (0.75 - 0.25) * np.log(0.75 / 0.25)
    result = drift(ref, cur)
    assert result.table.loc["x", "psi"] == pytest.approx(expected, rel=1e-12)
    assert result.table.loc["x", "psi"] == pytest.approx(np.log(3), rel=1e-12)
    hist = result.histogram("x")
    assert hist.index.tolist() == ["0", "1", "missing"]
    assert hist["psi"].sum() == pytest.approx(expected, rel=1e-12)


def test_psi_two_quantile_bins_with_epsilon_and_missing_bin():
    ref = pd.DataFrame({"x": np.arange(100.0)})  # median 49.5 is the one edge for bins=2
    cur = pd.DataFrame({"x": np.r_[np.arange(30.0, 130.0), [np.nan] * 25]})
    result = drift(ref, cur, bins=2)
    expected = hand_psi([0.5, 0.5, 0.0], [20 / 125, 80 / 125, 25 / 125])
    assert result.table.loc["x", "psi"] == pytest.approx(expected, rel=1e-12)
    assert result.histogram("x").index.tolist() == ["(-inf, 49.5]", "(49.5, inf)", "missing"]
    assert result.table.loc["x", "missing_change"] == pytest.approx(0.2)
    # every current value beyond the reference's bins: the empty bin gets epsilon
    far = drift(ref, pd.DataFrame({"x": np.arange(500.0, 600.0)}), bins=2)
    assert far.table.loc["x", "psi"] == pytest.approx(hand_psi([0.5, 0.5], [0, 1.0]), rel=1e-12)


def test_psi_bands_and_flag_from_psi_alone():
    # 40 rows: the shift moves PSI above 0.25 but the corrected KS test is not significant
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=40)})
    cur = pd.DataFrame({"x": rng.normal(0.5, 1.5, size=40)})
    row = drift(ref, cur).table.loc["x"]
    assert row["psi"] > 0.25 and row["band"] == "significant" and row["flagged"]
    assert [S.band(v) for v in (0.0, 0.0999, 0.1, 0.25, 0.2501)] == [
        "stable", "stable", "moderate", "moderate", "significant"]


def test_flag_from_the_test_alone_when_psi_is_small():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=200_000)})
    cur = pd.DataFrame({"x": rng.normal(0.03, 1.0, size=200_000)})
    row = drift(ref, cur).table.loc["x"]
    assert row["psi"] < 0.01 and row["p_adjusted"] < 1e-6 and row["flagged"]


# -- the tests against scipy ----------------------------------------------------------------
@pytest.mark.parametrize("n", [2_000, 30_000])  # scipy's exact p-value, then the fast path
def test_ks_equals_scipy(n):
    ref, cur = load_credit(n_rows=n).X, load_credit(n_rows=n, batch="current").X
    ref = ref.assign(PAY_AMT1=ref["PAY_AMT1"].where(ref.index % 7 != 0))  # with missing
    table = drift(ref, cur).table
    for name in ref.columns:
        expected = stats.ks_2samp(ref[name].dropna(), cur[name].dropna())
        assert table.loc[name, "statistic"] == pytest.approx(expected.statistic, rel=1e-12)
        assert table.loc[name, "p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_ks_fast_path_equals_scipy_for_unequal_sizes():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=12_000), rng.normal(0.02, 1, size=25_000)
    expected = stats.ks_2samp(a, b)
    assert S.ks(np.sort(a), np.sort(b)) == (expected.statistic, expected.pvalue)


def test_chi2_equals_scipy_on_the_category_by_batch_table(small):
    ref, cur = small
    cur = cur.copy()
    cur.loc[cur.index[:30], "EDUCATION"] = 9  # a code the reference never had
    table = drift(ref, cur, schema=CREDIT_SCHEMA).table
    for name in ("SEX", "EDUCATION", "MARRIAGE"):
        values = pd.concat([ref[name], cur[name]])
        batch = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
        expected = stats.chi2_contingency(pd.crosstab(values.to_numpy(), batch))
        assert table.loc[name, "test"] == "chi2"
        assert table.loc[name, "statistic"] == pytest.approx(expected.statistic, rel=1e-12)
        assert table.loc[name, "p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_string_categories_unseen_and_missing():
    ref = pd.DataFrame({"c": ["a"] * 60 + ["b"] * 40})
    cur = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 20 + ["new"] * 10 + [None] * 20})
    result = drift(ref, cur)
    hist = result.histogram("c")
    assert hist.index.tolist() == ["a", "b", "unseen", "missing"]
    np.testing.assert_allclose(hist["current"], [0.5, 0.2, 0.1, 0.2])
    row = result.table.loc["c"]
    assert row["psi"] == pytest.approx(hand_psi([0.6, 0.4, 0, 0], [0.5, 0.2, 0.1, 0.2]))
    expected = stats.chi2_contingency([[60, 50], [40, 20], [0, 10]])
    assert row["statistic"] == pytest.approx(expected.statistic)
    assert row["missing_change"] == pytest.approx(0.2)


@pytest.mark.parametrize("method", ["bonferroni", "bh"])
def test_corrections_equal_the_textbook_and_scipy(small, method):
    ref, cur = small
    table = drift(ref, cur, correction=method).table
    p = table["p_value"].to_numpy()
    expected = (np.minimum(p * len(p), 1.0) if method == "bonferroni"
                else stats.false_discovery_control(p, method="bh"))
    np.testing.assert_allclose(table["p_adjusted"], expected, rtol=1e-12)
    assert table["flagged"].tolist() == ((table["psi"] >= 0.1)
                                         | (table["p_adjusted"] < 0.05)).tolist()


# -- the prediction row ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def credit_session():
    data = load_credit(n_rows=2_000)
    model = demo_model(data, kind="logistic")
    return bind(model, data.X, data.y, schema=CREDIT_SCHEMA), model


def test_prediction_drift_with_one_predict_call(credit_session):
    session, model = credit_session
    cur = load_credit(n_rows=1_500, batch="current").X
    session.predictions()  # cached
    calls = session.adapter.n_calls
    result = drift(current=cur, session=session)
    assert session.adapter.n_calls == calls + 1
    row = result.table.loc["prediction"]
    assert row["kind"] == "prediction" and row["test"] == "ks"
    assert result.table.loc["SEX", "test"] == "chi2"  # the session's schema
    # by hand: deciles of the reference predictions, right-closed bins, no missing values
    ref_p = model.predict_proba(session.X)[:, 1]
    cur_p = model.predict_proba(cur)[:, 1]
    edges = np.unique(np.quantile(ref_p, np.arange(1, 10) / 10))
    shares = [np.bincount(np.searchsorted(edges, p, side="left"), minlength=len(edges) + 1)
              / len(p) for p in (ref_p, cur_p)]
    assert row["psi"] == pytest.approx(hand_psi(*shares), rel=1e-9)
    expected = stats.ks_2samp(ref_p, cur_p)
    assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert len(result.table) == session.X.shape[1] + 1
    p = result.table["p_value"].to_numpy()
    np.testing.assert_allclose(result.table["p_adjusted"], np.minimum(p * len(p), 1))


def test_prediction_rows_per_class(multiclass_model, multiclass_data):
    X, y = multiclass_data
    session = bind(multiclass_model, X, y)
    result = drift(current=X.iloc[:100] + 0.5, session=session)
    names = [f"prediction[{c}]" for c in session.output_names]
    assert result.table.index[-3:].tolist() == names
    assert (result.table.loc[names, "kind"] == "prediction").all()
    assert "of 4 features" in result.summary()


def test_anomalies_with_a_session_use_its_rows(credit_session):
    session, _ = credit_session
    cur = load_credit(n_rows=500, batch="current").X
    via_session = anomalies(current=cur, session=session)
    direct = anomalies(session.X, cur, schema=session.schema)
    pd.testing.assert_series_equal(via_session.scores, direct.scores)
    assert via_session.encoder.categories.keys() == {"SEX", "EDUCATION", "MARRIAGE"}


# -- IsolationForest -----------------------------------------------------------------------
def hand_encode(frame, ref, categorical):
    """Ordinal codes of the sorted reference categories (unseen: next code), missing ->
    lo - 2 (hi - lo + 1) of the encoded reference range."""
    columns = []
    for name in ref.columns:
        if name in categorical:
            cats = sorted(ref[name].dropna().unique())
            lookup = {c: i for i, c in enumerate(cats)}
            unseen = len(cats)
            codes = frame[name].map(lambda v, lk=lookup, k=unseen: lk.get(v, k))
            lo, hi = 0.0, len(cats) - 1.0
        else:
            codes = frame[name].astype(float)
            lo, hi = ref[name].min(), ref[name].max()
        columns.append(codes.where(frame[name].notna(), lo - 2 * (hi - lo + 1)).astype(float))
    return np.column_stack(columns)


@pytest.mark.parametrize("contamination", ["auto", 0.05])
def test_isolation_forest_scores_equal_sklearn(small, contamination):
    ref, cur = small
    ref, cur = ref.copy(), cur.copy()
    ref.loc[ref.index[::11], "PAY_AMT1"] = np.nan
    cur.loc[cur.index[::5], "BILL_AMT2"] = np.nan
    cur.loc[cur.index[::13], "EDUCATION"] = 42  # unseen code
    cur.loc[cur.index[::17], "MARRIAGE"] = np.nan
    categorical = ("SEX", "EDUCATION", "MARRIAGE")
    result = anomalies(ref, cur, schema=CREDIT_SCHEMA, contamination=contamination,
                       random_state=3, n_estimators=40)
    enc_ref, enc_cur = hand_encode(ref, ref, categorical), hand_encode(cur, ref, categorical)
    np.testing.assert_array_equal(result.encoder.transform(cur), enc_cur)
    forest = IsolationForest(n_estimators=40, contamination=contamination,
                             random_state=3).fit(enc_ref)
    np.testing.assert_array_equal(result.scores.to_numpy(), forest.score_samples(enc_cur))
    np.testing.assert_array_equal(result.is_anomaly.to_numpy(), forest.predict(enc_cur) == -1)
    assert result.rate == np.mean(forest.predict(enc_cur) == -1)
    assert result.reference_rate == np.mean(forest.predict(enc_ref) == -1)
    assert result.scores.index.equals(cur.index)
    np.testing.assert_array_equal(result.anomaly_score, -result.scores)
    assert result.forest.n_estimators == 40


def test_top_anomalies_include_planted_extreme_rows(small):
    ref, cur = small
    planted = cur.iloc[:5].copy()
    planted.index = pd.Index(10**6 + np.arange(5), name=cur.index.name)
    # beyond the reference range in every feature (the forest isolates a row by random
    # splits among reference rows: one extreme feature in an ordinary row is not enough)
    planted[:] = 0.0
    planted["LIMIT_BAL"], planted["AGE"], planted["SEX"] = 8e6, 140, 2
    planted[["EDUCATION", "MARRIAGE"]] = 9
    planted[[c for c in cur.columns if c.startswith("PAY_") and "AMT" not in c]] = 9
    planted[[c for c in cur.columns if c.startswith("BILL_AMT")]] = -2e6
    planted[[c for c in cur.columns if c.startswith("PAY_AMT")]] = 4e6
    batch = pd.concat([cur, planted])
    result = anomalies(ref, batch)
    top = result.top(5)
    assert set(top.index) == set(planted.index)
    assert top["anomaly_score"].is_monotonic_decreasing
    pd.testing.assert_frame_equal(top[list(batch.columns)], batch.loc[top.index])
    assert result.is_anomaly.loc[planted.index].all()
    label = top.index[0]
    assert result.row_values(label) == batch.loc[label].to_dict()
    assert result.top(3).index.tolist() == top.index[:3].tolist()


# -- bad input, edge cases, no mutation ------------------------------------------------------
@pytest.mark.parametrize("func", [drift, anomalies])
def test_bad_batches_raise_with_the_fix(small, func):
    ref, cur = small
    with pytest.raises(ValueError, match=r"missing from current \['AGE'\].*features="):
        func(ref, cur.drop(columns="AGE"))
    with pytest.raises(ValueError, match=r"not in reference \['extra'\]"):
        func(ref, cur.assign(extra=1.0))
    with pytest.raises(ValueError, match="current batch is empty"):
        func(ref, cur.iloc[:0])
    with pytest.raises(ValueError, match="reference batch is empty"):
        func(ref.iloc[:0], cur)
    with pytest.raises(TypeError, match="current must be a pandas DataFrame"):
        func(ref, cur.to_numpy())
    with pytest.raises(ValueError, match=r"features \['nope'\] are not columns"):
        func(ref, cur, features=["AGE", "nope"])
    with pytest.raises(TypeError, match="'AGE' is numeric but the current column"):
        func(ref, cur.assign(AGE=cur["AGE"].astype(str)))
    with pytest.raises(ValueError, match="not both"):
        func(ref, cur, session=bind(lambda df: df["AGE"] * 1.0, ref, task="regression"))
    with pytest.raises(ValueError, match="pass a reference frame"):
        func(current=cur)
    # a subset of shared columns is fine
    assert func(ref, cur.assign(extra=1.0), features=["AGE"]) is not None


def test_bad_options_raise():
    ref = pd.DataFrame({"x": [1.0, 2.0]})
    for kwargs, message in [({"bins": 1}, "bins must be an integer >= 2"),
                            ({"alpha": 1.5}, "alpha must be a number between 0 and 1"),
                            ({"correction": "holm"}, "correction must be 'bonferroni' or"),
                            ({"schema": {"x": {"kind": "text"}}}, "kind of 'x' must be one")]:
        with pytest.raises(ValueError, match=message):
            drift(ref, ref, **kwargs)
    session = bind(lambda df: df["x"] * 1.0, ref, task="regression")
    with pytest.raises(ValueError, match=r"lacks columns of session.X .*\['x'\]"):
        drift(current=pd.DataFrame({"y": [1.0]}), session=session, features=["y"])


def test_all_missing_and_constant_columns():
    n = 200
    ref = pd.DataFrame({"gone": np.nan, "const": 5.0, "moved": 5.0, "half": np.arange(n)},
                       index=range(n))
    cur = pd.DataFrame({"gone": np.nan, "const": 5.0, "moved": 6.0,
                        "half": np.where(np.arange(n) % 2, np.nan, np.arange(n))})
    result = drift(ref, cur)
    t = result.table
    assert t.loc["gone", "psi"] == 0 and np.isnan(t.loc["gone", "statistic"])
    assert np.isnan(t.loc["gone", "p_value"]) and np.isnan(t.loc["gone", "p_adjusted"])
    assert not t.loc["gone", "flagged"] and np.isnan(t.loc["gone", "mean_shift"])
    assert t.loc["const", "psi"] == 0 and t.loc["const", "statistic"] == 0
    assert t.loc["const", "p_value"] == 1 and not t.loc["const", "flagged"]
    # a new value of a constant feature lands in a bin the reference left empty
    assert t.loc["moved", "psi"] == pytest.approx(hand_psi([1, 0], [0, 1]))
    assert t.loc["moved", "statistic"] == 1 and t.loc["moved", "flagged"]
    assert result.histogram("moved").index.tolist() == ["5", "(5, inf)", "missing"]
    assert t.loc["half", "missing_change"] == 0.5 and t.loc["half", "flagged"]
    # the NaN p-value is not a test: the others are corrected over 3, not 4
    assert t.loc["const", "p_adjusted"] == 1 and t.loc["moved", "p_adjusted"] == pytest.approx(
        min(1.0, 3 * t.loc["moved", "p_value"]))
    scored = anomalies(ref, cur)  # constant and all-missing columns are harmless
    assert np.isfinite(scored.scores).all()
    ref_only = drift(ref, cur.assign(gone=1.0))  # values where the reference had none
    assert ref_only.table.loc["gone", "flagged"] and ref_only.table.loc["gone", "psi"] > 1


def test_inputs_are_not_mutated(small):
    ref, cur = small
    ref = ref.assign(SEX=ref["SEX"].astype("category"), flag=ref["AGE"] > 40)
    cur = cur.assign(SEX=cur["SEX"].astype("category"), flag=cur["AGE"] > 40)
    cur.loc[cur.index[:10], "LIMIT_BAL"] = np.nan
    before = fingerprint(ref), fingerprint(cur)
    result = drift(ref, cur)
    scored = anomalies(ref, cur)
    assert (fingerprint(ref), fingerprint(cur)) == before
    assert result.table.loc[["SEX", "flag"], "test"].tolist() == ["chi2", "chi2"]
    scored.X.iloc[0, 0] = -1.0  # the result holds its own copy
    assert fingerprint(cur) == before[1]


def test_result_views(small):
    ref, cur = small
    result = drift(ref, cur, schema=FeatureSchema.infer(ref).override(CREDIT_SCHEMA))
    frame = result.to_frame()
    assert frame["psi"].is_monotonic_decreasing and frame.index[0] == "AGE"
    assert frame.columns.tolist()[:8] == ["kind", "psi", "band", "test", "statistic",
                                          "p_value", "p_adjusted", "flagged"]
    for name in result.table.index:
        hist = result.histogram(name)
        assert hist["psi"].sum() == pytest.approx(result.table.loc[name, "psi"])
        np.testing.assert_allclose(hist[["reference", "current"]].sum(), [1.0, 1.0])
    text = result.summary()
    assert text.startswith("3 of 23 features drifted") and "AGE (PSI" in text
    with pytest.raises(KeyError, match="no drift row"):
        result.histogram("nope")
    with pytest.raises(ValueError, match="positive integer"):
        anomalies(ref, cur.iloc[:50]).top(0)
    with pytest.raises(KeyError, match="not in the current batch"):
        anomalies(ref, cur.iloc[:50]).row_values("nope")
