"""alibi's explainers on a session: ALE beside the native one, and Anchors for one row.

alibi is an optional extra (``pip install mldebug-widgets[alibi]``). Its licence is the
Business Source License 1.1 and it pins ``numpy<2`` and ``pandas<3``, so it lives in its own
environment; nothing in the package imports it unless these functions are called.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import ale as native_ale
from ..session import DebugSession

INSTALL = ("alibi is not installed. Install the extra in its own environment: "
           "pip install 'mldebug-widgets[alibi]' (alibi is licensed under the Business Source "
           "License 1.1 and needs numpy<2 and pandas<3). The native ALE "
           "(mdw.analysis.ale) and every other tool work without it.")


def available() -> bool:
    """Return whether alibi can be imported (without importing it).

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    return importlib.util.find_spec("alibi") is not None


def _explainers() -> Any:
    if not available():
        raise ImportError(INSTALL)
    return importlib.import_module("alibi.explainers")


class _Encoded:
    """The session's rows as the numeric matrix alibi wants, and back.

    Categorical and boolean features become their category's position (alibi's convention for
    Anchors); numbers stay numbers.
    """

    def __init__(self, session: DebugSession):
        self.session = session
        self.categories = {f: list(session.schema[f].categories) for f in session.features
                           if session.schema[f].kind in ("categorical", "boolean")}

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty(X.shape, dtype=np.float64)
        for j, name in enumerate(X.columns):
            if name in self.categories:
                codes = pd.Categorical(X[name], categories=self.categories[name]).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = X[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        X = self.session.X
        columns = {}
        for j, name in enumerate(X.columns):
            values = np.asarray(matrix[:, j], dtype=np.float64)
            if name in self.categories:
                cats = np.array(self.categories[name], dtype=object)
                codes = np.clip(np.nan_to_num(values, nan=-1).round().astype(int), -1,
                                len(cats) - 1)
                column = pd.Series(np.where(codes < 0, None, cats[np.maximum(codes, 0)]),
                                   dtype=object)
                columns[name] = column.astype(X[name].dtype) if codes.min() >= 0 else column
            elif pd.api.types.is_integer_dtype(X[name].dtype) and np.isfinite(values).all():
                columns[name] = values.round().astype(X[name].dtype)
            else:
                columns[name] = values
        return pd.DataFrame(columns)

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        return self.session.predict(self.decode(np.atleast_2d(matrix)), check_finite=False)


def alibi_ale(session: DebugSession, feature: str, *, bins: int = 20) -> pd.DataFrame:
    """ALE of a numeric feature from ``alibi.explainers.ALE``, beside the native ALE.

    alibi is given the native ALE's bin edges as its grid points, so the two compute the
    same quantity and must agree (they do to ~1e-8 on the demo model).

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    feature : str
        A numeric or integer feature (alibi's ALE has no categorical mode).
    bins : int, default=20
        Quantile bins, as in :func:`mldebug_widgets.analysis.ale`.

    Returns
    -------
    pandas.DataFrame
        ``feature, value, output, ale`` (native), ``alibi_ale``, ``difference``.

    Raises
    ------
    ImportError
        If alibi is not installed (the message says how to install it).
    ValueError
        For a categorical feature.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> if available():  # doctest: +SKIP
    ...     data = mdw.datasets.load_credit(n_rows=2_000)
    ...     s = mdw.bind(mdw.datasets.demo_model(data), data.X, data.y)
    ...     alibi_ale(s, "LIMIT_BAL")["difference"].abs().max() < 1e-6
    True
    """
    if session.schema[feature].kind not in ("numeric", "integer"):
        raise ValueError(f"{feature} is categorical: alibi's ALE handles numeric features "
                         "only; use mdw.analysis.ale for categorical ALE.")
    explainers = _explainers()
    ours = native_ale(session, feature, bins=bins)
    encoded = _Encoded(session)
    X = session.X[session.X[feature].notna()]
    j = list(session.X.columns).index(feature)
    edges = ours.loc[ours["output"] == ours["output"].iloc[0], "value"].to_numpy(dtype=float)
    explainer = explainers.ALE(encoded.scores, feature_names=list(session.X.columns),
                               target_names=[str(o) for o in session.output_names])
    explanation = explainer.explain(encoded.encode(X), features=[j], grid_points={j: edges})
    values = np.asarray(explanation.ale_values[0])  # (edges, outputs)
    out = ours.copy()
    out["alibi_ale"] = values.T.ravel() if len(session.output_names) > 1 else values[:, 0]
    out["difference"] = out["alibi_ale"] - out["ale"]
    return out


@dataclass(frozen=True)
class AnchorResult:
    """An Anchors explanation of one row (Ribeiro et al., 2018).

    Attributes
    ----------
    rule : tuple of str
        The anchor's predicates (all must hold for the prediction to stay, with the
        ``precision`` below, on perturbed rows).
    precision : float
        Share of rows satisfying the anchor that get the same prediction.
    coverage : float
        Share of perturbed rows that satisfy the anchor.
    prediction : object
        The predicted class the anchor explains.
    """

    rule: tuple[str, ...]
    precision: float
    coverage: float
    prediction: Any

    def __str__(self) -> str:
        """Return the anchor as one line of text."""
        rule = " AND ".join(self.rule) or "(any row)"
        return (f"IF {rule} THEN predict {self.prediction} "
                f"(precision {self.precision:.2f}, coverage {self.coverage:.2f})")


def anchor(session: DebugSession, row: Any, *, threshold: float = 0.95,
           random_state: int = 0) -> AnchorResult:
    """Explain one row's predicted class with ``alibi.explainers.AnchorTabular``.

    Parameters
    ----------
    session : DebugSession
        A classification session.
    row : object or pandas.DataFrame
        Index label of a row of ``session.X``, or a one-row frame (e.g. the what-if
        editor's edited row).
    threshold : float, default=0.95
        The precision the anchor must reach.
    random_state : int, default=0
        Seed of the perturbation sampling.

    Returns
    -------
    AnchorResult

    Raises
    ------
    ImportError
        If alibi is not installed (the message says how to install it).
    ValueError
        For a regression session.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> if available():  # doctest: +SKIP
    ...     data = mdw.datasets.load_credit(n_rows=2_000)
    ...     s = mdw.bind(mdw.datasets.demo_model(data), data.X, data.y)
    ...     0 <= anchor(s, data.X.index[0]).precision <= 1
    True
    """
    if session.task == "regression":
        raise ValueError("Anchors explain a predicted class; this session is a regression.")
    explainers = _explainers()
    encoded = _Encoded(session)
    frame = row if isinstance(row, pd.DataFrame) else session.row(row)

    def predict_class(matrix: np.ndarray) -> np.ndarray:
        scores = encoded.scores(matrix)
        if session.task == "binary":
            return (scores[:, 0] >= 0.5).astype(int)
        return scores.argmax(axis=1)

    matrix = encoded.encode(session.X)
    medians = np.nanmedian(matrix, axis=0)  # Anchors cannot discretise NaN: use the median
    matrix = np.where(np.isnan(matrix), medians, matrix)
    names = list(session.X.columns)
    categorical = {names.index(f): [str(c) for c in cats]
                   for f, cats in encoded.categories.items()}
    explainer = explainers.AnchorTabular(predict_class, names, categorical_names=categorical,
                                         seed=random_state)
    explainer.fit(matrix, disc_perc=(25, 50, 75))
    point = encoded.encode(frame)[0]
    point = np.where(np.isnan(point), medians, point)
    explanation = explainer.explain(point, threshold=threshold)
    label = int(predict_class(point[None, :])[0])
    positive = session.output_names[0]
    classes = [f"not {positive}", str(positive)] if session.task == "binary" \
        else [str(c) for c in session.output_names]
    return AnchorResult(rule=tuple(explanation.anchor), precision=float(explanation.precision),
                        coverage=float(explanation.coverage), prediction=classes[label])
