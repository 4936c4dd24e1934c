"""Bounded views of large data: which points to draw, and the density of all of them.

A browser cannot draw a million SVG points; the kernel keeps every row and sends a fixed
budget: the most extreme rows (the ones a debugger looks for) plus a uniform sample (which
preserves the density), over a 2-D histogram of all rows.
"""

from __future__ import annotations

import numpy as np


def display_sample(values: np.ndarray, *, max_points: int = 2_000, n_extreme: int = 300,
                   random_state: int | None = 0) -> np.ndarray:
    """Positions of the rows to draw: the most extreme values plus a uniform sample.

    Parameters
    ----------
    values : numpy.ndarray of shape (n,)
        The values whose extremes matter (residuals).
    max_points : int, default=2_000
        Total budget of drawn rows, whatever ``n``.
    n_extreme : int, default=300
        Rows with the largest ``|values - median|`` always drawn (half from each tail for
        signed values).
    random_state : int or None, default=0
        Seed of the uniform sample.

    Returns
    -------
    numpy.ndarray
        Sorted, unique row positions, at most ``max_points`` of them.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.r_[np.zeros(10_000), 50.0]
    >>> picked = display_sample(values, max_points=100, n_extreme=5)
    >>> len(picked), 10_000 in picked
    (100, True)
    """
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    finite = np.where(np.isfinite(values), values, np.nanmedian(values))
    spread = np.abs(finite - np.median(finite))
    k = min(n_extreme, max_points)
    extreme = np.argpartition(-spread, k - 1)[:k]
    rng = np.random.default_rng(random_state)
    rest = np.setdiff1d(np.arange(n), extreme, assume_unique=True)
    sample = rng.choice(rest, size=max_points - k, replace=False)
    return np.sort(np.concatenate([extreme, sample]))


def density_2d(x: np.ndarray, y: np.ndarray, *, bins: tuple[int, int] = (60, 40),
               x_range: tuple[float, float] | None = None,
               y_range: tuple[float, float] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count all rows on a grid: the density layer drawn under the sampled points.

    Parameters
    ----------
    x, y : numpy.ndarray of shape (n,)
        Coordinates of every row (non-finite ones are left out).
    bins : (int, int), default=(60, 40)
        Bins along x and y.
    x_range, y_range : (float, float), default=None
        Ranges of the grid (default: the finite data's range).

    Returns
    -------
    (x_centres, y_centres, counts)
        ``counts`` has shape ``(len(y_centres), len(x_centres))``; empty cells are NaN
        (draw only the finite cells).

    Examples
    --------
    >>> import numpy as np
    >>> xc, yc, counts = density_2d(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 1.0]),
    ...                             bins=(2, 2))
    >>> float(np.nansum(counts)), counts.shape
    (3.0, (2, 2))
    """
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return np.zeros(1), np.zeros(1), np.full((1, 1), np.nan)
    x_range = x_range or (float(x.min()), float(x.max()))
    y_range = y_range or (float(y.min()), float(y.max()))
    x_range = _widen(x_range)
    y_range = _widen(y_range)
    counts, x_edges, y_edges = np.histogram2d(x, y, bins=bins, range=[x_range, y_range])
    counts = counts.T.astype(np.float64)
    counts[counts == 0] = np.nan
    return (x_edges[:-1] + x_edges[1:]) / 2, (y_edges[:-1] + y_edges[1:]) / 2, counts


def _widen(bounds: tuple[float, float]) -> tuple[float, float]:
    lo, hi = bounds
    return (lo - 0.5, hi + 0.5) if hi <= lo else (lo, hi)
