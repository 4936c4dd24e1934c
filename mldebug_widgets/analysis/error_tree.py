"""Error tree: a shallow decision tree fitted to the residuals, read as rules.

"Where do errors cluster?" becomes a short list of rules such as ``PAY_0 ≥ 1.5 & PAY_5 ≥ 1``,
each with its support and mean residual, ordered from the worst leaf down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from ..session import DebugSession
from .residuals import ResidualKind, residuals


@dataclass(frozen=True)
class ErrorTreeResult:
    """The leaves of an error tree as rules.

    Attributes
    ----------
    rules : pandas.DataFrame
        One row per leaf, worst first: ``rule, support, share, mean_residual,
        total_residual_share`` (and ``class`` when fitted per true class), indexed by leaf.
    r2 : dict
        R² of the tree on the residuals, per class (key None when fitted on all rows).
    leaf_of_row : numpy.ndarray
        The leaf index of every bound row (``-1`` for rows of no tree).
    trees : dict
        The fitted ``DecisionTreeRegressor`` per class (or None).
    """

    rules: pd.DataFrame
    r2: dict
    leaf_of_row: np.ndarray
    trees: dict

    def rows(self, leaf: int, index: pd.Index) -> pd.Index:
        """Return the index labels of the rows in ``leaf``."""
        return index[self.leaf_of_row == leaf]


def error_tree(
    session: DebugSession,
    *,
    kind: ResidualKind = "auto",
    max_depth: int = 3,
    min_samples_leaf: int | float = 0.01,
    by_class: bool = False,
    features: list[str] | None = None,
    max_fit_rows: int = 100_000,
    random_state: int = 0,
) -> ErrorTreeResult:
    """Fit a shallow regression tree to the residuals and report its leaves as rules.

    Numeric and integer features split on thresholds (missing values follow the side the
    tree learned, written ``or missing``); categorical features are one-hot encoded, so they
    split as ``city = north`` / ``city ≠ north``. Conditions on the same feature along a path
    are merged into one interval.

    Parameters
    ----------
    session : DebugSession
        The bound model and data (with ``y``).
    kind : str, default="auto"
        The residual kind (see :func:`residuals`).
    max_depth : int, default=3
        Depth of the tree: at most ``2**max_depth`` rules.
    min_samples_leaf : int or float, default=0.01
        Smallest leaf, as a count or a fraction of the rows (keeps rules about real groups).
    by_class : bool, default=False
        Fit one tree per true class (classification): errors on positives and negatives
        usually have different causes.
    features : list of str, default=None
        Features the rules may use (default: all).
    max_fit_rows : int, default=100_000
        Fit on at most this many rows (a seeded sample); leaves, support and R² are then
        computed on all rows. Keeps the tree to about a second at a million rows.
    random_state : int, default=0
        Seed of the tree.

    Returns
    -------
    ErrorTreeResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": np.arange(100.0), "b": np.tile([0.0, 1.0], 50)})
    >>> y = np.where(X["a"] >= 80, 10.0, 0.0)
    >>> s = bind(lambda df: np.zeros(len(df)), X, y, task="regression")
    >>> error_tree(s, max_depth=1).rules["rule"].iloc[0]
    'a > 79.5'
    """
    res = residuals(session, kind).to_numpy()
    features = list(features or session.features)
    design, columns = _design(session, features)
    groups: dict[Any, np.ndarray] = {None: np.ones(len(res), dtype=bool)}
    if by_class:
        if session.task == "regression":
            raise ValueError("by_class needs a classifier; fit one tree for a regressor.")
        y = session.y.to_numpy()
        groups = {c: y == c for c in pd.unique(y)}
    frames, r2, trees = [], {}, {}
    leaf_of_row = np.full(len(res), -1)
    offset = 0
    for label, mask in groups.items():
        if mask.sum() < 2:
            continue
        tree = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                                     random_state=random_state)
        rows = np.flatnonzero(mask)
        fit_rows = rows if len(rows) <= max_fit_rows else np.sort(
            np.random.default_rng(random_state).choice(rows, max_fit_rows, replace=False))
        tree.fit(design[fit_rows], res[fit_rows])
        leaves = tree.apply(design[mask])
        leaf_of_row[mask] = leaves + offset
        rules = _leaf_rules(tree, columns, np.isnan(design[mask]).any(axis=0))
        nodes = np.array(list(rules), dtype=int)
        size = tree.tree_.node_count
        support = np.bincount(leaves, minlength=size)[nodes]
        sums = np.bincount(leaves, weights=res[mask], minlength=size)[nodes]
        absolute = np.bincount(leaves, weights=np.abs(res[mask]), minlength=size)[nodes]
        frame = pd.DataFrame({
            "leaf": nodes + offset,
            "rule": list(rules.values()),
            "support": support,
            "share": support / len(res),
            "mean_residual": sums / np.maximum(support, 1),
            "total_residual_share": absolute / (float(np.abs(res).sum()) or 1.0),
        })
        if by_class:
            frame.insert(1, "class", label)
        frames.append(frame)
        r2[label] = float(tree.score(design[mask], res[mask]))
        trees[label] = tree
        offset += tree.tree_.node_count
    rules = pd.concat(frames, ignore_index=True).sort_values(
        "mean_residual", ascending=False, kind="stable").set_index("leaf")
    return ErrorTreeResult(rules=rules, r2=r2, leaf_of_row=leaf_of_row, trees=trees)


def _design(session: DebugSession, features: list[str]) -> tuple[np.ndarray, list[tuple]]:
    """Numeric matrix for the tree, and what each column means: (feature, category or None)."""
    parts, columns = [], []
    for name in features:
        spec, column = session.schema[name], session.X[name]
        if spec.kind in ("numeric", "integer"):
            parts.append(column.to_numpy(dtype=np.float64, na_value=np.nan))
            columns.append((name, None))
            continue
        values = column.to_numpy(dtype=object)
        for category in (spec.categories or pd.unique(column.dropna())):
            parts.append((values == category).astype(np.float64))
            columns.append((name, category))
    return np.column_stack(parts), columns


def _leaf_rules(tree: DecisionTreeRegressor, columns: list[tuple],
                has_missing: np.ndarray) -> dict[int, str]:
    """Walk the tree; merge the conditions of each path into one readable rule per leaf."""
    t = tree.tree_
    missing_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
    rules: dict[int, str] = {}

    def walk(node: int, bounds: dict) -> None:
        if t.children_left[node] == -1:
            rules[node] = " & ".join(_describe(key, b) for key, b in bounds.items()) or "all rows"
            return
        key = columns[t.feature[node]]
        threshold = float(t.threshold[node])
        for child, side in ((t.children_left[node], "le"), (t.children_right[node], "gt")):
            b = dict(bounds.get(key, {}))
            if side == "le":
                b["hi"] = min(b.get("hi", np.inf), threshold)
            else:
                b["lo"] = max(b.get("lo", -np.inf), threshold)
            # missing values reach this leaf only if every split on the feature sent them here
            b["missing"] = b.get("missing", True) and has_missing[t.feature[node]] and (
                bool(missing_left[node]) == (side == "le"))
            walk(child, {**bounds, key: b})

    walk(0, {})
    return rules


def _describe(key: tuple, bound: dict) -> str:
    name, category = key
    lo, hi = bound.get("lo", -np.inf), bound.get("hi", np.inf)
    if category is not None:  # one-hot column: ≤ 0.5 means "not this category"
        return f"{name} = {category}" if lo >= 0.5 else f"{name} ≠ {category}"
    if np.isfinite(lo) and np.isfinite(hi):
        text = f"{lo:.4g} < {name} ≤ {hi:.4g}"
    elif np.isfinite(lo):
        text = f"{name} > {lo:.4g}"
    else:
        text = f"{name} ≤ {hi:.4g}"
    return f"({text} or missing)" if bound.get("missing") else text
