"""Shared fixtures: small fitted models of every kind the session must bind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

# two shared cores: OpenMP fan-out only adds noise to small predict calls
threadpool_limits(1)


@pytest.fixture(scope="session")
def binary_data():
    X, y = make_classification(n_samples=400, n_features=4, n_informative=3, n_redundant=0,
                               random_state=0)
    X = pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"])
    return X, pd.Series(y, name="y")


@pytest.fixture(scope="session")
def binary_model(binary_data):
    X, y = binary_data
    return HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def multiclass_data():
    X, y = make_classification(n_samples=450, n_features=4, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=1)
    return pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"]), pd.Series(y, name="y")


@pytest.fixture(scope="session")
def multiclass_model(multiclass_data):
    X, y = multiclass_data
    return LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture(scope="session")
def regression_data():
    X, y = make_regression(n_samples=300, n_features=3, noise=1.0, random_state=0)
    return pd.DataFrame(X, columns=["r0", "r1", "r2"]), pd.Series(y, name="y")


@pytest.fixture(scope="session")
def regression_model(regression_data):
    X, y = regression_data
    return RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def mixed_data():
    """A raw frame with string categoricals and NaN, as a real credit file arrives."""
    rng = np.random.default_rng(0)
    n = 500
    X = pd.DataFrame({
        "income": rng.lognormal(10, 0.5, n),
        "age": rng.integers(18, 80, n),
        "city": rng.choice(["north", "south", "east"], n),
        "owner": rng.choice(["yes", "no"], n),
    })
    X.loc[rng.random(n) < 0.1, "income"] = np.nan
    X.loc[rng.random(n) < 0.05, "city"] = np.nan
    logit = 0.00005 * X["income"].fillna(20000) - 0.03 * X["age"] + (X["city"] == "north") * 1.0
    y = pd.Series((logit + rng.normal(0, 1, n) > logit.median()).astype(int), name="y")
    return X, y


@pytest.fixture(scope="session")
def pipeline_model(mixed_data):
    X, y = mixed_data
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), ["city", "owner"]),
        ("num", SimpleImputer(strategy="median"), ["income", "age"]),
    ])
    return make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="session")
def decision_model(binary_data):
    X, y = binary_data
    return LinearSVC(random_state=0).fit(X, y)
