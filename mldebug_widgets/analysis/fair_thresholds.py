"""Per-group thresholds that satisfy a fairness constraint at the best accuracy.

Every candidate is read from a :class:`ThresholdSweep` (confusion counts of every group at
every threshold), so the search makes no predict call: for each threshold of the reference
group, each other group independently takes its most accurate threshold among those that
meet the constraint, and the best total accuracy wins. This is exact over the sweep's grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..session import DebugSession
from .thresholds import ThresholdSweep, threshold_sweep

Objective = Literal["demographic_parity", "equal_opportunity", "equalised_odds", "air"]
OBJECTIVES = ("demographic_parity", "equal_opportunity", "equalised_odds", "air")


@dataclass(frozen=True)
class ThresholdPlan:
    """Per-group thresholds chosen by :func:`optimise_thresholds`.

    Attributes
    ----------
    objective : str
        The constraint that was met.
    thresholds : dict
        Group -> threshold.
    accuracy : float
        Overall accuracy with these thresholds.
    table : pandas.DataFrame
        The group table at these thresholds (``ThresholdSweep.at_groups``).
    feasible : bool
        False when no combination on the grid met the constraint (then the plan is the
        single best-accuracy threshold for every group).
    """

    objective: str
    thresholds: dict
    accuracy: float
    table: pd.DataFrame
    feasible: bool


def optimise_thresholds(
    session: DebugSession,
    objective: Objective = "air",
    *,
    tolerance: float = 0.02,
    min_air: float = 0.8,
    favourable: Literal["positive", "negative"] = "negative",
    reference: object = None,
    thresholds: int = 201,
    sweep: ThresholdSweep | None = None,
    **grouping: object,
) -> ThresholdPlan:
    """Choose one threshold per group to meet a fairness constraint with the best accuracy.

    Parameters
    ----------
    session : DebugSession
        A binary classification session with sensitive features.
    objective : {"air", "demographic_parity", "equal_opportunity", "equalised_odds"}
        ``"air"``: every group's favourable-outcome rate within ``[min_air, 1/min_air]`` of
        the reference's (the four-fifths rule both ways); ``"demographic_parity"``: selection
        rates within ``tolerance`` of the reference's; ``"equal_opportunity"``: true-positive
        rates within ``tolerance``; ``"equalised_odds"``: true- and false-positive rates.
    tolerance : float, default=0.02
        Largest allowed difference for the parity objectives.
    min_air : float, default=0.8
        Smallest allowed adverse impact ratio for ``"air"``.
    favourable : {"negative", "positive"}, default="negative"
        The favourable prediction for ``"air"`` (credit: not flagged as a defaulter).
    reference : object, default=None
        The reference group (default: the largest).
    thresholds : int, default=201
        Grid of candidate thresholds (evenly spaced over the scores' range).
    sweep : ThresholdSweep, default=None
        A sweep to reuse (for example the fairness slicer's); else one is computed.
    **grouping
        ``sensitive_features``, ``bins``, ``max_categories`` for :func:`threshold_sweep`.

    Returns
    -------
    ThresholdPlan

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mldebug_widgets import bind
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"p": rng.uniform(size=400), "g": np.repeat(["a", "b"], 200)})
    >>> X.loc[X["g"] == "b", "p"] *= 0.5  # group b scores lower
    >>> y = (rng.uniform(size=400) < X["p"]).astype(int)
    >>> s = bind(lambda df: df["p"].to_numpy(), X, y, task="binary", sensitive_features="g")
    >>> plan = optimise_thresholds(s, "demographic_parity", tolerance=0.03)
    >>> rates = plan.table["selection_rate"].iloc[:2]
    >>> bool(abs(rates.iloc[0] - rates.iloc[1]) <= 0.03)
    True
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}.")
    sweep = sweep if sweep is not None else threshold_sweep(session, thresholds, **grouping)
    tp, fp, tn, fn = (getattr(sweep, c)[:-1].astype(np.float64) for c in ("tp", "fp", "tn", "fn"))
    size = (tp + fp + tn + fn)[:, :1]
    correct = tp + tn
    groups = list(sweep.groups[:-1])
    ref = int(np.argmax(size[:, 0])) if reference is None else groups.index(reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        selection = (tp + fp) / size
        tpr = tp / (tp + fn)
        fpr = fp / (fp + tn)
    favourable_rate = 1.0 - selection if favourable == "negative" else selection
    best_total, best_choice = -np.inf, None
    for t_ref in range(correct.shape[1]):
        ok = _feasible(objective, t_ref, ref, selection, tpr, fpr, favourable_rate, tolerance,
                       min_air)
        scores = np.where(ok, correct, -np.inf)
        choice = np.argmax(scores, axis=1)
        choice[ref] = t_ref
        total = scores[np.arange(len(groups)), choice]
        total[ref] = correct[ref, t_ref]
        if np.isfinite(total).all() and total.sum() > best_total:
            best_total, best_choice = total.sum(), choice
    feasible = best_choice is not None
    if not feasible:  # fall back to the most accurate single threshold
        best_choice = np.full(len(groups), int(np.argmax(correct.sum(axis=0))))
    chosen = {g: float(sweep.thresholds[i]) for g, i in zip(groups, best_choice, strict=True)}
    table = sweep.at_groups(list(chosen.values()))
    accuracy = float(table["accuracy"].iloc[-1])
    return ThresholdPlan(objective=objective, thresholds=chosen, accuracy=accuracy, table=table,
                         feasible=feasible)


def _feasible(objective: str, t_ref: int, ref: int, selection: np.ndarray, tpr: np.ndarray,
              fpr: np.ndarray, favourable_rate: np.ndarray, tolerance: float,
              min_air: float) -> np.ndarray:
    """Which (group, threshold) cells meet the constraint against the reference's cell."""
    if objective == "demographic_parity":
        return np.abs(selection - selection[ref, t_ref]) <= tolerance
    if objective == "equal_opportunity":
        return np.abs(tpr - tpr[ref, t_ref]) <= tolerance
    if objective == "equalised_odds":
        return (np.abs(tpr - tpr[ref, t_ref]) <= tolerance) & \
            (np.abs(fpr - fpr[ref, t_ref]) <= tolerance)
    base = favourable_rate[ref, t_ref]
    if not base > 0:
        return np.zeros_like(favourable_rate, dtype=bool)
    ratio = favourable_rate / base
    return (ratio >= min_air) & (ratio <= 1.0 / min_air)


def tradeoff(sweep: ThresholdSweep, *, favourable: Literal["positive", "negative"] = "negative",
             reference: object = None) -> pd.DataFrame:
    """Accuracy against the worst adverse impact ratio, for one threshold shared by all groups.

    The worst AIR of a decision rule is ``min over groups of min(r, 1/r)``, where ``r`` is
    the group's favourable-outcome rate divided by the reference group's: 1 is parity and
    below 0.8 fails the four-fifths rule either way. The curve is read from the sweep, so it
    costs no predict call; :func:`worst_air` places any per-group plan on the same axes.

    Parameters
    ----------
    sweep : ThresholdSweep
        The confusion counts of every group at every threshold.
    favourable : {"negative", "positive"}, default="negative"
        The favourable prediction.
    reference : object, default=None
        The reference group (default: the largest).

    Returns
    -------
    pandas.DataFrame
        Indexed by threshold: ``accuracy``, ``worst_air``, ``selection_rate`` (overall).

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> from mldebug_widgets.analysis import threshold_sweep
    >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
    >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
    ...          sensitive_features="g")
    >>> tradeoff(threshold_sweep(s, [0.3, 0.5])).round(2).to_dict("list")
    {'accuracy': [0.75, 0.5], 'worst_air': [0.0, 1.0], 'selection_rate': [0.75, 0.5]}
    """
    counts = {c: getattr(sweep, c).astype(np.float64) for c in ("tp", "fp", "tn", "fn")}
    size = sum(counts.values())
    with np.errstate(divide="ignore", invalid="ignore"):
        selection = (counts["tp"] + counts["fp"]) / size
        accuracy = (counts["tp"] + counts["tn"])[-1] / size[-1]
    rate = 1.0 - selection[:-1] if favourable == "negative" else selection[:-1]
    groups = list(sweep.groups[:-1])
    ref = int(np.argmax(size[:-1, 0])) if reference is None else groups.index(reference)
    return pd.DataFrame({"accuracy": accuracy, "worst_air": _worst(rate, ref),
                         "selection_rate": selection[-1]},
                        index=pd.Index(sweep.thresholds, name="threshold"))


def worst_air(table: pd.DataFrame, *, favourable: Literal["positive", "negative"] = "negative",
              reference: object = None) -> float:
    """Return the worst adverse impact ratio of a group table (``min(r, 1/r)`` over groups).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"count": [60, 40, 100], "selection_rate": [0.2, 0.5, 0.32]},
    ...                  index=["a", "b", "overall"])
    >>> round(worst_air(t), 3)  # favourable rates 0.8 and 0.5
    0.625
    """
    groups = table.iloc[:-1]
    selection = groups["selection_rate"].to_numpy(dtype=np.float64)[:, None]
    rate = 1.0 - selection if favourable == "negative" else selection
    ref = int(np.argmax(groups["count"].to_numpy())) if reference is None \
        else list(groups.index).index(reference)
    return float(_worst(rate, ref)[0])


def _worst(rate: np.ndarray, ref: int) -> np.ndarray:
    """Return per threshold min over groups of min(r, 1/r), r = rate / the reference's rate."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rate / rate[ref]
        both = np.minimum(ratio, 1.0 / ratio)  # NaN (0 / 0) stays NaN
    out = np.full(both.shape[1], np.nan)
    defined = ~np.isnan(both).all(axis=0)
    out[defined] = np.nanmin(both[:, defined], axis=0)
    return out
