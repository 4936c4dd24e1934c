"""Threshold sweeps of the group metrics: every group at every threshold, so a slider is a lookup.

One stable sort of the rows by (group, score) plus cumulative sums of the positives give the
confusion counts of every group at any threshold with one ``searchsorted``: no loop over
thresholds touches the rows, and the model is never called (the session's cached
predictions are used).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..session import DebugSession
from ._fairness_groups import Bins, _bins_key, _grouping, _with_overall
from .fairness import _check_threshold, _labels, confusion_counts, rates


@dataclass(frozen=True)
class ThresholdSweep:
    """Confusion counts of every group at every threshold, and exact lookups in between.

    A row is predicted positive when its positive-class score is ``>= threshold``.

    Attributes
    ----------
    groups : pandas.Index
        The groups, the last one ``"overall"``.
    thresholds : numpy.ndarray
        The swept thresholds, ascending.
    tp, fp, tn, fn : numpy.ndarray of shape (len(groups), len(thresholds))
        Confusion counts.
    """

    groups: pd.Index
    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray
    _unique: np.ndarray = field(repr=False)
    _keys: np.ndarray = field(repr=False)
    _cumpos: np.ndarray = field(repr=False)
    _starts: np.ndarray = field(repr=False)
    _positives: np.ndarray = field(repr=False)
    _sizes: np.ndarray = field(repr=False)

    def counts(self, threshold: float) -> dict[str, np.ndarray]:
        """Confusion counts of every group at any ``threshold`` (O(groups · log n)).

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
        >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
        ...          sensitive_features="g")
        >>> threshold_sweep(s).counts(0.3)["tp"].tolist()
        [1, 1, 2]
        """
        columns = _count(self, np.array([_check_threshold(threshold)]))
        return {name: values[:, 0] for name, values in columns.items()}

    def at(self, threshold: float) -> pd.DataFrame:
        """Return the group table at ``threshold``: counts and every rate metric (a lookup).

        Equal to the same columns of ``group_metrics(session, threshold=threshold)``.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
        >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
        ...          sensitive_features="g")
        >>> threshold_sweep(s).at(0.5)[["tpr", "fpr"]]
                 tpr  fpr
        g
        a        1.0  0.0
        b        0.0  1.0
        overall  0.5  0.5
        """
        counts = self.counts(threshold)
        return _counts_table(counts, self.groups)

    def at_groups(self, thresholds: Sequence[float]) -> pd.DataFrame:
        """Return the group table when each group has its own threshold (a lookup).

        ``thresholds`` has one value per group (without "overall"); the overall row sums
        the groups' counts, so it describes the per-group decision rule as a whole.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
        >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
        ...          sensitive_features="g")
        >>> threshold_sweep(s).at_groups([0.5, 0.3])["tp"].tolist()
        [1, 1, 2]
        """
        n_groups = len(self.groups) - 1
        if len(thresholds) != n_groups:
            raise ValueError(f"pass one threshold per group ({n_groups}); got "
                             f"{len(thresholds)}.")
        counts = {name: np.zeros(n_groups + 1, dtype=np.int64) for name in ("tp", "fp", "tn",
                                                                             "fn")}
        for i, threshold in enumerate(thresholds):
            at = self.counts(threshold)
            for name in counts:
                counts[name][i] = at[name][i]
        for name in counts:
            counts[name][-1] = counts[name][:-1].sum()
        return _counts_table(counts, self.groups)

    def to_frame(self) -> pd.DataFrame:
        """Return a long frame: one row per (group, threshold), counts and rate metrics.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
        >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
        ...          sensitive_features="g")
        >>> threshold_sweep(s, [0.3, 0.8]).to_frame().shape
        (6, 16)
        """
        counts = {name: getattr(self, name).ravel() for name in ("tp", "fp", "tn", "fn")}
        table = {"count": sum(counts.values()), **counts, **rates(counts)}
        n_t = len(self.thresholds)
        levels = [self.groups.get_level_values(i).repeat(n_t)
                  for i in range(self.groups.nlevels)]
        index = pd.MultiIndex.from_arrays(
            [*levels, np.tile(self.thresholds, len(self.groups))],
            names=[*self.groups.names, "threshold"])
        return pd.DataFrame(table, index=index)


def threshold_sweep(session: DebugSession, thresholds: int | Sequence[float] | None = None, *,
                    sensitive_features: Any = None, bins: Bins = None,
                    max_categories: int = 10) -> ThresholdSweep:
    """Confusion counts and rate metrics of every group at every threshold at once.

    Parameters
    ----------
    session : DebugSession
        A binary classifier with labels and sensitive features.
    thresholds : None, int or array-like, default=None
        ``None``: 101 points over [0, 1] for probabilities (else over the scores' range);
        an int: that many evenly spaced points; an array: those thresholds.
    sensitive_features, bins, max_categories
        Grouping, as in :func:`~mldebug_widgets.analysis.fairness.group_metrics`.

    Returns
    -------
    ThresholdSweep
        Cached per model version; ``.at(t)`` gives the table at any ``t``.

    Raises
    ------
    ValueError
        For a task other than binary, missing labels or sensitive features.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
    ...          sensitive_features="g")
    >>> sweep = threshold_sweep(s, [0.0, 0.5, 1.0])
    >>> sweep.tp.tolist()
    [[1, 1, 0], [1, 0, 0], [2, 1, 0]]
    """
    if session.task != "binary":
        raise ValueError(f"a threshold sweep needs a binary classifier; the session's task is "
                         f"{session.task} (multiclass predictions are the argmax: use "
                         "group_metrics).")
    if session.y is None:
        raise ValueError("a threshold sweep needs the true labels: bind the model with y, e.g. "
                         "mdw.bind(model, X, y, sensitive_features=['SEX']).")
    codes, index = _grouping(session, sensitive_features, bins, max_categories)
    scores = session.predictions()[:, 0]
    grid = _grid(thresholds, scores, session.adapter.output_kind)
    key = ("fairness.threshold_sweep", tuple(index.names), _bins_key(bins), max_categories,
           sensitive_features if sensitive_features is None or isinstance(
               sensitive_features, str) else tuple(sensitive_features), tuple(grid.tolist()))
    return session.cached(key, lambda: _sweep(session, codes, index, scores, grid))


def _grid(thresholds: Any, scores: np.ndarray, output_kind: str) -> np.ndarray:
    low, high = (0.0, 1.0) if output_kind == "probability" else \
        (float(scores.min()), float(scores.max()))
    if thresholds is None:
        thresholds = 101
    if isinstance(thresholds, int | np.integer) and not isinstance(thresholds, bool):
        if thresholds < 2:
            raise ValueError(f"thresholds must be at least 2 points; got {thresholds}.")
        return np.linspace(low, high, int(thresholds))
    grid = np.unique(np.asarray(thresholds, dtype=np.float64).ravel())
    if not len(grid) or not np.isfinite(grid).all():
        raise ValueError("thresholds must be finite numbers, e.g. numpy.linspace(0, 1, 101).")
    return grid


def _sweep(session: DebugSession, codes: np.ndarray, index: pd.Index, scores: np.ndarray,
           grid: np.ndarray) -> ThresholdSweep:
    truth = _labels(session) == session.adapter.pos_label
    n_groups = len(index)
    unique = np.unique(scores)
    keys = codes.astype(np.int64) * (len(unique) + 1) + np.searchsorted(unique, scores)
    order = np.argsort(keys, kind="stable")  # the one sort: by group, then by score
    keys = keys[order]
    cumpos = np.concatenate([[0], np.cumsum(truth[order])])
    starts = np.searchsorted(keys, np.arange(n_groups + 1) * (len(unique) + 1))
    sweep = ThresholdSweep(
        _with_overall(index), grid, *(np.empty(0, dtype=np.int64),) * 4,
        _unique=unique, _keys=keys, _cumpos=cumpos, _starts=starts,
        _positives=np.bincount(codes, weights=truth, minlength=n_groups).astype(np.int64),
        _sizes=np.bincount(codes, minlength=n_groups))
    counts = _count(sweep, grid)
    return ThresholdSweep(sweep.groups, grid, counts["tp"], counts["fp"], counts["tn"],
                          counts["fn"], unique, keys, cumpos, starts, sweep._positives,
                          sweep._sizes)


def _count(sweep: ThresholdSweep, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Count (groups + 1, len(grid)) confusions; score >= t is predicted positive."""
    n_groups = len(sweep._sizes)
    rank = np.searchsorted(sweep._unique, grid, side="left")  # unique scores below t
    query = np.arange(n_groups)[:, None] * (len(sweep._unique) + 1) + rank[None, :]
    below = np.searchsorted(sweep._keys, query, side="left")  # rows before (g, score >= t)
    start = sweep._starts[:n_groups, None]
    below_pos = sweep._cumpos[below] - sweep._cumpos[start]
    positives, sizes = sweep._positives[:, None], sweep._sizes[:, None]
    tp = positives - below_pos
    fp = (sizes - (below - start)) - tp
    out = {"tp": tp, "fp": fp, "fn": positives - tp, "tn": (sizes - positives) - fp}
    return {name: np.vstack([out[name], out[name].sum(axis=0)]).astype(np.int64)
            for name in ("tp", "fp", "tn", "fn")}


