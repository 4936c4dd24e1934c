"""Model assertions: the rule grammar, its errors, its safety, and rules applied to data.

References are independent: hand-written pandas masks, scikit-learn metrics on predictions
overridden by hand, the planted adversarial pocket of the demo data, and the exported pytest
file run in a subprocess.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score

import mldebug_widgets as mdw
from mldebug_widgets.analysis import (
    _rules,
    _rules_eval,
    _rules_export,
    _rules_lexer,
    _rules_ops,
    _rules_parser,
    _rules_tree,
    assertions,
)
from mldebug_widgets.analysis._rules import dump
from mldebug_widgets.analysis.assertions import (
    RuleModel,
    RuleSyntaxError,
    RuleTypeError,
    check_row,
    check_rules,
    parse_rule,
    parse_rules,
    rules_to_pytest,
)

# -- grammar ---------------------------------------------------------------------------------
GRAMMAR = [
    ('AGE < 21 and prediction > 0.5 -> flag "young applicant high risk"',
     "(and (< AGE 21) (> prediction 0.5))"),
    ("PAY_AMT1 > LIMIT_BAL -> override 0.5", "(> PAY_AMT1 LIMIT_BAL)"),
    ('PAY_AMT1 <= 200 and PAY_AMT2 <= 200 -> flag "pocket"',
     "(and (<= PAY_AMT1 200) (<= PAY_AMT2 200))"),
    ('EDUCATION in (0, 5, 6) -> flag "undocumented code"', "(in EDUCATION (0 5 6))"),
    ("PAY_AMT1 is missing -> override 0.5", "(missing PAY_AMT1)"),
    # precedence: arithmetic > comparison > not > and > or
    ("a > 0 or b > 1 and c < 2 -> flag 'p'", "(or (> a 0) (and (> b 1) (< c 2)))"),
    ("(a > 0 or b > 1) and c < 2 -> flag 'p'", "(and (or (> a 0) (> b 1)) (< c 2))"),
    ("not a > 0 and b > 0 -> flag 'p'", "(and (not (> a 0)) (> b 0))"),
    ("not (a > 0 and b > 0) -> flag 'p'", "(not (and (> a 0) (> b 0)))"),
    ("not not a == 1 -> flag 'p'", "(not (not (== a 1)))"),
    ("a + b * c > 1 -> flag 'p'", "(> (+ a (* b c)) 1)"),
    ("(a + b) * c > 1 -> flag 'p'", "(> (* (+ a b) c) 1)"),
    ("a - b - c >= a / b / c -> flag 'p'", "(>= (- (- a b) c) (/ (/ a b) c))"),
    ("-a * 2 < - -b -> flag 'p'", "(< (* (- a) 2) (- (- b)))"),
    ("0 < a <= 5 -> flag 'p'", "(and (< 0 a) (<= a 5))"),
    ("a not in (1, 2,) -> flag 'p'", "(not (in a (1 2)))"),
    ("a is not missing or is_missing(b) -> flag 'p'", "(or (not (missing a)) (missing b))"),
    ("abs(a - 1) >= max(b, 1, c) * min(a, 2) -> clip 0 1",
     "(>= (abs (- a 1)) (* (max b 1 c) (min a 2)))"),
    ("city == 'north' and city != \"south\" -> flag 'p'",
     "(and (== city 'north') (!= city 'south'))"),
    ("`my col` > 1e3 and `x.y` < .5 -> flag 'p'", "(and (> `my col` 1000.0) (< `x.y` 0.5))"),
    ("prediction[1] > 0.5 or prediction['yes'] > 0.5 or prediction[setosa] > 0.5 -> flag 'p'",
     "(or (> prediction[1] 0.5) (> prediction['yes'] 0.5) (> prediction['setosa'] 0.5))"),
    ("label == 1 and prediction < 0.1 -> flag 'p'", "(and (== label 1) (< prediction 0.1))"),
    ("flag == true -> flag 'p'", "(== flag True)"),
    ("a>1->flag'p'  # a comment", "(> a 1)"),
]


@pytest.mark.parametrize(("text", "expected"), GRAMMAR)
def test_grammar_table(text, expected):
    rule = parse_rule(text)
    assert dump(rule.condition) == expected
    assert "#" not in rule.text and rule.text == rule.text.strip()


def test_actions_and_rule_fields():
    flag = parse_rule(r'AGE < 21 -> flag "say \"hi\" \\ ok"')
    assert (flag.action, flag.message, flag.value, flag.bounds) == \
        ("flag", 'say "hi" \\ ok', None, None)
    assert parse_rule("x > 1 -> override -1.5").value == -1.5
    assert parse_rule("x > 1 -> clip -1 2").bounds == (-1.0, 2.0)
    rule = parse_rule("b > a and label == 1 and prediction > 0 and a < 3 -> flag 'm'")
    assert rule.features == ("b", "a") and rule.uses_label and rule.uses_prediction
    assert repr(rule) == f"Rule({rule.text!r})"
    with pytest.raises(Exception, match="cannot assign|frozen"):
        rule.text = "x"


def _caret_column(message: str) -> int:
    return message.splitlines()[-1].index("^") - 2


ERRORS = [
    # text, position, error class, quoted fragment of the message
    ("(AGE < 21 and ) -> flag 'x'", 14, RuleSyntaxError, "unexpected ')' at position 14"),
    ("AGE < 21", 8, RuleSyntaxError, "unexpected end of rule"),
    ("AGE < 21 ->", 11, RuleSyntaxError, "expected an action"),
    ("AGE < 21 -> explode", 12, RuleSyntaxError, "unexpected 'explode'"),
    ("AGE < 21 -> flag", 16, RuleSyntaxError, "a message in quotes"),
    ("AGE < 21 -> flag 'a' -> flag 'b'", 21, RuleSyntaxError, "'->' appears once"),
    ("AGE < 21 -> override x", 21, RuleSyntaxError, "unexpected 'x'"),
    ("AGE < 21 -> clip 1 0", 12, RuleSyntaxError, "clip bounds 1 > 0"),
    ("AGE < 21 -> override 1e999", 21, RuleSyntaxError, "too large"),
    ("AGE = 21 -> flag 'x'", 4, RuleSyntaxError, "unexpected character '='"),
    ("AGE < 21 && x > 1 -> flag 'x'", 9, RuleSyntaxError, "unexpected character '&'"),
    ("AGE ** 2 > 1 -> flag 'x'", 5, RuleSyntaxError, "unexpected '*'"),
    ("AGE < 1 -> flag 'young", 16, RuleSyntaxError, "unterminated string"),
    ("`AGE < 1 -> flag 'x'", 0, RuleSyntaxError, "unterminated name"),
    ("`` < 1 -> flag 'x'", 0, RuleSyntaxError, "empty name"),
    ("AGE in 1, 2 -> flag 'x'", 7, RuleSyntaxError, "expected '(' and a list"),
    ("AGE in (1 2) -> flag 'x'", 10, RuleSyntaxError, "unexpected '2'"),
    ("AGE is 1 -> flag 'x'", 7, RuleSyntaxError, "expected 'missing'"),
    ("abs(AGE, 1) > 1 -> flag 'x'", 0, RuleSyntaxError, "abs() takes 1 argument"),
    ("AGEE > 1 -> flag 'x'", 0, RuleSyntaxError, "unknown feature 'AGEE'"),
    ("AGE < 1 AND x > 1 -> flag 'x'", 8, RuleSyntaxError, "unexpected 'AND'"),
    ("", 0, RuleSyntaxError, "unexpected end of rule"),
    ("AGE > 1 -> flag 'a\\nb'", 18, RuleSyntaxError, "unknown escape"),
    ("AGE -> flag 'x'", 0, RuleTypeError, "the condition 'AGE' is a value"),
    ("AGE and x > 1 -> flag 'x'", 0, RuleTypeError, "'and' joins conditions"),
    ("not AGE -> flag 'x'", 4, RuleTypeError, "'not' negates a condition"),
    ("AGE + 'a' > 1 -> flag 'x'", 6, RuleTypeError, "\"'a'\" is text but '+' needs numbers"),
    ("(AGE > 1) + 1 > 1 -> flag 'x'", 0, RuleTypeError, "is a condition but '+' needs"),
    ("AGE > 'old' -> flag 'x'", 0, RuleTypeError, "text can only be compared with =="),
    ("AGE in (1, 'a') -> flag 'x'", 0, RuleTypeError, "mixes text and numbers"),
    ("1 == 'a' -> flag 'x'", 5, RuleTypeError, "cannot compare '1' (a number) with"),
]


@pytest.mark.parametrize(("text", "position", "error", "fragment"), ERRORS)
def test_errors_point_at_the_offending_token(text, position, error, fragment):
    with pytest.raises(error) as info:
        parse_rule(text, features=["AGE", "x"])
    exc = info.value
    assert isinstance(exc, ValueError) and exc.position == position
    assert fragment in str(exc)
    assert f"at position {position}" in str(exc)
    assert _caret_column(str(exc)) == position
    assert str(exc).splitlines()[1] == "  " + exc.text


def test_unknown_feature_lists_close_matches():
    with pytest.raises(RuleSyntaxError, match=r"did you mean 'PAY_AMT\d', 'PAY_AMT\d'\?"):
        parse_rule("PAY_AMT > 1 -> flag 'x'", features=["PAY_AMT1", "PAY_AMT2", "AGE"])
    with pytest.raises(RuleSyntaxError, match="keywords are lowercase: and"):
        parse_rule("x > 1 and AND > 1 -> flag 'x'", features=["x"])


def test_parse_rules_skips_comments_and_reports_the_line():
    text = "# header\n\nAGE < 21 -> flag 'young'\n  # indented comment\nAGE > 200 -> flag 'old'\n"
    assert [r.message for r in parse_rules(text)] == ["young", "old"]
    with pytest.raises(RuleSyntaxError) as info:
        parse_rules("AGE < 21 -> flag 'a'\n\nAGE < ) -> flag 'b'")
    assert info.value.line == 3 and info.value.position == 6
    assert str(info.value).startswith("line 3: unexpected ')' at position 6")
    with pytest.raises(RuleSyntaxError) as info:
        parse_rules(["AGE < 1 -> flag 'a'", parse_rule("AGE > 1 -> flag 'b'"), "AGE <"])
    assert info.value.line == 3
    with pytest.raises(TypeError, match="a rule is a string"):
        parse_rule(42)


def test_static_type_errors_with_known_columns():
    frame = pd.DataFrame({"city": pd.array(["a", "b"], dtype="string"), "n": [1, 2]})
    with pytest.raises(RuleTypeError, match=r"cannot compare 'city' \(text\) with '3'"):
        parse_rule("city == 3 -> flag 'x'", features=frame)
    schema = mdw.schema.FeatureSchema.infer(frame.astype({"city": object}))
    with pytest.raises(RuleTypeError, match="text can only be compared"):
        parse_rule("city < 'b' -> flag 'x'", features=schema)
    assert parse_rule("n in (1, 2) -> flag 'x'", features=schema).features == ("n",)


# -- safety ------------------------------------------------------------------------------------
ATTACKS = [
    ("__import__('os').system('echo hi') -> flag 'x'", 0, "is not a function"),
    ("os.system('x') -> flag 'x'", 2, "unexpected character '.'"),
    ("a.b > 1 -> flag 'x'", 1, "unexpected character '.'"),
    ("AGE.__class__ > 1 -> flag 'x'", 3, "unexpected character '.'"),
    ("x[0]() > 1 -> flag 'x'", 1, "only prediction takes a class"),
    ("prediction[__import__('os')] > 1 -> flag 'x'", 21, "unexpected '('"),
    ("lambda: 1 -> flag 'x'", 0, "Python keyword"),
    ("(lambda x: x)(1) > 0 -> flag 'x'", 1, "Python keyword"),
    ("import os -> flag 'x'", 0, "Python keyword"),
    ("f'{AGE}' > 1 -> flag 'x'", 1, "unexpected \"'{AGE}'\""),
    ("AGE > 1; import os -> flag 'x'", 7, "unexpected character ';'"),
    ("AGE > 1 -> flag 'x'; import os", 19, "unexpected character ';'"),
    ("AGE > 1 -> flag 'x' + open('f').read()", 20, "unexpected '+'"),
    ("eval('1') > 0 -> flag 'x'", 0, "'eval' is not a function"),
    ("exec('x') > 0 -> flag 'x'", 0, "'exec' is not a function"),
    ("getattr(AGE, 'real') > 0 -> flag 'x'", 0, "'getattr' is not a function"),
    ("open('/etc/passwd') == 'x' -> flag 'x'", 0, "'open' is not a function"),
    ("`AGE` `x` > 1 -> flag 'x'", 6, "unexpected '`x`'"),
    ("`a`b` > 1 -> flag 'x'", 3, "unexpected 'b'"),
    ("AGE > 1 -> override __import__('os')", 20, "expected a number"),
    ("{AGE} > 1 -> flag 'x'", 0, "unexpected character '{'"),
    ("AGE if x else 1 -> flag 'x'", 4, "Python keyword"),
    ("AGE > 1 -> flag 'x' \\\n import os", 20, "unexpected character '\\\\'"),
    ("AGE > 1\n-> flag 'x'", 7, "a rule is one line"),
]


def _forbid(name):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"{name} was called while handling rule text")
    return forbidden


@pytest.mark.parametrize(("text", "position", "fragment"), ATTACKS)
def test_injection_attempts_are_parse_errors_and_reach_no_eval(monkeypatch, text, position,
                                                               fragment):
    for name in ("eval", "exec", "compile", "__import__"):
        monkeypatch.setattr(builtins, name, _forbid(name))
    try:
        with pytest.raises(RuleSyntaxError) as info:
            parse_rule(text)
    finally:
        monkeypatch.undo()
    error = info.value
    assert error.position == position and fragment in str(error), str(error)


def test_evaluation_reaches_no_eval_nor_new_imports(monkeypatch):
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0], "c": ["x", None, "y"],
                      "__import__('os')": [1, 2, 3]})
    session = mdw.bind(lambda df: df["a"].fillna(0) / 4, X, [0, 1, 1], task="binary")
    rules = ["a > 1 and c == 'x' or a is missing -> override 0.5",
             "`__import__('os')` in (1, 2) and abs(a) >= max(a, 1) -> flag 'q'",
             "c not in ('system', 'eval') -> clip 0 0.5", "label == 1 -> flag 'l'"]
    expected = check_rules(session, rules).fired.to_numpy()
    loaded, real_import = set(sys.modules), builtins.__import__

    def guarded_import(name, *args, **kwargs):
        level = args[3] if len(args) > 3 else kwargs.get("level", 0)
        denied = {"os", "subprocess", "shutil", "socket", "importlib", "builtins", "ctypes"}
        if level == 0 and (name.split(".")[0] in denied or name not in loaded):
            raise AssertionError(f"import of {name!r} while evaluating rules")
        return real_import(name, *args, **kwargs)

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, _forbid(name))
    monkeypatch.setattr(builtins, "__import__", guarded_import)
    try:
        result = check_rules(session, rules)
        fired = check_row(session, session.row(0), rules)
    finally:
        monkeypatch.undo()
    np.testing.assert_array_equal(result.fired.to_numpy(), expected)
    np.testing.assert_array_equal(expected[:, 0], [False, True, False])
    assert [r.message for r in fired if r.message] == ["q"]


def test_modules_never_call_eval_exec_compile_or_import_dynamically():
    for module in (_rules, _rules_lexer, _rules_parser, _rules_tree, _rules_ops, _rules_eval,
                   _rules_export, assertions):
        tree = ast.parse(Path(module.__file__).read_text())
        names = {n.func.id for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        attrs = {n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        assert not names & {"eval", "exec", "compile", "__import__"}, module.__name__
        assert "import_module" not in attrs


# -- evaluation against pandas -------------------------------------------------------------
def _refs(df: pd.DataFrame, p: np.ndarray) -> list:
    a, b, c, d = df["a"], df["b"], df["c"], df["d"]
    return [
        ("a < 0.5", a < 0.5),
        ("a != 0", (a != 0) & a.notna()),
        ("a + b > 1", a + b > 1),
        ("not a > 0", ~(a > 0)),
        ("a <= b or c == 'x'", (a <= b) | (c == "x")),
        ("c != 'x'", (c != "x") & c.notna()),
        ("c in ('x', 'y') and d not in (1, 2)", c.isin(["x", "y"]) & ~d.isin([1, 2])),
        ("a is missing or b is not missing", a.isna() | b.notna()),
        ("abs(a - b) >= max(a, b) / 2", (a - b).abs() >= np.maximum(a, b) / 2),
        ("prediction > 0.5 and a < 0", (pd.Series(p, index=df.index) > 0.5) & (a < 0)),
        ("-a < b * 2 - 1", -a < b * 2 - 1),
        ("0 <= a < 1", (a >= 0) & (a < 1)),
        ("a / b > 1", a / b > 1),
        ("min(a, d) == d or d - 1 in (0, 4)", (np.minimum(a, d) == d) | (d - 1).isin([0, 4])),
    ]


FRAMES = st.integers(5, 40).flatmap(lambda n: st.fixed_dictionaries({
    "a": st.lists(st.one_of(st.floats(-3, 3), st.just(np.nan), st.just(0.0)),
                  min_size=n, max_size=n),
    "b": st.lists(st.one_of(st.floats(-3, 3), st.just(np.nan), st.just(0.0)),
                  min_size=n, max_size=n),
    "c": st.lists(st.sampled_from(["x", "y", "z", None]), min_size=n, max_size=n),
    "d": st.lists(st.integers(0, 5), min_size=n, max_size=n),
}))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES)
def test_evaluation_equals_pandas_masks(columns):
    df = pd.DataFrame(columns).astype({"c": object})
    p = np.linspace(0, 1, len(df))
    for condition, reference in _refs(df, p):
        rule = parse_rule(f"{condition} -> flag 'r'", features=df)
        np.testing.assert_array_equal(rule.evaluate(df, prediction=p),
                                      reference.to_numpy(dtype=bool), err_msg=condition)


def test_missing_value_semantics():
    df = pd.DataFrame({"x": [1.0, np.nan], "s": ["a", None]})

    def mask(condition):
        return parse_rule(f"{condition} -> flag 'm'").evaluate(df).tolist()

    # every comparison with a missing operand is False, != included
    for condition in ("x > 0", "x <= 0", "x == x", "x != 5", "s == 'a'", "s != 'b'",
                      "x in (1, 2)", "s in ('a', 'b')", "x + 1 > 0", "abs(x) >= 0"):
        assert mask(condition)[1] is False, condition
    assert mask("x is missing") == [False, True]
    assert mask("s is not missing") == [True, False]
    assert mask("not x > 0") == [False, True]  # not negates: True where x is missing
    assert mask("x not in (5,)") == [True, True]


def test_evaluation_type_errors_name_the_operands():
    # an object column: its kind is only known from its values, at evaluation
    X = pd.DataFrame({"city": pd.Series(["north", "south"], dtype=object), "n": [1.0, 2.0]})
    session = mdw.bind(lambda df: df["n"] / 4, X, task="regression")
    with pytest.raises(RuleTypeError) as info:
        check_rules(session, "n > 0 -> flag 'a'\ncity > 3 -> flag 'b'")
    assert "cannot compare 'city' (text) with '3' (numbers)" in str(info.value)
    assert info.value.position == 0 and isinstance(info.value, TypeError)
    # a string dtype: known when parsing, so the error also has the line
    session = mdw.bind(lambda df: df["n"] / 4, X.astype({"city": "string"}), task="regression")
    with pytest.raises(RuleTypeError) as info:
        check_rules(session, "n > 0 -> flag 'a'\ncity == 3 -> flag 'b'")
    assert info.value.line == 2 and info.value.position == 8
    assert "cannot compare 'city' (text) with '3' (a number)" in str(info.value)
    with pytest.raises(RuleSyntaxError, match="unknown feature 'citty'.*did you mean 'city'"):
        check_rules(session, "citty == 'x' -> flag 'a'")


# -- the demo data -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def credit():
    data = mdw.datasets.load_credit(n_rows=3_000, random_state=0)
    model = mdw.datasets.demo_model(data, kind="hgb")
    session = mdw.bind(model, data.X, data.y, schema=mdw.datasets.CREDIT_SCHEMA)
    return data, model, session


POCKET = "PAY_AMT1 <= 200 and PAY_AMT2 <= 200 and prediction > 0.5 -> flag 'pocket'"


def test_the_pocket_rule_catches_the_planted_pocket(credit):
    data, model, session = credit
    before = fingerprint(session.X, session.y, model)
    pocket = data.bugs["adversarial_pocket"].mask
    p = model.predict_proba(data.X)[:, 1]
    region = check_rules(session, "PAY_AMT1 <= 200 and PAY_AMT2 <= 200 -> flag 'region'")
    np.testing.assert_array_equal(region.fired[0].to_numpy(), pocket)  # the answer key
    result = check_rules(session, POCKET)
    np.testing.assert_array_equal(result.fired[0].to_numpy(), pocket & (p > 0.5))
    assert result.violations(0).equals(data.X.index[pocket & (p > 0.5)])
    assert pocket[result.fired[0].to_numpy()].all()  # every violation is in the pocket
    assert result.counts[0] > 0.5 * pocket.sum()  # and most of the pocket is caught
    assert result.shares[0] == pytest.approx(result.counts[0] / len(data.X))
    assert result.metrics["change"].abs().max() == 0  # a flag changes nothing
    assert fingerprint(session.X, session.y, model) == before


def test_overrides_change_metrics_as_computed_by_hand(credit):
    data, model, session = credit
    rules = ["EDUCATION in (0, 5, 6) -> override 0.5", "AGE < 25 -> clip 0 0.6",
             "PAY_0 >= 2 -> override 0.9", "PAY_0 >= 3 -> override 0.99", POCKET]
    result = check_rules(session, rules)
    X, y = data.X, data.y.to_numpy()
    p = model.predict_proba(X)[:, 1]
    fixed = p.copy()
    fixed[X["EDUCATION"].isin([0, 5, 6]).to_numpy()] = 0.5
    fixed[(X["PAY_0"] >= 2).to_numpy()] = 0.9
    fixed[(X["PAY_0"] >= 3).to_numpy()] = 0.99  # a later override wins
    young = (X["AGE"] < 25).to_numpy()
    fixed[young] = np.minimum(fixed[young], 0.6)  # clips after the overrides
    np.testing.assert_allclose(result.overridden[:, 0], fixed)
    np.testing.assert_allclose(result.predictions[:, 0], p)
    np.testing.assert_array_equal(result.fired[1].to_numpy(), young & (p > 0.6))
    for name, fn, scores in (("accuracy", skm.accuracy_score, lambda q: q >= 0.5),
                             ("auc", skm.roc_auc_score, lambda q: q),
                             ("log_loss", skm.log_loss, lambda q: q)):
        assert result.metrics.loc[name, "before"] == pytest.approx(fn(y, scores(p)))
        assert result.metrics.loc[name, "after"] == pytest.approx(fn(y, scores(fixed)))
    assert result.metrics.loc["log_loss", "change"] != 0
    frame = result.to_frame()
    assert frame["count"].tolist() == result.counts.tolist()
    assert frame.loc[1, "value"] == (0.0, 0.6) and frame.loc[0, "action"] == "override"
    rows = result.by_row()
    assert set(rows.index) == set(X.index[result.fired.to_numpy().any(axis=1)])
    assert rows.loc[result.violations(4)[0], "messages"] == "pocket"
    assert "accuracy" in result.summary() and result.summary().count("\n  [") == 5
    assert result.changed.sum() == (fixed != p).sum()


def test_rows_subset_and_bad_rows(credit):
    data, _, session = credit
    labels = data.X.index[:50]
    sub = check_rules(session, POCKET, rows=labels)
    full = check_rules(session, POCKET)
    assert sub.fired.index.equals(labels)
    np.testing.assert_array_equal(sub.fired[0].to_numpy(), full.fired[0].to_numpy()[:50])
    mask = np.zeros(len(data.X), dtype=bool)
    mask[::7] = True
    assert check_rules(session, POCKET, rows=mask).fired.index.equals(data.X.index[mask])
    with pytest.raises(KeyError, match="not in the session's data"):
        check_rules(session, POCKET, rows=[-5])


def test_rule_model_rebinds_to_the_overridden_predictions(credit):
    data, model, session = credit
    before = fingerprint(model)
    rules = "EDUCATION in (0, 5, 6) -> override 0.5\nAGE < 25 -> clip 0 0.6\n" + POCKET
    wrapped = RuleModel(model, rules).fit(data.X, data.y)
    assert wrapped.estimator_ is model and fingerprint(model) == before
    rebound = mdw.bind(wrapped, data.X, data.y)
    expected = check_rules(session, rules).overridden
    np.testing.assert_allclose(rebound.predictions(), expected)
    proba = wrapped.predict_proba(data.X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    changed = expected[:, 0] != model.predict_proba(data.X)[:, 1]
    predicted = wrapped.predict(data.X)
    np.testing.assert_array_equal(predicted[~changed], model.predict(data.X)[~changed])
    np.testing.assert_array_equal(predicted[changed], (expected[changed, 0] >= 0.5).astype(int))
    np.testing.assert_array_equal(wrapped.fired(data.X).to_numpy(),
                                  check_rules(session, rules).fired.to_numpy())
    assert not hasattr(wrapped, "decision_function")  # the rules act on the probability
    params = clone(wrapped).get_params()
    assert params["rules"] == rules and params["estimator"] is not model


def test_rule_model_fits_a_clone_of_an_unfitted_estimator(binary_data):
    X, y = binary_data
    unfitted = LogisticRegression()
    wrapped = RuleModel(unfitted, "f0 > 1 -> override 1").fit(X, y)
    assert not hasattr(unfitted, "coef_")  # a clone was fitted
    reference = LogisticRegression().fit(X, y).predict_proba(X)[:, 1]
    reference[(X["f0"] > 1).to_numpy()] = 1.0
    np.testing.assert_allclose(wrapped.predict_proba(X)[:, 1], reference)
    assert mdw.bind(wrapped, X, y).task == "binary"
    assert wrapped.score(X, y) == skm.accuracy_score(y, (reference >= 0.5).astype(int))
    # clone-able: cross-validation refits a clone per fold and scores the rules' predictions
    scores = cross_val_score(RuleModel(LogisticRegression(), "f0 > 1 -> override 1"), X, y,
                             cv=3)
    assert len(scores) == 3 and np.all((scores > 0.5) & (scores <= 1))


def test_rule_model_regression_decision_function_and_refusals(
        regression_data, decision_model, binary_data, multiclass_model, multiclass_data):
    X, y = regression_data
    base = LinearRegression().fit(X, y)
    wrapped = RuleModel(base, "r0 > 1 -> override 0\nabs(prediction) > 50 -> clip -50 50").fit(X)
    expected = base.predict(X)
    expected[(X["r0"] > 1).to_numpy()] = 0
    np.testing.assert_allclose(wrapped.predict(X), np.clip(expected, -50, 50))
    assert mdw.bind(wrapped, X, y).task == "regression"
    Xb, yb = binary_data
    svc = RuleModel(decision_model, "f1 > 2 -> override -10").fit(Xb, yb)
    scores = decision_model.decision_function(Xb)
    scores[(Xb["f1"] > 2).to_numpy()] = -10
    np.testing.assert_allclose(svc.decision_function(Xb), scores)
    assert not hasattr(svc, "predict_proba")
    with pytest.raises(ValueError, match="does not see labels"):
        RuleModel(base, "label > 0 -> flag 'x'").fit(X)
    Xm, ym = multiclass_data
    with pytest.raises(ValueError, match="can only flag"):
        RuleModel(multiclass_model, "f0 > 0 -> override 0.5").fit(Xm, ym)
    with pytest.raises(ValueError, match="not a probability"):
        RuleModel(LogisticRegression().fit(Xb, yb), "f0 > 0 -> override 2").fit(Xb, yb)
    with pytest.raises(TypeError, match="as a pandas DataFrame"):
        RuleModel(base, "r0 > 0 -> flag 'x'").fit(X.to_numpy())
    flags = RuleModel(multiclass_model, "prediction[2] > 0.5 -> flag 'c2'").fit(Xm, ym)
    np.testing.assert_array_equal(flags.predict(Xm), multiclass_model.predict(Xm))
    np.testing.assert_array_equal(flags.fired(Xm)[0].to_numpy(),
                                  multiclass_model.predict_proba(Xm)[:, 2] > 0.5)


def test_multiclass_and_regression_sessions(multiclass_model, multiclass_data, regression_model,
                                            regression_data):
    Xm, ym = multiclass_data
    session = mdw.bind(multiclass_model, Xm, ym)
    proba = multiclass_model.predict_proba(Xm)
    result = check_rules(session, "prediction[1] > prediction[0] -> flag 'one over zero'")
    np.testing.assert_array_equal(result.fired[0].to_numpy(), proba[:, 1] > proba[:, 0])
    np.testing.assert_array_equal(result.rules[0].evaluate(
        Xm, prediction=pd.DataFrame(proba, columns=[0, 1, 2])), proba[:, 1] > proba[:, 0])
    assert result.metrics.loc["accuracy", "before"] == pytest.approx(
        skm.accuracy_score(ym, multiclass_model.predict(Xm)))
    with pytest.raises(RuleSyntaxError, match=r"write prediction\[<class>\]"):
        check_rules(session, "prediction > 0.5 -> flag 'x'")
    with pytest.raises(RuleSyntaxError, match="7 is not a class"):
        check_rules(session, "prediction[7] > 0.5 -> flag 'x'")
    with pytest.raises(ValueError, match="can only flag"):
        check_rules(session, "f0 > 0 -> clip 0 0.5")
    X, y = regression_data
    session = mdw.bind(regression_model, X, y)
    result = check_rules(session, "r1 < -1 -> override 0")
    fixed = regression_model.predict(X)
    fixed[(X["r1"] < -1).to_numpy()] = 0
    assert result.metrics.loc["rmse", "after"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, fixed)))
    assert result.metrics.loc["mae", "before"] == pytest.approx(
        skm.mean_absolute_error(y, regression_model.predict(X)))


def test_check_row_is_cheap_and_follows_edits(credit):
    data, _, session = credit
    rules = ["AGE < 21 and prediction > 0.5 -> flag 'young applicant high risk'",
             "PAY_AMT1 > LIMIT_BAL -> override 0.5", "EDUCATION in (0, 5, 6) -> flag 'code'"]
    label = data.X.index[0]
    row = session.row(label).assign(AGE=20, PAY_AMT1=1e7, EDUCATION=5)
    calls = session.adapter.n_calls
    p = session.predict(row)[0, 0]
    fired = check_row(session, row, rules)
    assert session.adapter.n_calls == calls + 2  # ours above, and exactly one in check_row
    assert [r.text for r in fired] == rules[int(p <= 0.5):]
    calls = session.adapter.n_calls
    assert check_row(session, row, rules, prediction=[0.9]) == list(parse_rules(rules))
    assert check_row(session, row, rules[1:]) == list(parse_rules(rules[1:]))  # no prediction
    assert session.adapter.n_calls == calls
    X = data.X
    quiet = X.index[~(X["PAY_AMT1"] > X["LIMIT_BAL"]) & ~X["EDUCATION"].isin([0, 5, 6])][0]
    assert check_row(session, session.row(quiet), rules[1:]) == []
    assert check_row(session, row, "# nothing but a comment") == []
    with pytest.raises(ValueError, match="one-row DataFrame"):
        check_row(session, data.X.head(2), rules)


# -- pytest export -----------------------------------------------------------------------------
def test_exported_pytest_file_runs_and_fails_where_the_rules_fire(credit, tmp_path):
    data, model, _ = credit
    payload = tmp_path / "pwned"
    evil = f"x\"); open({str(payload)!r}, 'w'); print(\"pwned"
    odd = "odd 'name\"\\"
    frame = data.X.assign(**{odd: 1.0, "DEFAULT": data.y})
    frame.to_csv(tmp_path / "data.csv")
    joblib.dump(model, tmp_path / "model.joblib")
    rules = [POCKET, "AGE > 500 -> flag 'impossible age'",
             "EDUCATION in (0, 5, 6) -> flag " + repr(evil),
             f"`{odd}` > 2 -> flag 'never'", "prediction > 0.99 -> clip 0 0.99",
             "label == 1 and prediction < 0.01 -> override 0.5"]
    parsed = parse_rules(rules)
    assert parsed[2].message == evil and parsed[3].features == (odd,)
    source = rules_to_pytest(parsed, tmp_path / "test_rules.py", model_path="model.joblib",
                             data_path="data.csv", target="DEFAULT", index_col="ID")
    assert (tmp_path / "test_rules.py").read_text() == source
    assert "mldebug_widgets" not in source.split('"""', 2)[2]  # standalone
    called = {n.func.id for n in ast.walk(ast.parse(source))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not called & {"open", "print", "eval", "exec"}  # the payload stayed in a string
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_rules.py"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    output = run.stdout
    assert not payload.exists()
    session = mdw.bind(model, frame.drop(columns="DEFAULT"), data.y)
    expected = check_rules(session, parsed).counts
    assert 0 < (expected > 0).sum() < len(parsed)  # some pass, some fail
    for i, count in enumerate(expected):
        name = re.search(rf"def (test_rule_{i:02d}_\w+)", source).group(1)
        failed = f"FAILED test_rules.py::{name}" in output
        assert failed == (count > 0), (name, count, output[-3000:])
        if count:
            assert f"fired on {count} of {len(data.X)} rows" in output
    n_failed = int((expected > 0).sum())
    assert f"{n_failed} failed, {len(parsed) - n_failed} passed" in output, output[-3000:]


def test_export_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="pass target="):
        rules_to_pytest("label == 1 -> flag 'x'")
    with pytest.raises(TypeError, match="pos_label must be"):
        rules_to_pytest("x > 1 -> flag 'x'", pos_label=object())
    assert "MAX_SHARE = 0.05" in rules_to_pytest("x > 1 -> flag 'x'", max_share=0.05)
