"""Exceptions and the message templates they use.

Every message says what was wrong and how to fix it. Messages are module constants so
that tests can match them and widgets can show the same text.
"""

from __future__ import annotations


class BindError(ValueError):
    """The model and data cannot be bound together (bad input, with the fix in the message)."""


class ModelError(RuntimeError):
    """The bound model raised, or returned predictions that cannot be used."""


class SchemaError(ValueError):
    """A feature value or a schema override is not valid for the feature."""


NOT_A_MODEL = (
    "model must be a fitted scikit-learn estimator or a callable f(DataFrame) -> array; "
    "got {type}. Wrap other libraries' models as a function, e.g. "
    "bind(lambda df: booster.predict(xgboost.DMatrix(df)), X, y)."
)
NOT_FITTED = (
    "{name} is not fitted yet. Call model.fit(X, y) before binding it, or pass a fitted copy."
)
X_TYPE = (
    "X must be a pandas DataFrame or a 2-D array; got {type}. "
    "Convert it with pandas.DataFrame(X, columns=[...])."
)
X_NEEDS_COLUMNS = (
    "{name} was fitted on a DataFrame with columns {columns}, but X has no column names. "
    "Pass X as a pandas DataFrame with those columns."
)
X_MISSING_COLUMNS = (
    "X lacks columns the model was fitted on: {missing}. Pass the same columns used in fit()."
)
X_EMPTY = "X has no rows; bind at least one row."
X_DUPLICATE_COLUMNS = "X has duplicate column names {names}; make column names unique."
X_DUPLICATE_INDEX = (
    "X has a duplicate index (labels such as {labels} appear twice); rows are addressed by "
    "their index label, so call X.reset_index(drop=True) or set a unique ID index first."
)
Y_LENGTH = (
    "X has {n_x} rows but y has {n_y}; pass y aligned with X (the same rows in the same order)."
)
Y_INDEX = (
    "y's index does not match X's index; pass y aligned with X, e.g. y.loc[X.index], "
    "or y.to_numpy() if the rows are already in the same order."
)
SENSITIVE_UNKNOWN = (
    "sensitive feature {name!r} is not a column of X; pass column names of X or a "
    "DataFrame/Series aligned with X."
)
SENSITIVE_LENGTH = "sensitive_features has {n_s} rows but X has {n_x}; align it with X."
TASK_UNKNOWN = "task must be one of {allowed}; got {task!r}."
RESPONSE_UNKNOWN = "response_method must be one of {allowed}; got {method!r}."
RESPONSE_MISSING = "{name} has no {method}(); choose response_method from {available}."
MODEL_RAISED = "The model raised {exc_type} on predict: {message}"
PRED_SHAPE = (
    "The model returned predictions of shape {shape} for {n} rows; expected ({n},) or ({n}, k). "
    "Make the prediction function return one value (or one row of class scores) per input row."
)
PRED_NOT_FINITE = (
    "The model returned {bad} non-finite prediction(s) (NaN or inf), first at input rows "
    "{rows}. Check its handling of missing or extreme values, or impute before predicting."
)
PRED_NOT_NUMERIC = (
    "The model returned non-numeric predictions (dtype {dtype}). For a classifier, pass "
    "response_method='predict_proba' or a function that returns scores."
)
CALLABLE_TASK = (
    "Could not tell the task of a plain function from its output; pass "
    "task='binary', 'multiclass' or 'regression' to bind()."
)
UNKNOWN_ROW = "row {row!r} is not in the bound data's index (first labels: {first})."
UNKNOWN_FEATURE = "unknown feature {name!r}; features are {features}."
