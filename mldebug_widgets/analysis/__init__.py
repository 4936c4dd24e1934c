"""Pure analysis functions: numpy and pandas in, dataclasses and DataFrames out.

Nothing here imports ipywidgets or bqplot; every number a widget shows comes from here.
"""

from .ale import ale
from .benchmark import BenchmarkResult, benchmark, make_benchmark
from .error_tree import ErrorTreeResult, error_tree
from .remediation import GroupThresholdClassifier, reweighing_weights
from .residuals import compute_residuals, residual_summary, residuals, top_residuals
from .sensitivity import (
    ICEResult,
    WhatIfResult,
    feature_grids,
    ice,
    partial_dependence,
    what_if,
)

__all__ = [
    "BenchmarkResult",
    "ErrorTreeResult",
    "GroupThresholdClassifier",
    "ICEResult",
    "WhatIfResult",
    "ale",
    "benchmark",
    "compute_residuals",
    "error_tree",
    "feature_grids",
    "ice",
    "make_benchmark",
    "partial_dependence",
    "residual_summary",
    "residuals",
    "reweighing_weights",
    "top_residuals",
    "what_if",
]