def cohort_table(session: DebugSession, rows: Sequence[Any],
                 thresholds: float | Sequence[float] = 0.5, *, sensitive_features: Any = None,
                 bins: Bins = None, max_categories: int = 10) -> pd.DataFrame:
    """Return the group table of a subset of rows (a brushed cohort) at per-group thresholds.

    The groups are the session's (as in :func:`threshold_sweep`), so the table lines up
    with the full-data one; groups without a row in the cohort have count 0 and NaN rates.

    Parameters
    ----------
    session : DebugSession
        A binary classifier with labels and sensitive features.
    rows : sequence
        Index labels of the cohort.
    thresholds : float or sequence of float, default=0.5
        One threshold, or one per group (without "overall").
    sensitive_features, bins, max_categories
        Grouping, as in :func:`~mldebug_widgets.analysis.fairness.group_metrics`.

    Returns
    -------
    pandas.DataFrame
        ``count, tp, fp, tn, fn`` and every rate metric per group, and "overall".

    Raises
    ------
    ValueError
        For an unknown label or a wrong number of thresholds.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
    ...          sensitive_features="g")
    >>> cohort_table(s, [0, 2], [0.5, 0.8])[["count", "tp", "tn"]].to_dict("list")
    {'count': [1, 1, 2], 'tp': [1, 0, 1], 'tn': [0, 1, 1]}
    """
    if session.task != "binary":
        raise ValueError(f"a cohort table at thresholds needs a binary classifier; the "
                         f"session's task is {session.task}.")
    codes, index = _grouping(session, sensitive_features, bins, max_categories)
    positions = session.X.index.get_indexer(pd.Index(list(rows)))
    if (positions < 0).any():
        unknown = [r for r, p in zip(rows, positions, strict=True) if p < 0][:5]
        raise ValueError(f"rows {unknown} are not in the bound data; pass index labels of X.")
    n_groups = len(index)
    per_group = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_groups,)) \
        if np.ndim(thresholds) == 0 else np.asarray(thresholds, dtype=np.float64)
    if per_group.shape != (n_groups,):
        raise ValueError(f"pass one threshold or one per group ({n_groups}); got "
                         f"{len(per_group)}.")
    truth = (_labels(session) == session.adapter.pos_label)[positions]
    group = codes[positions]
    pred = session.predictions()[positions, 0] >= per_group[group]
    counts = confusion_counts(truth, pred, group, n_groups)
    return _counts_table(counts, _with_overall(index))


def _counts_table(counts: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """Return the group table from confusion counts: ``count``, the counts and every rate."""
    total = counts["tp"] + counts["fp"] + counts["tn"] + counts["fn"]
    return pd.DataFrame({"count": total, **counts, **rates(counts)}, index=index)
