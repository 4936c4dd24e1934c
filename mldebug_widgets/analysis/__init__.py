"""Pure analysis functions: numpy and pandas in, dataclasses and DataFrames out.

Nothing here imports ipywidgets or bqplot; every number a widget shows comes from here.
"""

from .sensitivity import (
    ICEResult,
    WhatIfResult,
    ale,
    feature_grids,
    ice,
    partial_dependence,
    what_if,
)

__all__ = [
    "ICEResult",
    "WhatIfResult",
    "ale",
    "feature_grids",
    "ice",
    "partial_dependence",
    "what_if",
]
