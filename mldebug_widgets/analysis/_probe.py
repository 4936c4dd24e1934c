"""Scoring for searches: a query budget, progress, cancellation and per-row failures.

Every search in ``analysis.adversarial``, ``analysis.evolve``, ``analysis.flip`` and
``analysis.attack`` scores its candidate rows through one :class:`Probe`. A model that
raises on some rows does not stop a search: the batch is split until the failing rows are
isolated, their scores are NaN and their errors are recorded (message and count), and the
rest are scored.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ModelError

_SPLIT_BELOW = 8  # rows: below this, a failing batch is scored one row at a time


class BudgetError(ValueError):
    """The query budget cannot pay for any search step."""


@dataclass
class Probe:
    """Score candidate rows with a query budget, progress reports and a stop flag.

    Parameters
    ----------
    session : DebugSession
        The bound model and data.
    budget : int or None
        The most rows the model may score (``None``: unlimited).
    progress : callable, optional
        Called with the fraction done (0 to 1).
    cancel : threading.Event, optional
        When set, :attr:`stopped` turns True and searches return what they have.

    Attributes
    ----------
    n_queries : int
        Rows scored so far (the model's queries).
    errors : collections.Counter
        Error message -> number of rows the model raised on.
    n_nonfinite : int
        Rows whose score was NaN or infinite.

    Examples
    --------
    >>> import pandas as pd
    >>> import mldebug_widgets as mdw
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    >>> session = mdw.bind(lambda df: df["a"] * 2, X, task="regression")
    >>> probe = Probe(session, budget=10)
    >>> probe.score(X).ravel().tolist(), probe.n_queries
    ([2.0, 4.0, 6.0], 3)
    """

    session: Any
    budget: int | None = None
    progress: Callable[[float], None] | None = None
    cancel: threading.Event | None = None
    n_queries: int = 0
    errors: Counter = field(default_factory=Counter)
    n_nonfinite: int = 0
    _failed: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.budget is not None and int(self.budget) < 1:
            raise BudgetError(f"budget must be at least 1 model query, got {self.budget}; "
                              "raise the budget (or pass None for no limit).")

    @property
    def remaining(self) -> float:
        """Queries left in the budget (``inf`` when unlimited)."""
        return np.inf if self.budget is None else self.budget - self.n_queries

    @property
    def stopped(self) -> bool:
        """True when cancelled or when the budget is spent."""
        return (self.cancel is not None and self.cancel.is_set()) or self.remaining <= 0

    @property
    def cancelled(self) -> bool:
        """True when the stop flag was set."""
        return self.cancel is not None and self.cancel.is_set()

    def report(self, fraction: float) -> None:
        """Send the fraction done to the progress callback (clipped to [0, 1])."""
        if self.progress is not None:
            self.progress(float(min(max(fraction, 0.0), 1.0)))

    def affordable(self, n: int) -> int:
        """Return how many of ``n`` candidate rows the budget still pays for."""
        return int(min(n, max(self.remaining, 0)))

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Score rows; rows the model raised on or scored non-finite are NaN.

        The caller keeps within the budget with :meth:`affordable`; every row passed is
        counted as a query.
        """
        self.n_queries += len(frame)
        self._failed = 0
        scores = self._score_part(frame)
        bad = ~np.isfinite(scores).all(axis=1)
        self.n_nonfinite += int(bad.sum()) - self._failed
        return scores

    def _score_part(self, frame: pd.DataFrame) -> np.ndarray:
        try:
            return self.session.predict(frame, check_finite=False)
        except ModelError as exc:
            if len(frame) == 1:
                self.errors[str(exc)] += 1
                self._failed += 1
                return np.full((1, len(self.session.output_names)), np.nan)
            if len(frame) < _SPLIT_BELOW:
                return np.vstack([self._score_part(frame.iloc[[i]])
                                  for i in range(len(frame))])
            half = len(frame) // 2
            return np.vstack([self._score_part(frame.iloc[:half]),
                              self._score_part(frame.iloc[half:])])
