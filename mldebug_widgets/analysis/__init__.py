"""Pure analysis functions: numpy and pandas in, dataclasses and DataFrames out.

Nothing here imports ipywidgets or bqplot; every number a widget shows comes from here.
"""

from .ale import ale
from .sensitivity import (
    ICEResult,
    WhatIfResult,
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
