"""Scoring the random attack's rows in batches, retiring input patterns that always fail.

The rows are scored through a :class:`Probe`, which isolates the rows the model raises on
(about one more model call per failing row). For a model that rejects, say, every missing
value, most of the cost is spent proving the same failure again and again. So, between
batches, each pattern (feature x injected kind, e.g. "EDUCATION missing") keeps the number
of scored rows with it that raised and that did not; once it has raised on ``skip_failing``
rows and never succeeded, it is *retired*: later rows carrying it are not sent to the model
(their scores stay NaN and they are reported as skipped). The first batches are small so
that the evidence comes early; they are back to ``batch_size`` once no pattern is suspect.
The decisions depend only on the rows (drawn from the seed) and the model's answers, so a
seed gives the same result.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ModelError
from ._attack_rows import PATTERNS, pattern_kinds
from ._probe import Probe

SKIP_FAILING_DEFAULT = 50
SKIP_FAILING = ("skip_failing must be a positive integer (the failures that retire a pattern, "
                "e.g. skip_failing=50) or None to score every row; got {value!r}.")
EARLY_MIN = 16  # rows: the smallest early batch
EARLY_SHARE = 4  # an early batch holds about skip_failing / 4 rows of the most common pattern
RETIRED_COLUMNS = ["pattern", "feature", "kind", "n_failed", "n_skipped", "message"]


def check_skip_failing(value: Any) -> int | None:
    """Return ``skip_failing`` as an int (or None); raise ValueError with the fix."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(SKIP_FAILING.format(value=value))
    return int(value)


def early_batch(skip_failing: int, batch_size: int, top: float) -> int:
    """Return the batch size while a pattern is suspect.

    About ``skip_failing / EARLY_SHARE`` rows of the most frequent injected pattern (its
    rate: ``top``) per batch: a failing pattern is retired within a few batches, at most a
    quarter of the threshold late.
    """
    if top == 0:
        return batch_size
    return min(batch_size, max(EARLY_MIN, math.ceil(skip_failing / (EARLY_SHARE * top))))


@dataclass
class ErrorLog:
    """The session, as the probe sees it, noting which single rows raised (and why)."""

    session: Any
    failed: dict = field(default_factory=dict)
    n_calls: int = 0

    @property
    def output_names(self) -> list:
        """The session's outputs."""
        return self.session.output_names

    def predict(self, frame: pd.DataFrame, *, check_finite: bool = False) -> np.ndarray:
        """Score through the session; a single row that raises is noted by its index."""
        self.n_calls += 1
        try:
            return self.session.predict(frame, check_finite=check_finite)
        except ModelError as exc:
            if len(frame) == 1:  # the probe isolates failing rows down to single rows
                self.failed[int(frame.index[0])] = str(exc)
            raise


class _Retirement:
    """Per pattern (feature, code): scored rows with it that raised and that did not.

    ``rate[j, c]`` is the chance that a row carries the pattern (0 where it does not apply).
    """

    def __init__(self, rate: np.ndarray, threshold: int):
        shape = rate.shape  # code 0 (no pattern) is never retired
        self.failed, self.ok = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        self.retired = np.zeros(shape, bool)
        self.threshold, self.rate = threshold, rate
        self._column = np.arange(shape[0])

    def skip(self, codes: np.ndarray) -> np.ndarray:
        """Return the rows that carry a retired pattern."""
        return self.retired[self._column, codes].any(axis=1)

    def update(self, codes: np.ndarray, raised: np.ndarray) -> None:
        """Count a scored batch; retire the patterns that failed enough and never succeeded."""
        column = np.broadcast_to(self._column, codes.shape)
        np.add.at(self.failed, (column[raised], codes[raised]), 1)
        np.add.at(self.ok, (column[~raised], codes[~raised]), 1)
        self.retired |= (self.failed >= self.threshold) & (self.ok == 0)
        self.retired[:, 0] = False

    def suspects(self, remaining: int) -> bool:
        """Return True while a pattern may soon be retired.

        That is: not retired, failed, never succeeded and may still reach ``threshold``
        failures in the ``remaining`` rows (expecting it as often as it is injected).
        """
        reachable = self.failed + self.rate * remaining >= self.threshold
        return bool(((self.failed > 0) & (self.ok == 0) & ~self.retired & reachable)[:, 1:].any())


@dataclass
class Scored:
    """The scored part of an attack: scores, skipped rows, the log and the counts."""

    scores: np.ndarray
    skipped: np.ndarray
    retired: np.ndarray
    log: ErrorLog
    n_queries: int
    done: int


def score_rows(session: Any, X: pd.DataFrame, codes: np.ndarray, attacked: tuple[str, ...],
               rates: dict, *, batch_size: int, skip_failing: int | None,
               progress: Callable[[float], None] | None,
               cancel: threading.Event | None) -> Scored:
    """Score the attack rows in batches; skip rows with a retired pattern."""
    log = ErrorLog(session)
    probe = Probe(log, budget=None, progress=progress, cancel=cancel)
    scores = np.full((len(X), len(session.output_names)), np.nan)
    skipped = np.zeros(len(X), bool)
    tracker, early = None, batch_size
    if skip_failing is not None:
        rate = np.zeros((len(attacked), len(PATTERNS) + 1))
        for j, f in enumerate(attacked):
            for kind in pattern_kinds(session.schema[f]):
                rate[j, PATTERNS.index(kind) + 1] = rates[kind]
        tracker = _Retirement(rate, skip_failing)
        early = early_batch(skip_failing, batch_size, float(rate.max()))
    size, done = early, 0
    while done < len(X) and not probe.stopped:
        start, stop = done, min(done + size, len(X))
        # rows with the same injections side by side: the probe isolates failures in fewer calls
        order = start + np.lexsort(codes[start:stop].T[::-1])
        if tracker is not None:
            skip = tracker.skip(codes[order])
            skipped[order[skip]] = True
            order = order[~skip]
        if len(order):
            scores[order] = probe.score(X.iloc[order])
            if tracker is not None:
                tracker.update(codes[order], np.array([int(i) in log.failed for i in order]))
                size = early if tracker.suspects(len(X) - stop) else batch_size
        done = stop
        probe.report(done / len(X))
    retired = tracker.retired if tracker is not None else np.zeros((len(attacked), 1), bool)
    return Scored(scores[:done], skipped[:done], retired, log, probe.n_queries, done)


def retired_table(retired: np.ndarray, codes: np.ndarray, skipped: np.ndarray,
                  error: np.ndarray, attacked: tuple[str, ...]) -> pd.DataFrame:
    """Return one row per retired pattern: the rows it failed on, the rows skipped after."""
    rows = []
    raised = pd.notna(error) & ~skipped
    for j, c in zip(*np.nonzero(retired), strict=True):
        hit = codes[:, j] == c
        messages = Counter(error[hit & raised])
        message = min(messages, key=lambda m: (-messages[m], m)) if messages else None
        rows.append(dict(pattern=f"{attacked[j]} {PATTERNS[c - 1]}", feature=attacked[j],
                         kind=PATTERNS[c - 1], n_failed=int((hit & raised).sum()),
                         n_skipped=int((hit & skipped).sum()), message=message))
    frame = pd.DataFrame(rows, columns=RETIRED_COLUMNS)
    return frame.sort_values("n_skipped", ascending=False, kind="stable").reset_index(drop=True)
