"""Pure analysis functions: numpy and pandas in, dataclasses and DataFrames out.

Nothing here imports ipywidgets or bqplot; every number a widget shows comes from here.
"""

from ._constraints import Constraints, grid_values
from .adversarial import GridResult, grid_search
from .ale import ale
from .assertions import (
    AssertionResult,
    Rule,
    RuleModel,
    RuleSyntaxError,
    RuleTypeError,
    check_row,
    check_rules,
    parse_rule,
    parse_rules,
    rules_to_pytest,
)
from .attack import AttackResult, random_attack
from .benchmark import BenchmarkResult, benchmark, make_benchmark
from .error_tree import ErrorTreeResult, error_tree
from .evolve import SearchResult, evolve_search
from .fair_thresholds import ThresholdPlan, optimise_thresholds, tradeoff, worst_air
from .fairness import (
    Disparity,
    adverse_impact_ratio,
    disparity,
    group_metrics,
    marginal_effect,
    sensitive_groups,
    standardised_mean_difference,
    wilson_interval,
)
from .flip import FlipResult, minimal_flip
from .monitoring import AnomalyEncoder, AnomalyResult, DriftResult, anomalies, drift
from .remediation import (
    GroupThresholdClassifier,
    reweighed_refit,
    reweighing_weights,
    threshold_classifier,
)
from .residuals import compute_residuals, residual_summary, residuals, top_residuals
from .sensitivity import (
    ICEResult,
    WhatIfResult,
    feature_grids,
    ice,
    partial_dependence,
    what_if,
)
from .slices import SliceResult, find_slices
from .thresholds import ThresholdSweep, cohort_table, threshold_sweep

__all__ = [
    "AnomalyEncoder",
    "AnomalyResult",
    "AssertionResult",
    "AttackResult",
    "BenchmarkResult",
    "Constraints",
    "Disparity",
    "DriftResult",
    "ErrorTreeResult",
    "FlipResult",
    "GridResult",
    "GroupThresholdClassifier",
    "ICEResult",
    "Rule",
    "RuleModel",
    "RuleSyntaxError",
    "RuleTypeError",
    "SearchResult",
    "SliceResult",
    "ThresholdPlan",
    "ThresholdSweep",
    "WhatIfResult",
    "adverse_impact_ratio",
    "ale",
    "anomalies",
    "benchmark",
    "check_row",
    "check_rules",
    "cohort_table",
    "compute_residuals",
    "disparity",
    "drift",
    "error_tree",
    "evolve_search",
    "feature_grids",
    "find_slices",
    "grid_search",
    "grid_values",
    "group_metrics",
    "ice",
    "make_benchmark",
    "marginal_effect",
    "minimal_flip",
    "optimise_thresholds",
    "parse_rule",
    "parse_rules",
    "partial_dependence",
    "random_attack",
    "residual_summary",
    "residuals",
    "reweighed_refit",
    "reweighing_weights",
    "rules_to_pytest",
    "sensitive_groups",
    "standardised_mean_difference",
    "threshold_classifier",
    "threshold_sweep",
    "top_residuals",
    "tradeoff",
    "what_if",
    "wilson_interval",
    "worst_air",
]
