"""Random attack rows: independent draws within the widened ranges, with injected faults.

Each attacked feature is drawn over its range widened by a margin (integers whole,
categories from the known ones), then single cells get one injected pattern: a missing
value, an extreme magnitude, an unseen category or a number written as text (see
``analysis.attack``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..schema import FeatureSpec
from ._constraints import Constraints

MISSING, EXTREME, UNSEEN, WRONG_TYPE = "missing", "extreme", "unseen category", "wrong type (str)"
#: Injected patterns; a cell's code in ``AttackResult.injected`` is one of these or "".
PATTERNS = (MISSING, EXTREME, UNSEEN, WRONG_TYPE)
EXTREME_FACTOR = 1e6  # extreme values lie 1e6 x the feature's range beyond it
_NUMERIC = ("numeric", "integer")
RESERVED_COLUMNS = ("prediction", "patterns", "error")  # added to the attack frame
RATE_NAMES = {MISSING: "missing_rate", EXTREME: "extreme_rate", UNSEEN: "unseen_rate",
              WRONG_TYPE: "wrong_type_rate"}
NO_RANGE = ("{name} has no observed range (is it all missing?); leave it out of features= or "
            "give it one: session.schema = session.schema.override({{{name!r}: "
            "{{'min': lo, 'max': hi}}}}).")
RATE_RANGE = "{name} must be a number between 0 and 1; got {value!r}."
RATES_SUM = ("{kind} feature {name!r} takes {rates} = {total:g} > 1, but each cell gets at most "
             "one injected fault; lower one of them.")


def check_options(n_rows: Any, margin: Any, batch_size: Any, **rates: Any) -> dict:
    """Check the attack's options; return pattern -> rate."""
    def number(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float | np.number)

    for name, value in (("n_rows", n_rows), ("batch_size", batch_size)):
        if not (number(value) and float(value).is_integer() and value >= 1):
            raise ValueError(f"{name} must be a positive integer (e.g. {name}=1_000); "
                             f"got {value!r}.")
    if not (number(margin) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0 (0.1 widens the range by 10 %); "
                         f"got {margin!r}.")
    for name, value in rates.items():
        if not (number(value) and 0 <= value <= 1):
            raise ValueError(RATE_RANGE.format(name=name, value=value))
    return {k: float(rates[RATE_NAMES[k]]) for k in PATTERNS}


def check_features(session: Any, features: Sequence[str] | None) -> tuple[str, ...]:
    """Return the attacked features in column order; raise ValueError with the fix."""
    clash = [c for c in RESERVED_COLUMNS if c in session.X.columns]
    if clash:
        raise ValueError(f"the attack frame adds columns {list(RESERVED_COLUMNS)}; rename the "
                         f"feature(s) {clash} before binding.")
    if features is None:
        return tuple(session.X.columns)
    names = [features] if isinstance(features, str) else list(features)
    unknown = [f for f in names if f not in session.X.columns]
    if unknown or not names or len(set(names)) < len(names):
        raise ValueError(f"features must be distinct columns of the bound data; got {names} "
                         f"(unknown: {unknown}); columns are {list(session.X.columns)}.")
    return tuple(f for f in session.X.columns if f in set(names))


def check_output(session: Any, output: Any) -> Any:
    """Return the reported output (a class, or "max" for multiclass by default)."""
    names = list(session.output_names)
    if output is None:
        return "max" if session.task == "multiclass" else names[0]
    if session.task != "multiclass" or not any(output == n for n in names):
        raise ValueError(f"output must be None or, for a multiclass model, one of its classes "
                         f"{names}; got {output!r}.")
    return output


