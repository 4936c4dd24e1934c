"""Comparisons between sensitive groups: disparity ratios, adverse impact, marginal effect, SMD.

``disparity`` divides each group's :func:`~mldebug_widgets.analysis.fairness.group_metrics`
row by a reference group's and flags ratios outside a band; ``adverse_impact_ratio`` (the
four-fifths rule), ``marginal_effect`` and ``standardised_mean_difference`` compare each
group's favourable outcomes or scores with the reference group's, from the cached
predictions (no labels needed). All of it is re-exported by :mod:`.fairness`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..session import DebugSession
from ._fairness_groups import OVERALL, Bins, _check_threshold, _grouping


# -- disparity ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Disparity:
    """Ratios of each group's metrics to the reference group's, and the flags.

    Attributes
    ----------
    ratio : pandas.DataFrame
        ``metric(group) / metric(reference)`` per group (the overall row left out); NaN
        when both are 0 or either is undefined, ``inf`` when only the reference is 0.
    flagged : pandas.DataFrame
        True where the ratio is outside ``band`` (NaN is never flagged).
    reference : object
        The reference group's label.
    band : tuple of float
        The accepted ratio band.
    """

    ratio: pd.DataFrame
    flagged: pd.DataFrame
    reference: Any
    band: tuple[float, float]


def disparity(metrics: pd.DataFrame, *, reference: Any = None,
              band: tuple[float, float] = (0.8, 1.25),
              columns: Sequence[str] | None = None) -> Disparity:
    """Ratio of each group's metrics to a reference group, flagged outside ``band``.

    Parameters
    ----------
    metrics : pandas.DataFrame
        A :func:`group_metrics` frame (for multiclass, one class first:
        ``frame.xs(cls, level="class")``).
    reference : object, default=None
        The reference group's label (a tuple for intersections); default the largest group.
    band : (float, float), default=(0.8, 1.25)
        Ratios inside it (inclusive) are not flagged.
    columns : list of str, default=None
        Metrics to compare; default every numeric metric except ``count`` and intervals.

    Returns
    -------
    Disparity

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"count": [60, 40, 100], "fpr": [0.1, 0.2, 0.14]},
    ...                  index=["a", "b", "overall"])
    >>> d = disparity(m)
    >>> d.reference, d.ratio["fpr"].tolist(), d.flagged["fpr"].tolist()
    ('a', [1.0, 2.0], [False, True])
    """
    if "class" in (metrics.index.names or []):
        raise ValueError("metrics has one row per class; pick a class first, e.g. "
                         "disparity(frame.xs(1, level='class')).")
    overall = OVERALL if metrics.index.nlevels == 1 else (OVERALL,) * metrics.index.nlevels
    labels = list(metrics.index)
    keep = np.array([label != overall for label in labels])  # numpy: no frame copies
    groups = [label for label, k in zip(labels, keep, strict=True) if k]
    if columns is None:
        columns = [c for c in metrics.select_dtypes("number").columns
                   if c != "count" and not c.endswith(("_low", "_high"))]
    if reference is None:
        reference = groups[int(np.argmax(metrics["count"].to_numpy()[keep]))]
    elif reference not in groups:
        raise ValueError(f"reference group {reference!r} is not among the groups {groups}.")
    values = metrics[list(columns)].to_numpy(dtype=np.float64)[keep]
    ref = values[[groups.index(reference)]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / ref
    ratio = np.where((ref == 0) & (values == 0), np.nan, ratio)
    frame = pd.DataFrame(ratio, index=metrics.index[keep], columns=list(columns))
    flagged = (frame < band[0]) | (frame > band[1])
    return Disparity(frame, flagged, reference, tuple(band))


# -- adverse impact -------------------------------------------------------------------------
def _favourable(session: DebugSession, threshold: float, favourable: str,
                sensitive_features: Any, bins: Bins, max_categories: int):
    if favourable not in ("positive", "negative"):
        raise ValueError(f"favourable must be 'positive' or 'negative'; got {favourable!r}.")
    if session.task == "multiclass":
        raise ValueError("adverse impact needs one score: a binary classifier or a regressor; "
                         "for multiclass, bind a one-vs-rest function of the class of interest.")
    codes, index = _grouping(session, sensitive_features, bins, max_categories)
    score = session.predictions()[:, 0]
    positive = score >= _check_threshold(threshold)
    sign = 1.0 if favourable == "positive" else -1.0
    return codes, index, positive if favourable == "positive" else ~positive, sign * score


def _reference(index: pd.Index, counts: np.ndarray, reference: Any) -> int:
    if reference is None:
        return int(np.argmax(counts))
    if reference not in index:
        raise ValueError(f"reference group {reference!r} is not among the groups "
                         f"{index.tolist()}.")
    return int(index.get_loc(reference))


def adverse_impact_ratio(session: DebugSession, *, threshold: float = 0.5,
                         favourable: Literal["positive", "negative"] = "positive",
                         reference: Any = None, sensitive_features: Any = None, bins: Bins = None,
                         max_categories: int = 10, band: float = 0.8) -> pd.DataFrame:
    """Favourable-outcome rate of each group over the reference group's (four-fifths rule).

    The outcome is favourable when the score is ``>= threshold`` (``favourable="positive"``,
    the default) or below it (``"negative"``). For credit-default models the favourable
    outcome is the predicted NON-default: pass ``favourable="negative"``.

    Parameters
    ----------
    session : DebugSession
        A binary classifier or a regressor; labels are not needed.
    threshold : float, default=0.5
        Decision threshold on the score.
    favourable : {"positive", "negative"}, default="positive"
        Which side of the threshold is the favourable outcome.
    reference : object, default=None
        Reference group; default the largest group.
    sensitive_features, bins, max_categories
        Grouping, as in :func:`group_metrics`.
    band : float, default=0.8
        Ratios below it are flagged.

    Returns
    -------
    pandas.DataFrame
        Per group: ``count, favourable_rate, air, marginal_effect, smd, flagged``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.6, 0.1], "g": list("aabbb")})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, task="binary", sensitive_features="g")
    >>> air = adverse_impact_ratio(s, favourable="negative", reference="a")
    >>> air[["favourable_rate", "air", "flagged"]]
       favourable_rate       air  flagged
    g
    a         0.500000  1.000000    False
    b         0.333333  0.666667     True
    """
    codes, index, fav, score = _favourable(session, threshold, favourable, sensitive_features,
                                           bins, max_categories)
    counts = np.bincount(codes, minlength=len(index))
    rate = np.bincount(codes, weights=fav, minlength=len(index)) / counts
    ref = _reference(index, counts, reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        air = np.where(rate[ref] > 0, rate / rate[ref], np.nan)
    return pd.DataFrame({"count": counts, "favourable_rate": rate, "air": air,
                         "marginal_effect": rate - rate[ref],
                         "smd": _smd(score, codes, len(index), ref), "flagged": air < band},
                        index=index)


def marginal_effect(session: DebugSession, *, threshold: float = 0.5,
                    favourable: Literal["positive", "negative"] = "positive",
                    reference: Any = None, **grouping: Any) -> pd.Series:
    """Favourable-outcome rate of each group minus the reference group's.

    Same parameters as :func:`adverse_impact_ratio`.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.6, 0.1], "g": list("aabbb")})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, task="binary", sensitive_features="g")
    >>> marginal_effect(s).round(4).tolist()  # reference: b, the largest group
    [-0.1667, 0.0]
    """
    table = adverse_impact_ratio(session, threshold=threshold, favourable=favourable,
                                 reference=reference, **grouping)
    return table["marginal_effect"]


def standardised_mean_difference(session: DebugSession, *,
                                 favourable: Literal["positive", "negative"] = "positive",
                                 reference: Any = None, **grouping: Any) -> pd.Series:
    """(mean score of a group − the reference's) / their pooled standard deviation.

    The score is the positive-class score (or the regression prediction), negated when
    ``favourable="negative"`` so a positive SMD always means more favourable scores. The
    pooled SD uses ``ddof=1``; NaN when it is 0 or a group has a single row.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.6, 0.1], "g": list("aabbb")})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, task="binary", sensitive_features="g")
    >>> standardised_mean_difference(s).round(4).tolist()  # reference: b
    [0.2148, 0.0]
    """
    table = adverse_impact_ratio(session, favourable=favourable, reference=reference,
                                 **grouping)
    return table["smd"]


def _smd(score: np.ndarray, codes: np.ndarray, n_groups: int, ref: int) -> np.ndarray:
    n = np.bincount(codes, minlength=n_groups).astype(np.float64)
    mean = np.bincount(codes, weights=score, minlength=n_groups) / n
    sq = np.bincount(codes, weights=(score - mean[codes]) ** 2, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.sqrt((sq + sq[ref]) / (n + n[ref] - 2))
        out = (mean - mean[ref]) / pooled
    return np.where((pooled > 0) & (n > 1) & (n[ref] > 1), out, np.nan)
