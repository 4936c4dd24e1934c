"""The random attack's report: per-feature effects of each injected pattern, failures.

``by_feature`` compares the predictions of rows carrying a pattern with rows where the
feature was drawn normally (means, a z score, presence in the highest and lowest
predictions); ``exceptions_table`` attributes the rows the model raised on to the pattern
most of them share (see ``analysis.attack``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ._attack_rows import PATTERNS

NO_PATTERN = "no injected pattern"  # failing rows no pattern explains
MIN_FAILURE_RATE = 0.5  # a culprit pattern fails in at least half of the rows that carry it
Z_NOTABLE, EFFECT_NOTABLE = 4.0, 0.25  # a finding: |z| >= 4, |difference| >= 0.25 robust std
TAIL, TAIL_MIN, TAIL_COUNT = 0.01, 20, 5  # tails: the 1 % (>= 20) highest / lowest predictions


def span(values: np.ndarray) -> tuple[float, float]:
    """Return (min, max) of the finite values, (nan, nan) if there is none."""
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if len(values) else (np.nan, np.nan)


def fmt_number(value: float) -> str:
    """Format a number in 3 significant digits ("nan" if not finite)."""
    return "nan" if not np.isfinite(value) else f"{value:.3g}"


def count_rows(n: int, one: str = "row", many: str | None = None) -> str:
    """Return "1 row" or "1,234 rows" (or the given words)."""
    return f"{n:,} {one}" if n == 1 else f"{n:,} {many or one + 's'}"


def span_text(span: tuple[float, float]) -> str:
    """Return "lo to hi", or "none finite"."""
    lo, hi = span
    return "none finite" if np.isnan(lo) else f"{fmt_number(lo)} to {fmt_number(hi)}"


def output_bounds(session: Any, margin: float) -> tuple[float, float] | None:
    """Return the plausible output range: [0, 1], the widened target range, or None."""
    if session.task != "regression":
        kind = getattr(session.adapter, "output_kind", "probability")
        return (0.0, 1.0) if kind in ("probability", "label") else None
    target = session.y if session.y is not None else session.predictions()[:, 0]
    values = pd.to_numeric(pd.Series(np.asarray(target)), errors="coerce").to_numpy(np.float64)
    lo, hi = span(values)
    width = (hi - lo) or max(abs(hi), 1.0)
    return (lo - margin * width, hi + margin * width)


def feature_effects(injected: pd.DataFrame, kinds: dict, pred: np.ndarray,
                    raised: np.ndarray, skipped: np.ndarray,
                    rates: dict) -> tuple[pd.DataFrame, int]:
    """Return the ``by_feature`` table of an attack and the size of its tails.

    Rows the model raised on, scored non-finite or that were not scored have a NaN
    prediction and stay out of the statistics.
    """
    rows, finite = [], np.isfinite(pred)
    # robust spread (IQR / 1.349, a std for normal data): extreme outputs must not hide effects
    spread = float(np.subtract(*np.percentile(pred[finite], [75, 25]))) / 1.349 \
        if finite.any() else np.nan
    scored = np.flatnonzero(finite)
    k = min(len(scored), max(TAIL_MIN, math.ceil(TAIL * len(scored))))
    tails = {"top": scored[np.argsort(-pred[scored], kind="stable")[:k]],
             "bottom": scored[np.argsort(pred[scored], kind="stable")[:k]]}
    for name in injected.columns:
        cells = injected[name].to_numpy()
        base = finite & (cells == "")
        for kind in kinds[name]:
            if rates[kind] == 0:
                continue
            hit = cells == kind
            a, b = pred[hit & finite], pred[base]
            diff = float(a.mean() - b.mean()) if len(a) and len(b) else np.nan
            z = np.nan
            if len(a) > 1 and len(b) > 1:
                se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
                z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(np.inf, diff))
            row = dict(
                feature=name, pattern=kind, n_rows=int(hit.sum()),
                n_errors=int((hit & raised).sum()), n_skipped=int((hit & skipped).sum()),
                mean=_stat(a, np.mean),
                min=_stat(a, np.min), max=_stat(a, np.max), baseline_mean=_stat(b, np.mean),
                baseline_min=_stat(b, np.min), baseline_max=_stat(b, np.max),
                difference=diff, z=z,
                notable=bool(abs(z) >= Z_NOTABLE and abs(diff) >= EFFECT_NOTABLE * spread))
            share = len(a) / max(len(scored), 1)  # the pattern's share of the scored rows
            for tail, rows_in_tail in tails.items():
                count, expected = int(hit[rows_in_tail].sum()), k * share
                z_tail = (count - expected) / math.sqrt(expected * (1 - share)) \
                    if 0 < share < 1 else np.nan
                row.update({f"{tail}_count": count,
                            f"{tail}_lift": count / expected if expected else np.nan,
                            f"{tail}_notable": bool(z_tail >= Z_NOTABLE and count >= TAIL_COUNT
                                                    and count >= 2 * expected)})
            rows.append(row)
    columns = ["feature", "pattern", "n_rows", "n_errors", "n_skipped", "mean", "min", "max",
               "baseline_mean", "baseline_min", "baseline_max", "difference", "z", "notable",
               "top_count", "top_lift", "top_notable", "bottom_count", "bottom_lift",
               "bottom_notable"]
    return pd.DataFrame(rows, columns=columns), k


def _stat(values: np.ndarray, fn: Callable) -> float:
    return float(fn(values)) if len(values) else np.nan


def exceptions_table(patterns: list, error: np.ndarray, skipped: np.ndarray,
                     attacked: tuple[str, ...], retired: frozenset = frozenset()) -> pd.DataFrame:
    """Attribute failing rows, per message, greedily to the pattern most of them share.

    Retired patterns (they failed on every scored row with them) are taken first.
    ``rows_with_pattern`` and ``failure_rate`` count the scored rows only;
    ``rows_skipped`` counts the rows with the pattern that were not scored.
    """
    totals = Counter(p for row, s in zip(patterns, skipped, strict=True) if not s for p in row)
    not_scored = Counter(p for row, s in zip(patterns, skipped, strict=True) if s for p in row)
    split = {f"{f} {k}": (f, k) for f in attacked for k in PATTERNS}
    rows = []
    for message in sorted({e for e in error if e is not None}):
        left = [i for i, e in enumerate(error) if e == message]
        shared = Counter(p for i in left for p in patterns[i])
        while left:
            counts = Counter(p for i in left for p in patterns[i])
            best = min(counts, key=lambda p: (p not in retired, -counts[p], p)) if counts \
                else None
            if best is None or shared[best] < MIN_FAILURE_RATE * totals[best]:
                rows.append(dict(pattern=NO_PATTERN, feature=None, kind=None, message=message,
                                 count=len(left), rows_with_pattern=np.nan,
                                 failure_rate=np.nan, rows_skipped=np.nan))
                break
            rows.append(dict(pattern=best, feature=split[best][0], kind=split[best][1],
                             message=message, count=counts[best],
                             rows_with_pattern=totals[best],
                             failure_rate=shared[best] / totals[best],
                             rows_skipped=not_scored[best]))
            left = [i for i in left if best not in patterns[i]]
    columns = ["pattern", "feature", "kind", "message", "count", "rows_with_pattern",
               "failure_rate", "rows_skipped"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