def draw_rows(session: Any, attacked: tuple[str, ...], n: int, rates: dict, margin: float,
          rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Draw the attack rows; ``codes[i, j]`` is 1 + the pattern index injected, or 0."""
    X, schema = session.X, session.schema
    rules = Constraints(schema, margin=margin)
    others = [c for c in X.columns if c not in attacked]
    copied = X[others].iloc[rng.integers(0, len(X), n)].reset_index(drop=True)
    u = rng.random((n, len(attacked)))
    codes = np.zeros((n, len(attacked)), dtype=np.int8)
    columns, bounds = {}, {}
    for j, name in enumerate(attacked):
        spec = schema[name]
        kinds = pattern_kinds(spec)
        if sum(rates[k] for k in kinds) > 1:
            raise ValueError(RATES_SUM.format(
                kind=spec.kind, name=name, total=sum(rates[k] for k in kinds),
                rates=" + ".join(RATE_NAMES[k] for k in kinds)))
        slot = np.searchsorted(np.cumsum([rates[k] for k in kinds]), u[:, j], side="right")
        for k, kind in enumerate(kinds):
            codes[slot == k, j] = PATTERNS.index(kind) + 1
        if spec.kind in _NUMERIC:
            if spec.min is None or spec.max is None:
                raise ValueError(NO_RANGE.format(name=name))
            bounds[name] = rules.bounds(name)
            columns[name] = _numbers(spec, X[name].dtype, codes[:, j], bounds[name], rng)
        else:
            columns[name] = _categories(spec, X[name].dtype, codes[:, j], rules, rng)
    frame = pd.DataFrame({c: columns[c] if c in columns else copied[c] for c in X.columns})
    return frame, codes, bounds


def _numbers(spec: FeatureSpec, dtype: Any, code: np.ndarray, bounds: tuple[float, float],
             rng: np.random.Generator) -> Any:
    n, (lo, hi) = len(code), bounds
    integer = spec.kind == "integer"
    values = (rng.integers(int(lo), int(hi) + 1, n).astype(np.float64) if integer
              else rng.uniform(lo, hi, n))
    extreme = code == PATTERNS.index(EXTREME) + 1
    width = float(spec.max) - float(spec.min) or max(abs(float(spec.max)), 1.0)
    up = rng.random(int(extreme.sum())) < 0.5
    values[extreme] = np.where(up, float(spec.max) + EXTREME_FACTOR * width,
                               float(spec.min) - EXTREME_FACTOR * width)
    if integer:
        values[extreme] = np.round(values[extreme])
    values[code == PATTERNS.index(MISSING) + 1] = np.nan
    text = code == PATTERNS.index(WRONG_TYPE) + 1
    if text.any():
        out = values.astype(object)
        if integer:
            out[~np.isnan(values)] = [int(v) for v in values[~np.isnan(values)]]
        out[text] = [str(v) for v in out[text]]
        return out
    if integer and not np.isnan(values).any():
        target = np.dtype(dtype) if np.dtype(dtype).kind in "iu" else np.dtype(np.int64)
        info = np.iinfo(target)
        if info.min <= values.min() and values.max() <= info.max:
            return values.astype(target)
    return values


def _categories(spec: FeatureSpec, dtype: Any, code: np.ndarray, rules: Constraints,
                rng: np.random.Generator) -> Any:
    allowed = np.asarray(list(rules.choices(spec.name)) + [None], dtype=object)[:-1]
    values = allowed[rng.integers(0, len(allowed), len(code))]
    unseen = code == PATTERNS.index(UNSEEN) + 1
    values[unseen] = _unseen_value(list(allowed))
    values[code == PATTERNS.index(MISSING) + 1] = np.nan
    if isinstance(dtype, pd.CategoricalDtype) and not unseen.any():
        return pd.Categorical(values, dtype=dtype)
    return pd.Series(values, dtype=object).infer_objects()


def _unseen_value(categories: list) -> Any:
    numbers = [c for c in categories if isinstance(c, int | float | np.number)
               and not isinstance(c, bool | np.bool_)]
    if len(numbers) == len(categories):
        return max(numbers) + 1
    value = "<unseen>"
    while value in categories:
        value = f"<{value}>"
    return value


def pattern_kinds(spec: FeatureSpec) -> tuple[str, ...]:
    """Return the patterns that can be injected into a feature of this kind."""
    if spec.kind in _NUMERIC:
        return (MISSING, EXTREME, WRONG_TYPE)
    return (MISSING, UNSEEN) if spec.kind == "categorical" else (MISSING,)

