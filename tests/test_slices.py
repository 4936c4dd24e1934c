"""Slice discovery: against the sliceline package, the planted weak slice, hand-made tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint

from mldebug_widgets import bind, datasets
from mldebug_widgets.analysis.residuals import bin_labels, residuals
from mldebug_widgets.analysis.slices import _misclassification, find_slices


@pytest.fixture(scope="module")
def demo_small():
    data = datasets.load_credit(n_rows=5_000)
    model = datasets.demo_model(data)
    return bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA)


@pytest.fixture(scope="module")
def demo():
    data = datasets.load_credit(n_rows=30_000)
    model = datasets.demo_model(data)
    return data, bind(model, data.X, data.y, schema=datasets.CREDIT_SCHEMA)


def _sliceline_top(session, features, errors, *, alpha, k, max_l, min_sup):
    sliceline = pytest.importorskip("sliceline")
    codes = np.column_stack([bin_labels(session, f, 10).codes for f in features])
    labels = {f: [str(c) for c in bin_labels(session, f, 10).categories] for f in features}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder = sliceline.Slicefinder(alpha=alpha, k=k, max_l=max_l, min_sup=min_sup,
                                       verbose=False).fit(codes, errors)
    out = []
    for row, stats in zip(finder.top_slices_, finder.top_slices_statistics_, strict=True):
        preds = frozenset((features[j], labels[features[j]][int(v)])
                          for j, v in enumerate(row) if v is not None)
        out.append((preds, stats["slice_size"], stats["slice_average_error"],
                    stats["slice_score"]))
    return out


@pytest.mark.parametrize(("max_l", "n_features", "alpha", "k", "min_sup", "errors"), [
    (2, 23, 0.95, 10, 50, "logloss"),
    (3, 8, 0.95, 10, 50, "logloss"),
    (3, 9, 0.9, 20, 10, "logloss"),  # fewer than k positive slices: sliceline's pruning
    (3, 8, 0.99, 8, 25, "misclassification"),
])
def test_same_top_slices_as_sliceline(demo_small, max_l, n_features, alpha, k, min_sup, errors):
    session = demo_small
    features = session.features[:n_features]
    result = find_slices(session, errors=errors, max_predicates=max_l, k=k, alpha=alpha,
                         min_support=min_sup, features=features)
    err = residuals(session, "logloss").to_numpy() if errors == "logloss" else \
        _misclassification(session)
    theirs = _sliceline_top(session, features, err, alpha=alpha, k=k, max_l=max_l,
                            min_sup=min_sup)
    table = result.to_frame()
    assert len(table) == len(theirs) > 0
    assert [frozenset(p) for p in table["predicates"]] == [t[0] for t in theirs]
    np.testing.assert_array_equal(table["size"], [t[1] for t in theirs])
    np.testing.assert_allclose(table["error"], [t[2] for t in theirs], rtol=1e-9)
    np.testing.assert_allclose(table["score"], [t[3] for t in theirs], rtol=1e-9, atol=1e-12)
    assert (table["level"] <= max_l).all() and table["score"].is_monotonic_decreasing


def test_planted_weak_slice_is_in_the_top_3(demo):
    data, session = demo
    weak = data.bugs["weak_slice"].mask
    # 0/1 errors (the default for classifiers); the slice holds 2.3 % of the rows, so the
    # size term of the score must weigh little: alpha = 0.99
    result = find_slices(session, alpha=0.99, k=10)
    hits = []
    for i in range(3):
        preds = dict(result.to_frame()["predicates"].iloc[i])
        mask = result.mask(i)
        if preds.get("EDUCATION") == "3" and preds.get("AGE", "").startswith("[50") \
                and (mask & weak).sum() >= 0.8 * mask.sum():
            hits.append(i)
    assert hits, result.to_frame().head(3)
    # with explicit AGE edges at the planted threshold the slice is matched exactly
    exact = find_slices(session, alpha=0.99, k=3, bins={"AGE": [0, 30, 50, 200]})
    found = [i for i in range(len(exact)) if np.array_equal(exact.mask(i), weak)]
    assert found and exact.to_frame()["slice"].iloc[found[0]] == \
        "EDUCATION = 3 & AGE ∈ [50, 200]"


def _hand_session():
    rng = np.random.default_rng(0)
    n = 2_000
    X = pd.DataFrame({
        "color": rng.choice(["red", "green", "blue"], n),
        "size": rng.uniform(0, 100, n),
        "flag": rng.choice([0.0, 1.0, np.nan], n, p=[0.45, 0.45, 0.1]),
    }, index=pd.RangeIndex(1_000, 1_000 + n))
    worst = (X["color"] == "red") & (X["size"] >= 50)
    y = np.where(worst, 3.0, 0.0) + rng.uniform(0, 0.2, n)
    return X, pd.Series(y, index=X.index, name="y"), worst


def test_hand_made_table_worst_slice_and_rows():
    X, y, worst = _hand_session()
    before = fingerprint(X, y)
    session = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    errors = np.abs(y.to_numpy())
    errors_before = errors.copy()
    result = find_slices(session, errors=errors, bins={"size": [0, 50, 100]}, k=5,
                         min_support=30)
    top = result.to_frame().iloc[0]
    assert top["slice"] == "color = red & size ∈ [50, 100]"
    assert top["predicates"] == (("color", "red"), ("size", "[50, 100]"))
    assert top["size"] == worst.sum()
    assert top["error"] == pytest.approx(errors[worst.to_numpy()].mean())
    assert top["max_error"] == pytest.approx(errors[worst.to_numpy()].max())
    assert result.rows(0).equals(X.index[worst.to_numpy()])
    # rows(i) is the conjunction of the predicates, for every slice found
    for i in range(len(result)):
        mask = np.ones(len(X), dtype=bool)
        for feature, label in result.to_frame()["predicates"].iloc[i]:
            mask &= np.asarray(bin_labels(session, feature, 10) == label) \
                if feature != "size" else _edges_mask(X["size"], label)
        assert result.rows(i).equals(X.index[mask])
    # nothing mutated
    assert fingerprint(X, y) == before
    np.testing.assert_array_equal(errors, errors_before)
    assert fingerprint(session.X, session.y) == before


def _edges_mask(values: pd.Series, label: str) -> np.ndarray:
    lo, hi = {"[0, 50)": (0, 50), "[50, 100]": (50, 100.1)}[label]
    return ((values >= lo) & (values < hi)).to_numpy()


def test_missing_is_its_own_bin():
    X, _, _ = _hand_session()
    missing = X["flag"].isna().to_numpy()
    y = np.where(missing, 5.0, 0.5)
    session = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    result = find_slices(session, errors="absolute", max_predicates=1, min_support=10)
    assert result.to_frame()["slice"].iloc[0] == "flag is missing"
    np.testing.assert_array_equal(result.mask(0), missing)


def test_min_support_respected():
    X, y, _ = _hand_session()
    session = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    for min_support, rows in ((200, 200), (0.2, 400)):
        result = find_slices(session, errors="absolute", min_support=min_support, k=50)
        assert result.min_support == rows
        assert len(result) > 0 and (result.to_frame()["size"] >= rows).all()


def test_k_ties_and_positive_scores():
    X, y, _ = _hand_session()
    session = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    result = find_slices(session, errors="absolute", k=2, min_support=10)
    table = result.to_frame()
    assert (table["score"] > 0).all() and len(table) >= 2
    assert len(table) == 2 or table["score"].iloc[1] == table["score"].iloc[-1]


def test_bad_input_gets_the_fix():
    X, y, _ = _hand_session()
    session = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    with pytest.raises(ValueError, match="one error per row"):
        find_slices(session, errors=np.ones(len(X) - 1))
    with pytest.raises(ValueError, match="index differs"):
        find_slices(session, errors=pd.Series(np.ones(len(X))))
    with pytest.raises(ValueError, match="non-negative"):
        find_slices(session, errors=-np.ones(len(X)))
    with pytest.raises(ValueError, match="missing or infinite"):
        find_slices(session, errors=np.r_[np.nan, np.ones(len(X) - 1)])
    with pytest.raises(ValueError, match="every error is zero"):
        find_slices(session, errors=np.zeros(len(X)))
    with pytest.raises(ValueError, match="needs a classifier"):
        find_slices(session, errors="misclassification")
    with pytest.raises(ValueError, match="unknown features"):
        find_slices(session, errors="absolute", features=["nope"])
    with pytest.raises(ValueError, match="min_support"):
        find_slices(session, errors="absolute", min_support=0)
    with pytest.raises(ValueError, match="alpha"):
        find_slices(session, errors="absolute", alpha=0)
    with pytest.raises(ValueError, match="max_predicates"):
        find_slices(session, errors="absolute", max_predicates=0)
    with pytest.raises(ValueError, match="increasing finite edges"):
        find_slices(session, errors="absolute", bins={"size": [50, 10]})
    with pytest.raises(ValueError, match="increasing finite edges"):
        find_slices(session, errors="absolute", bins={"color": [0, 1]})
    result = find_slices(session, errors="absolute", min_support=10)
    with pytest.raises(IndexError, match="does not exist"):
        result.rows(len(result))


def test_edges_outside_values_get_their_own_bins():
    X = pd.DataFrame({"v": [-5.0, 1.0, 2.0, 8.0, 20.0, np.nan] * 20})
    y = np.where(X["v"] > 10, 4.0, 1.0)
    session = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    result = find_slices(session, errors="absolute", bins={"v": [0, 5, 10]}, min_support=5,
                         max_predicates=1)
    assert result.to_frame()["slice"].iloc[0] == "v > 10"
    np.testing.assert_array_equal(result.mask(0), (X["v"] > 10).to_numpy())
