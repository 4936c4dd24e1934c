"""bind(): every kind of model, the schema, rebinding, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _helpers import fingerprint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from mldebug_widgets import BindError, FeatureSchema, ModelError, SchemaError, bind
from mldebug_widgets.analysis import ice


def test_binary_classifier(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y)
    assert session.task == "binary" and session.output_names == [1]
    np.testing.assert_allclose(session.predictions()[:, 0], binary_model.predict_proba(X)[:, 1])


def test_pos_label_selects_the_other_column(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y, pos_label=0)
    np.testing.assert_allclose(session.predictions()[:, 0], binary_model.predict_proba(X)[:, 0])


def test_multiclass_shows_every_class(multiclass_model, multiclass_data):
    X, y = multiclass_data
    session = bind(multiclass_model, X, y)
    assert session.task == "multiclass" and session.output_names == [0, 1, 2]
    np.testing.assert_allclose(session.predictions(), multiclass_model.predict_proba(X))


def test_regressor_shows_values(regression_model, regression_data):
    X, y = regression_data
    session = bind(regression_model, X, y)
    assert session.task == "regression" and session.adapter.output_kind == "value"
    np.testing.assert_allclose(session.predictions()[:, 0], regression_model.predict(X))


def test_pipeline_on_raw_frame(pipeline_model, mixed_data):
    X, y = mixed_data
    session = bind(pipeline_model, X, y, sensitive_features=["city"])
    np.testing.assert_allclose(session.predictions()[:, 0], pipeline_model.predict_proba(X)[:, 1])
    assert session.sensitive_features.columns.tolist() == ["city"]


def test_decision_function_only(decision_model, binary_data):
    X, y = binary_data
    session = bind(decision_model, X, y)
    assert session.adapter.response_method == "decision_function"
    assert session.adapter.output_kind == "decision"
    np.testing.assert_allclose(session.predictions()[:, 0], decision_model.decision_function(X))
    flipped = bind(decision_model, X, y, pos_label=0)
    np.testing.assert_allclose(flipped.predictions()[:, 0], -decision_model.decision_function(X))


def test_plain_callable(binary_model, binary_data):
    X, y = binary_data
    session = bind(lambda df: binary_model.predict_proba(df)[:, 1], X, y)
    assert session.task == "binary"
    np.testing.assert_allclose(session.predictions()[:, 0], binary_model.predict_proba(X)[:, 1])
    multi = bind(lambda df: np.full((len(df), 3), 1 / 3), X)
    assert multi.task == "multiclass"
    reg = bind(lambda df: df["f0"] * 10, X)
    assert reg.task == "regression"


def test_sensitive_features_as_separate_frame(binary_model, binary_data):
    X, y = binary_data
    groups = pd.Series(np.where(X["f0"] > 0, "a", "b"), index=X.index, name="group")
    session = bind(binary_model, X, y, sensitive_features=groups)
    assert session.sensitive_features["group"].tolist() == groups.tolist()
    with pytest.raises(BindError, match="not a column of X"):
        bind(binary_model, X, y, sensitive_features=["nope"])
    with pytest.raises(BindError, match="align it with X"):
        bind(binary_model, X, y, sensitive_features=groups.iloc[:10].to_numpy())


def test_extra_columns_are_not_passed_to_the_model(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X.assign(ID=np.arange(len(X))), y)
    np.testing.assert_allclose(session.predictions()[:, 0], binary_model.predict_proba(X)[:, 1])


def test_model_fitted_on_array_gets_arrays(binary_data):
    X, y = binary_data
    model = LogisticRegression().fit(X.to_numpy(), y)
    with _no_warning():
        session = bind(model, X.to_numpy(), y)
        session.predictions()
    assert session.features == ["0", "1", "2", "3"]


class _no_warning:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# -- bad input: each error says what to do -------------------------------------------------

def test_unfitted_model(binary_data):
    X, y = binary_data
    with pytest.raises(BindError, match=r"not fitted yet\. Call model\.fit"):
        bind(HistGradientBoostingClassifier(), X, y)


def test_length_mismatch(binary_model, binary_data):
    X, y = binary_data
    with pytest.raises(BindError, match="X has 400 rows but y has 399"):
        bind(binary_model, X, y.iloc[:-1])
    with pytest.raises(BindError, match="y's index does not match"):
        bind(binary_model, X, y.set_axis(y.index + 1))


def test_array_for_pipeline_that_needs_names(pipeline_model, mixed_data):
    X, y = mixed_data
    with pytest.raises(BindError, match=r"Pass X as a pandas DataFrame with those columns"):
        bind(pipeline_model, X.to_numpy(), y)
    with pytest.raises(BindError, match=r"lacks columns .*'city'"):
        bind(pipeline_model, X.drop(columns="city"), y)


def test_not_a_model_and_not_data(binary_data):
    X, y = binary_data
    with pytest.raises(BindError, match="callable f\\(DataFrame\\)"):
        bind(42, X, y)
    with pytest.raises(BindError, match="pandas DataFrame or a 2-D array"):
        bind(lambda df: df, {"a": 1}, y)
    with pytest.raises(BindError, match="duplicate index"):
        bind(lambda df: df["f0"], pd.concat([X, X]), task="regression")


def test_model_that_raises_shows_its_message(binary_data):
    X, y = binary_data

    def broken(df):
        raise ValueError("feature f9 missing from booster")

    with pytest.raises(ModelError, match="raised ValueError on predict: feature f9 missing"):
        bind(broken, X, y, task="binary")


@pytest.mark.parametrize("output, message", [
    (lambda df: np.full(len(df), np.nan), "non-finite prediction"),
    (lambda df: np.ones(len(df) + 1), "shape \\(51,\\) for 50 rows"),
    (lambda df: np.ones((len(df), 2, 2)), "shape"),
    (lambda df: np.array(["a"] * len(df)), "non-numeric"),
])
def test_bad_predictions(binary_data, output, message):
    X, y = binary_data
    with pytest.raises(ModelError, match=message):
        bind(output, X, y, task="regression")


def test_bad_options(binary_model, binary_data):
    X, y = binary_data
    with pytest.raises(BindError, match="task must be one of"):
        bind(binary_model, X, y, task="ranking")
    with pytest.raises(BindError, match="response_method must be one of"):
        bind(binary_model, X, y, response_method="nope")
    with pytest.raises(BindError, match="has no decision_function.*choose response_method"):
        bind(DecisionTreeClassifier(max_depth=2).fit(X, y), X, y,
             response_method="decision_function")


# -- schema --------------------------------------------------------------------------------

def test_schema_inference_and_overrides(mixed_data):
    X, _ = mixed_data
    schema = FeatureSchema.infer(X.assign(flag=X["age"] > 40))
    kinds = {name: schema[name].kind for name in schema}
    assert kinds == {"income": "numeric", "age": "integer", "city": "categorical",
                     "owner": "categorical", "flag": "boolean"}
    assert schema["city"].categories == ("east", "north", "south")
    assert schema["income"].n_missing == int(X["income"].isna().sum())
    assert schema["age"].min == X["age"].min() and schema["age"].max == X["age"].max()
    changed = schema.override({"age": {"mutable": False, "min": 18, "max": 100}})
    assert not changed["age"].mutable and changed["age"].max == 100
    assert schema["age"].mutable  # schemas are values: the original is unchanged
    with pytest.raises(SchemaError, match="unknown schema field"):
        schema.override({"age": {"mutabel": False}})
    with pytest.raises(SchemaError, match="unknown feature"):
        schema.override({"nope": {"mutable": False}})


def test_integer_codes_become_categories():
    X = pd.DataFrame({"SEX": [1, 2, 2, 1], "EDUCATION": [1, 2, 3, 6]})
    schema = FeatureSchema.infer(X).override({"EDUCATION": {"kind": "categorical"}})
    assert schema["EDUCATION"].categories == (1, 2, 3, 6)
    assert schema["EDUCATION"].validate("6") == 6
    with pytest.raises(SchemaError, match="not a known value of EDUCATION"):
        schema["EDUCATION"].validate(4)


def test_validate_values():
    schema = FeatureSchema.infer(pd.DataFrame({"age": [20, 30], "x": [0.5, 1.5]}))
    assert schema["age"].validate("45") == 45 and schema["age"].validate(200) == 200
    assert np.isnan(schema["x"].validate(""))
    with pytest.raises(SchemaError, match="not a whole number"):
        schema["age"].validate(4.5)
    with pytest.raises(SchemaError, match="not a number"):
        schema["x"].validate("abc")


def test_bind_with_schema_overrides(binary_model, binary_data):
    X, y = binary_data
    session = bind(binary_model, X, y, schema={"f0": {"mutable": False}})
    assert not session.schema["f0"].mutable


# -- rebinding and no mutation -------------------------------------------------------------

def test_set_model_and_refresh(binary_data):
    X, y = binary_data
    model = LogisticRegression(C=0.01).fit(X, y)
    session = bind(model, X, y)
    seen = []
    session.observe(lambda change: seen.append(change["new"]), "model_version")
    first = session.predictions().copy()
    model.set_params(C=100.0).fit(X, y)  # refitted in place
    session.refresh()
    assert seen == [1]
    np.testing.assert_allclose(session.predictions()[:, 0], model.predict_proba(X)[:, 1])
    assert not np.allclose(first, session.predictions())
    other = clone(model).set_params(C=1.0).fit(X, y)
    session.set_model(other)
    assert seen == [1, 2] and session.model is other


def test_nothing_is_mutated(pipeline_model, mixed_data):
    X, y = mixed_data
    before = fingerprint(X, y, pipeline_model)
    session = bind(pipeline_model, X, y, sensitive_features=["city"])
    session.predictions()
    ice(session, [0, 1, 2], margin=0.1, include_missing=True)
    assert fingerprint(X, y, pipeline_model) == before


# -- property: bind + ICE never crash without a clear error --------------------------------

_frames = data_frames(
    columns=[
        column("num", dtype=float,
               elements=st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))),
        column("int", dtype=int, elements=st.integers(-100, 100)),
        column("cat", elements=st.sampled_from(["a", "b", "c", None])),
        column("flag", dtype=bool),
    ],
    index=range_indexes(min_size=1, max_size=30),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_frames, kind=st.sampled_from(["callable", "pipeline"]))
def test_bind_and_ice_never_crash_unclearly(frame, kind):
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    y = (np.arange(len(frame)) % 2).astype(int)
    if kind == "callable":
        model = lambda df: 1 / (1 + np.exp(-np.nan_to_num(df["num"].to_numpy(float) / 1e6)))  # noqa: E731
    else:
        model = make_pipeline(
            make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["cat", "flag"]),
                                    remainder="passthrough"),
            HistGradientBoostingClassifier(max_iter=5))
        try:
            model.fit(frame, y)
        except ValueError:
            return  # too little data to fit; not what this test is about
    try:
        session = bind(model, frame, y, task="binary" if kind == "callable" else "auto")
        result = ice(session, frame.index[0], margin=0.1, include_missing=True, resolution=5)
    except (BindError, ModelError, SchemaError) as exc:
        assert str(exc)  # a clear, typed error is acceptable
        return
    assert set(result.curves) == set(frame.columns)
