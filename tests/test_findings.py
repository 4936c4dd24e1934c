"""session.findings: marking, tidy frames, JSON state, the HTML report and the pytest export.

References: the planted bugs of the demo data (answer key in ``data.bugs``), scikit-learn's
log loss, counts by hand, ``find_slices`` for slice rows, and the generated pytest files run
in a subprocess against the demo model (they pass) and against models with the planted bugs
fixed (they fail: the mutation check).
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from _helpers import fingerprint
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

import mldebug_widgets as mdw
from mldebug_widgets.analysis import evolve_search, find_slices, optimise_thresholds
from mldebug_widgets.findings import Finding, load_state, save_state

N_ROWS = 2_000


def bind_credit(data, model):
    return mdw.bind(model, data.X, data.y, sensitive_features=["SEX", "AGE"],
                    schema=mdw.datasets.CREDIT_SCHEMA)


@pytest.fixture(scope="module")
def credit():
    data = mdw.datasets.load_credit(n_rows=N_ROWS, random_state=0)
    return data, mdw.datasets.demo_model(data, kind="forest")


@pytest.fixture(scope="module")
def marked(credit):
    """A session with findings of every kind, marked as a user does in the widgets."""
    data, model = credit
    X, y = data.X, data.y
    before = fingerprint(X, y, model)
    s = mdw.bind(model, X, y, sensitive_features=["SEX", "AGE"],
                 schema=mdw.datasets.CREDIT_SCHEMA)
    p = s.predictions()[:, 0]
    pocket = data.bugs["adversarial_pocket"].mask
    outside = s.X.index[~pocket & (s.X["SEX"] == 1).to_numpy()][:300]
    # what-if: blank both payments (the demo model imputes 0, which lands in the pocket)
    blanked = s.X.loc[outside].copy()
    blanked[["PAY_AMT1", "PAY_AMT2"]] = np.nan
    rise = s.predict(blanked)[:, 0] - p[s.X.index.get_indexer(outside)]
    label = outside[int(np.argmax(rise))]
    s.findings.add_row(label, {"PAY_AMT1": np.nan, "PAY_AMT2": None},
                       note="missing payments land in the pocket")
    s.findings.add_cohort(tuple(s.X.index[data.bugs["mislabeled_cluster"].mask]),
                          note="mislabeled batch")
    s.findings.add_slice([("EDUCATION", "==", 3), ("AGE", ">=", 50)],
                         note="weak slice <coin flip> & noise")
    found = evolve_search(s, label, objective="maximise", features=["PAY_AMT1", "PAY_AMT2"],
                          budget=300, random_state=0)
    s.findings.add_find(found.rows.iloc[0], found.rows["prediction"].iloc[0], note="pocket",
                        source="maximise #0", base=label)
    row = {**s.row(label).iloc[0].to_dict(), "PAY_AMT3": "n/a"}
    s.findings.add_find(row, None, note="text in a number column", source="random attack")
    s.findings.add_thresholds(optimise_thresholds(s, "air", sensitive_features=["SEX"]),
                              ["SEX"], note="air plan")
    groups = [(1, "[0, 30)"), (1, "[30, 200]"), (2, "[0, 30)"), (2, "[30, 200]")]
    s.findings.add_thresholds({g: 0.5 for g in groups}, ("SEX", "AGE"),
                              bins={"AGE": [0, 30, 200], "LIMIT_BAL": 4})
    return s, (X, y, model, before)


# -- marking ------------------------------------------------------------------------------------
def test_records_are_frozen_and_canonical(marked):
    s, _ = marked
    row = s.findings[0]
    with pytest.raises(AttributeError):
        row.note = "changed"
    with pytest.raises(TypeError):
        row.data["base"] = 0
    assert row.data["changed"] == {"PAY_AMT1": None, "PAY_AMT2": None}  # NaN and None: missing
    assert all(type(v) in (int, float, type(None)) for v in row.data["row"].values())
    assert Finding.from_dict(json.loads(json.dumps(row.to_dict()))) == row


def test_row_finding_is_the_models_prediction_of_the_edited_row(marked, credit):
    s, _ = marked
    data, model = credit
    d = s.findings[0].data
    edited = data.X.loc[[d["base"]]].copy()
    edited[["PAY_AMT1", "PAY_AMT2"]] = np.nan
    expected = model.predict_proba(edited)[0, 1]
    assert d["prediction"][0] == pytest.approx(expected, abs=1e-12)
    base = model.predict_proba(data.X.loc[[d["base"]]])[0, 1]
    assert d["base_prediction"][0] == pytest.approx(base, abs=1e-12)
    assert d["prediction"][0] > d["base_prediction"][0] + 0.1  # the planted imputation fault
    assert d["original"] == {k: float(data.X.loc[d["base"], k]) for k in ("PAY_AMT1",
                                                                          "PAY_AMT2")}


def test_row_from_the_editors_edited_frame(credit):
    data, model = credit
    s = bind_credit(data, model)
    label = s.X.index[10]
    edited = s.row(label)
    edited["PAY_0"] = 3
    edited["LIMIT_BAL"] = edited["LIMIT_BAL"].astype(np.float32)  # same value, other dtype
    d = s.findings.add_row(label, edited, note="late payer").data
    assert d["changed"] == {"PAY_0": 3} and d["original"] == {"PAY_0": int(s.X.loc[label,
                                                                                  "PAY_0"])}
    assert d["prediction"][0] == pytest.approx(model.predict_proba(edited)[0, 1], abs=1e-12)
    assert s.findings.add_row(label).data["changed"] == {}


def test_cohort_finding_matches_sklearn(marked, credit):
    s, _ = marked
    data, model = credit
    d = s.findings[1].data
    rows = data.bugs["mislabeled_cluster"].mask
    p = model.predict_proba(data.X)[:, 1]
    assert d["size"] == int(rows.sum()) and list(d["labels"]) == data.X.index[rows].tolist()
    assert d["metric"] == "logloss"
    assert d["value"] == pytest.approx(log_loss(data.y[rows], p[rows], labels=[0, 1]))
    assert d["overall"] == pytest.approx(log_loss(data.y, p))
    assert d["error_rate"] == pytest.approx(np.mean((p[rows] >= 0.5) != data.y[rows]))
    assert d["mean_label"] == 1.0  # the batch was recorded as DEFAULT = 1


def test_slice_finding_is_the_planted_weak_slice(marked, credit):
    s, _ = marked
    data, model = credit
    d = s.findings[2].data
    weak = data.bugs["weak_slice"].mask
    wrong = (model.predict_proba(data.X)[:, 1] >= 0.5) != data.y.to_numpy()
    assert d["size"] == int(weak.sum()) and d["rule"] == "EDUCATION == 3 & AGE >= 50"
    assert d["metric"] == "misclassification"
    assert d["value"] == pytest.approx(wrong[weak].mean())
    assert d["value"] > 3 * d["overall"]  # a coin flip is much harder than the rest


def test_slices_of_find_slices_are_marked_exactly(credit):
    data, model = credit
    s = bind_credit(data, model)
    result = find_slices(s, k=5)
    table = result.to_frame()
    for i in range(len(table)):
        d = s.findings.add_slice(result, i=i).data
        mask = mdw._findings_values.predicate_mask(s.X, d["predicates"])
        assert np.array_equal(mask, result.mask(i)), table["slice"].iloc[i]
        assert d["size"] == table["size"].iloc[i]
        assert d["value"] == pytest.approx(table["error"].iloc[i])
    text = s.findings.add_slice("EDUCATION = 3 & AGE ∈ [50, 150]").data  # rule text, parsed
    assert text["size"] == int(data.bugs["weak_slice"].mask.sum())


def test_find_findings(marked):
    s, _ = marked
    find, attack = s.findings[3].data, s.findings[4].data
    row = find["row"]
    assert set(find["changed"]) <= {"PAY_AMT1", "PAY_AMT2"} and find["changed"]
    assert row["PAY_AMT1"] <= 200 and row["PAY_AMT2"] <= 200  # the search found the pocket
    assert find["prediction"][0] == pytest.approx(find["reported_prediction"], abs=1e-12)
    assert find["prediction"][0] > find["base_prediction"][0] + 0.1
    assert isinstance(row["SEX"], int)  # a search's float frame is typed back
    assert attack["prediction"] is None and "n/a" in attack["error"]
    assert attack["base"] is None and attack["changed"] == {}


def test_threshold_findings_match_counts_by_hand(marked):
    s = marked[0]
    p, y = s.predictions()[:, 0], s.y.to_numpy()
    sex, age = s.X["SEX"].tolist(), s.X["AGE"].tolist()
    for finding in (f for f in s.findings if f.kind == "thresholds"):
        d = finding.data
        keys = sex if d["group_columns"] == ("SEX",) else [
            (g, "[0, 30)" if a < 30 else "[30, 200]") for g, a in zip(sex, age, strict=True)]
        thresholds = dict(d["thresholds"])
        flagged = p >= np.array([thresholds[k] for k in keys])
        member = {g: np.array([k == g for k in keys]) for g in thresholds}
        favourable = {g: 1 - flagged[m].mean() for g, m in member.items()}
        for row in d["groups"]:
            assert row["count"] == int(member[row["group"]].sum())
            assert row["air"] == pytest.approx(favourable[row["group"]]
                                               / favourable[d["reference"]])
        assert d["accuracy"] == pytest.approx(np.mean(flagged == (y == 1)))
        airs = [r["air"] for r in d["groups"]]
        assert d["worst_air"] == pytest.approx(min(min(a, 1 / a) for a in airs))
    assert s.findings[6].data["bins"] == {"AGE": (0.0, 30.0, 200.0)}  # LIMIT_BAL ignored


def test_multiclass_and_regression_sessions(multiclass_model, multiclass_data, regression_model,
                                            regression_data):
    X, y = multiclass_data
    s = mdw.bind(multiclass_model, X, y)
    d = s.findings.add_cohort(X.index[:50]).data
    predicted = multiclass_model.predict(X.iloc[:50])
    assert d["error_rate"] == pytest.approx(np.mean(predicted != y.iloc[:50]))
    assert len(s.findings.add_row(0, {"f0": 3.0}).data["prediction"]) == 3
    X, y = regression_data
    s = mdw.bind(regression_model, X, y)
    d = s.findings.add_slice([("r0", ">", 0.0)]).data
    rows = X["r0"] > 0
    assert d["metric"] == "squared"
    assert d["value"] == pytest.approx(np.mean((y[rows] - regression_model.predict(X[rows])) ** 2))
    with pytest.raises(ValueError, match="binary classifier"):
        s.findings.add_thresholds({0: 0.5}, "r0")


def test_container_and_notifications(credit):
    data, model = credit
    s = bind_credit(data, model)
    seen = []
    s.findings.observe(lambda change: seen.append(len(change["new"])), "records")
    first = s.findings.add_cohort(s.X.index[:3], note="a")
    s.findings.add_slice([("AGE", ">=", 60)], note="b")
    assert len(s.findings) == 2 and [f.note for f in s.findings] == ["a", "b"]
    assert s.findings.remove(0) == first and [f.note for f in s.findings] == ["b"]
    with pytest.raises(IndexError, match="does not exist"):
        s.findings.remove(5)
    s.findings.clear()
    assert len(s.findings) == 0 and seen == [1, 2, 1, 0]
    assert repr(s.findings) == "Findings(none)"


def test_to_frames(marked):
    s, _ = marked
    frames = s.findings.to_frames()
    assert list(frames) == ["row", "cohort", "slice", "find", "thresholds"]
    assert frames["row"].index.tolist() == [0] and frames["find"].index.tolist() == [3, 4]
    row = frames["row"].iloc[0]
    assert row["changed"] == "PAY_AMT1 = missing, PAY_AMT2 = missing"
    assert row["change"] == pytest.approx(row["prediction"] - row["base_prediction"])
    assert frames["cohort"]["value"].iloc[0] == s.findings[1].data["value"]
    assert frames["find"]["error"].tolist()[1].startswith("The model raised")
    assert math.isnan(frames["find"]["prediction"].iloc[1])
    thresholds = frames["thresholds"]
    assert len(thresholds) == 2 + 4 and thresholds.loc[5, "group"].tolist() == [1, 2]
    assert thresholds["is_reference"].sum() == 2
    empty = mdw.bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}),
                     task="regression").findings.to_frames()
    assert all(len(f) == 0 for f in empty.values())
    assert list(empty["slice"].columns) == list(frames["slice"].columns)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda f, s: f.add_row("nope"), ValueError, "not in the bound data's index"),
    (lambda f, s: f.add_row(s.X.index[0], {"NOPE": 1}), ValueError, "are not features"),
    (lambda f, s: f.add_row(s.X.index[0], {"AGE": object()}), TypeError, "JSON values"),
    (lambda f, s: f.add_row(s.X.index[0], [1, 2]), TypeError, "dict, a Series"),
    (lambda f, s: f.add_cohort([]), ValueError, "cohort is empty"),
    (lambda f, s: f.add_cohort([-5, s.X.index[0]]), ValueError, "not rows of the bound"),
    (lambda f, s: f.add_cohort(s.X.index[:5], metric="squared"), ValueError, "regression"),
    (lambda f, s: f.add_slice([("AGE", "~", 3)]), ValueError, "unknown operator"),
    (lambda f, s: f.add_slice([("NOPE", "==", 1)]), ValueError, "unknown feature"),
    (lambda f, s: f.add_slice([("AGE", ">", 10_000)]), ValueError, "holds no row"),
    (lambda f, s: f.add_slice([("AGE", "in", 3)]), ValueError, "takes a list"),
    (lambda f, s: f.add_slice("AGE ≈ 3"), ValueError, "cannot read"),
    (lambda f, s: f.add_slice([]), ValueError, "at least one predicate"),
    (lambda f, s: f.add_thresholds({1: 0.5}, ["SEX"]), ValueError, r"without a threshold \[2\]"),
    (lambda f, s: f.add_thresholds({}, ["SEX"]), TypeError, "non-empty mapping"),
    (lambda f, s: f.add_thresholds({1: 0.5, 2: 0.5}, "SEX", favourable="good"), ValueError,
     "favourable must be"),
    (lambda f, s: f.add_find({"AGE": 30}), ValueError, "pass every feature, or base="),
    (lambda f, s: f.add(object()), TypeError, "takes a Finding"),
    (lambda f, s: Finding("bogus", "", "", {}), ValueError, "kind must be one of"),
])
def test_bad_input(credit, call, error, match):
    data, model = credit
    s = bind_credit(data, model)
    with pytest.raises(error, match=match):
        call(s.findings, s)
    assert len(s.findings) == 0


# -- JSON state ---------------------------------------------------------------------------------
def test_state_round_trip(marked, credit, tmp_path):
    s, _ = marked
    data, model = credit
    s.focus_row = s.findings[0].data["base"]
    s.selected_rows = tuple(s.findings[1].data["labels"])
    s.propose(s.focus_row, {"PAY_AMT1": np.nan, "PAY_0": 2}, source="test")
    s.widget_state["fairness"] = {"features": ["SEX"], "threshold": 0.4, "best": float("inf")}
    path = save_state(s, tmp_path / "state.json")
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
    loaded = load_state(path, model, data.X, data.y)
    assert loaded.findings.records == s.findings.records
    assert loaded.schema == s.schema and loaded.schema["SEX"].kind == "categorical"
    assert (loaded.focus_row, loaded.selected_rows) == (s.focus_row, s.selected_rows)
    assert loaded.candidate["values"]["PAY_0"] == 2 and np.isnan(
        loaded.candidate["values"]["PAY_AMT1"]) and loaded.candidate["source"] == "test"
    assert loaded.widget_state == s.widget_state
    assert loaded.task == s.task and loaded.adapter.pos_label == s.adapter.pos_label
    assert list(loaded.sensitive_features) == ["SEX", "AGE"]
    for kind, frame in s.findings.to_frames().items():
        pd.testing.assert_frame_equal(loaded.findings.to_frames()[kind], frame)


def test_state_string_labels_round_trip(tmp_path):
    X = pd.DataFrame({"a": np.linspace(0, 1, 40), "g": ["x", "y"] * 20},
                     index=[f"id-{i}" for i in range(40)])
    y = (X["a"] > 0.5).astype(int)
    model = LogisticRegression().fit(X[["a"]], y)
    s = mdw.bind(lambda df: model.predict_proba(df[["a"]])[:, 1], X, y, task="binary",
                 sensitive_features=pd.Series(list("pq") * 20, index=X.index, name="grp"))
    s.focus_row, s.selected_rows = "id-7", ("id-1", "id-30")
    s.findings.add_cohort(["id-3", "id-39"], note="strings")
    s.findings.add_thresholds({"p": 0.4, "q": 0.6}, ["grp"])
    path = save_state(s, tmp_path / "s.json")
    with pytest.raises(ValueError, match="sensitive_features="):
        load_state(path, s.model, X, y)
    loaded = load_state(path, s.model, X, y, sensitive_features=s.sensitive_features["grp"])
    assert (loaded.focus_row, loaded.selected_rows) == ("id-7", ("id-1", "id-30"))
    assert loaded.findings.records == s.findings.records
    assert loaded.findings[0].data["labels"] == ("id-3", "id-39")


def test_state_errors(credit, tmp_path):
    data, model = credit
    s = bind_credit(data, model)
    path = save_state(s, tmp_path / "state.json")
    with pytest.raises(FileNotFoundError, match="no state file"):
        load_state(tmp_path / "nope.json", model, data.X, data.y)
    with pytest.raises(ValueError, match="is a folder"):
        load_state(tmp_path, model, data.X, data.y)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON state file"):
        load_state(tmp_path / "bad.json", model, data.X, data.y)
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a mldebug_widgets state"):
        load_state(tmp_path / "other.json", model, data.X, data.y)
    changed = data.X.copy()
    changed.iloc[3, 0] += 1
    with pytest.raises(ValueError, match="saved on other data: the values"):
        load_state(path, model, changed, data.y)
    with pytest.raises(ValueError, match="saved with 2000 rows, X has 1999"):
        load_state(path, model, data.X.iloc[1:], data.y.iloc[1:])
    with pytest.raises(ValueError, match="saved with labels: pass y"):
        load_state(path, model, data.X)
    other = mdw.datasets.demo_model(data, kind="logistic")
    with pytest.raises(ValueError, match="scores the data differently"):
        load_state(path, other, data.X, data.y)
    assert load_state(path, other, data.X, data.y, allow_model_change=True).model is other
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_state(s, tmp_path / "missing" / "state.json")
    with pytest.raises(ValueError, match="is a folder"):
        save_state(s, tmp_path)
    s.widget_state["w"] = {"x": object()}
    with pytest.raises(TypeError, match=r"widget_state\['w'\]"):
        save_state(s, tmp_path / "state2.json")


# -- HTML report --------------------------------------------------------------------------------
class _Structure(HTMLParser):
    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self):
        super().__init__()
        self.stack, self.text, self.sections, self.errors, self.svgs = [], [], [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        self.svgs += tag == "svg"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_report(marked, tmp_path):
    s, _ = marked
    text = s.findings.to_html(tmp_path / "report.html")
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == text
    parser = _Structure()
    parser.feed(text)
    parser.close()
    assert not parser.errors and parser.stack == []
    assert parser.sections == [f"finding-{i}" for i in range(len(s.findings))]
    body = " ".join(parser.text)
    for finding in s.findings:
        if finding.note:
            assert finding.note in body  # as text: "<coin flip>" was escaped, not a tag
    assert "&lt;coin flip&gt;" in text and "0.8 × reference" in body
    assert parser.svgs >= 1 + 1 + 2 + 2  # overview, row, cohort (bars, histogram), slice...
    lowered = text.lower()
    for external in ("http://", "https://", "<script", "src=", "url(", "@import"):
        assert external not in lowered
    assert f"{s.findings[1].data['value']:.4g}" in body


# -- pytest export -------------------------------------------------------------------------------
MUTANTS = '''
"""Models with the planted bugs fixed "the other way", for the mutation check."""
import functools
import json
import pathlib

import joblib
import numpy as np
import pandas as pd

import mldebug_widgets as mdw

HERE = pathlib.Path(__file__).parent
PAY = [f"PAY_AMT{i}" for i in range(1, 7)]


@functools.cache
def base():
    return joblib.load(HERE / "model.joblib")


@functools.cache
def truth():
    info = json.loads((HERE / "oracle.json").read_text())
    data = mdw.datasets.load_credit(n_rows=info["n_rows"], random_state=0)
    rows = data.X.loc[info["labels"]]
    keys = pd.util.hash_pandas_object(rows, index=False).tolist()
    return dict(zip(keys, data.y.loc[info["labels"]].tolist()))


class Fixed:
    classes_ = np.array([0, 1])

    def __init__(self, pocket=False, oracle=False, shift=False, robust=False):
        self.pocket, self.oracle, self.shift, self.robust = pocket, oracle, shift, robust

    def predict_proba(self, X):
        X = X.copy()
        if self.robust:  # text in a number column is read as missing instead of raising
            for c in PAY:
                X[c] = pd.to_numeric(X[c], errors="coerce")
        p = base().predict_proba(X)[:, 1]
        if self.pocket:  # no pocket: low payments score as ordinary ones
            a1, a2 = X["PAY_AMT1"], X["PAY_AMT2"]
            inside = (((a1 <= 200) | a1.isna()) & ((a2 <= 200) | a2.isna())).to_numpy()
            if inside.any():
                moved = X[inside].copy()
                moved[["PAY_AMT1", "PAY_AMT2"]] = 5000.0
                p[inside] = base().predict_proba(moved)[:, 1]
        if self.oracle:  # right on the mislabeled cohort and the weak slice
            known = truth()
            for i, key in enumerate(pd.util.hash_pandas_object(X, index=False).tolist()):
                if key in known:
                    p[i] = 0.98 if known[key] == 1 else 0.02
        if self.shift:  # another decision rule for SEX == 2
            p = np.where(X["SEX"].to_numpy() == 2, np.minimum(p + 0.3, 1.0), p)
        return np.column_stack([1 - p, p])


def all_fixed():
    return Fixed(pocket=True, oracle=True, shift=True, robust=True)


def oracle():
    return Fixed(oracle=True)
'''
NO_WIDGETS = '''
import sys

import pandas as pd

import mldebug_widgets as mdw


def test_findings_and_exports_load_no_widget_library(tmp_path):
    s = mdw.bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 3.0],
                 task="regression")
    s.findings.add_cohort([1])
    s.findings.to_html(tmp_path / "r.html")
    mdw.findings.save_state(s, tmp_path / "s.json")
    s.findings.to_pytest(tmp_path / "test_g.py", "m:load")
    assert not {"ipywidgets", "bqplot"} & set(sys.modules)
'''
DATA = '''
import mldebug_widgets as mdw


def load():
    data = mdw.datasets.load_credit(n_rows={n}, random_state=0)
    return data.X, data.y
'''


def _outcomes(report):
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "error" if "error" in kinds else "failed" if "failure" in kinds else "passed"
        out.setdefault(case.get("classname"), {})[case.get("name")] = outcome
    return out


def test_pytest_export_passes_on_the_model_and_fails_on_fixed_models(marked, credit, tmp_path):
    """The mutation check, and (same subprocess) the exports load no widget library."""
    s, _ = marked
    data, model = credit
    sio.dump(model, tmp_path / "model.skops")
    joblib.dump(model, tmp_path / "model.joblib")
    (tmp_path / "mutants.py").write_text(MUTANTS)
    (tmp_path / "datamod.py").write_text(DATA.format(n=N_ROWS))
    (tmp_path / "test_no_widgets.py").write_text(NO_WIDGETS)  # same process: no extra start
    oracle_rows = data.bugs["mislabeled_cluster"].mask | data.bugs["weak_slice"].mask
    (tmp_path / "oracle.json").write_text(json.dumps(
        {"n_rows": N_ROWS, "labels": data.X.index[oracle_rows].tolist()}))
    export = s.findings.to_pytest
    files = {
        "holds_model": export(tmp_path / "test_holds_model.py", "model.skops",
                              data_loader="datamod:load"),
        "holds_embedded": export(tmp_path / "test_holds_embedded.py", "model.joblib",
                                 max_embedded_rows=N_ROWS),
        "holds_fixed": export(tmp_path / "test_holds_fixed.py", "mutants:all_fixed",
                              data_loader="datamod:load"),
        "holds_oracle": export(tmp_path / "test_holds_oracle.py", "mutants:oracle",
                               data_loader="datamod:load"),
        "fixed_model": export(tmp_path / "test_fixed_model.py", "model.skops",
                              data_loader="datamod:load", mode="fixed"),
        "fixed_fixed": export(tmp_path / "test_fixed_fixed.py", "mutants:all_fixed",
                              data_loader="datamod:load", mode="fixed"),
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--junitxml=report.xml", *[p.name for p in files.values()], "test_no_widgets.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    outcomes = _outcomes(tmp_path / "report.xml")
    assert len(outcomes) == len(files) + 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert set(outcomes.pop("test_no_widgets").values()) == {"passed"}, run.stdout[-3000:]
    n = len(s.findings)
    for name, expected in (("holds_model", "passed"), ("holds_embedded", "passed"),
                           ("holds_fixed", "failed"), ("fixed_model", "failed"),
                           ("fixed_fixed", "passed")):
        got = outcomes[f"test_{name}"]
        assert len(got) == n and set(got.values()) == {expected}, (name, got, run.stdout[-3000:])
    by_kind = {}
    for name, outcome in outcomes["test_holds_oracle"].items():
        by_kind.setdefault(name.split("_")[2], set()).add(outcome)
    assert by_kind["cohort"] == by_kind["slice"] == {"failed"}  # fixed by the oracle
    assert by_kind["row"] == by_kind["find"] == {"passed"}  # edited rows are not data rows
    assert "The finding no longer holds" in run.stdout and "The bug is not fixed" in run.stdout


def test_pytest_export_is_data_not_code(marked, tmp_path):
    s, _ = marked
    path = s.findings.to_pytest(tmp_path / "test_gen.py", "mutants:all_fixed")
    tree = ast.parse(path.read_text())
    imports = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
               for a in node.names}
    assert imports == {"pytest", "mldebug_widgets", "findings"}
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
              for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert called <= {"float", "fixture", "load_model", "bind", "frame", "predict", "tolist",
                      "assert_finding", "assert_raises", "embedded", "rows_metric",
                      "group_air"}
    tests = [node for node in tree.body if isinstance(node, ast.FunctionDef)
             and node.name.startswith("test_")]
    assert [ast.get_docstring(t).split(":")[0] for t in tests] == [
        f"{f.kind} #{i}" for i, f in enumerate(s.findings)]
    hostile = mdw.bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 5.0],
                       task="regression")
    hostile.findings.add_cohort([1], note="'''\"\"\"); import os; os.system('echo pwned') #")
    text = hostile.findings.to_pytest(tmp_path / "test_hostile.py", "m:load").read_text()
    assert "import os" not in [line.strip() for line in text.splitlines()]
    assert "os" not in {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}


def test_pytest_export_errors(marked, tmp_path):
    s, _ = marked
    export = s.findings.to_pytest
    with pytest.raises(ValueError, match="neither 'package.module:function'"):
        export(tmp_path / "test_x.py", "__import__('os').system('ls')")
    with pytest.raises(TypeError, match="must be a string"):
        export(tmp_path / "test_x.py", 3)
    with pytest.raises(ValueError, match="data_loader 'data.csv'"):
        export(tmp_path / "test_x.py", "m:load", data_loader="data.csv")
    with pytest.raises(ValueError, match="must be a .py file"):
        export(tmp_path / "test_x.txt", "m:load")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export(tmp_path / "missing" / "test_x.py", "m:load")
    with pytest.raises(ValueError, match="max_embedded_rows=100"):
        export(tmp_path / "test_x.py", "m:load", max_embedded_rows=100)
    with pytest.raises(FileNotFoundError, match="pass trusted="):
        export(tmp_path / "test_x.py", "absent.skops", data_loader="d:load")
    with pytest.raises(ValueError, match="mode must be"):
        export(tmp_path / "test_x.py", "m:load", mode="maybe")
    empty = mdw.bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), task="regression")
    with pytest.raises(ValueError, match="no findings to export"):
        empty.findings.to_pytest(tmp_path / "test_x.py", "m:load")
    assert not (tmp_path / "test_x.py").exists()


def test_user_objects_untouched(marked, tmp_path):
    s, (X, y, model, before) = marked
    s.findings.to_frames()
    s.findings.to_html()
    save_state(s, tmp_path / "s.json")
    s.findings.to_pytest(tmp_path / "test_t.py", "m:load", data_loader="d:load")
    assert fingerprint(X, y, model) == before
