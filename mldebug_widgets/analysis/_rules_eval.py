"""Vectorised evaluation of parsed rules on a frame, and their actions on the scores.

:class:`Resolver` reads the leaves of a rule (feature columns, predictions, labels) once per
frame, :func:`condition_mask` evaluates a condition on every row at once with the primitives
of ``_rules_ops`` (a comparison with a missing value is False), :func:`apply_actions` applies
overrides in rule order then clips, and :func:`check_actions` rejects actions the model's
scores cannot take. The primitives and the export (:func:`to_python`, :func:`rules_to_pytest`
in ``_rules_export``) are importable from here too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._rules import (  # noqa: F401 (re-exported)
    _CMP,
    _FUNCS,
    Node,
    Rule,
    RuleSyntaxError,
    RuleTypeError,
    close_matches,
    parse_rules,
)
from ._rules_export import (  # noqa: F401 (re-exported)
    _ARITH,
    _EXPORTED,
    _FIXTURES,
    _HEADER,
    _literal,
    rules_to_pytest,
    to_python,
)
from ._rules_ops import (  # noqa: F401 (re-exported)
    _and,
    _arith,
    _call,
    _cmp,
    _is_text,
    _isin,
    _missing,
    _neg,
    _not,
    _or,
    _prediction,
    _values,
)


class Resolver:
    """The leaves of a rule over a frame: feature columns, predictions, labels.

    ``scores`` has one column per name in ``names`` (as ``DebugSession.predict``); rows are
    ``frame`` (``take``: integer positions of a subset). Columns are converted once.
    """

    def __init__(self, frame: pd.DataFrame, *, scores: np.ndarray | None = None,
                 names: list | None = None, task: str = "binary", probability: bool = True,
                 classes: Any = None, labels: np.ndarray | None = None,
                 take: np.ndarray | None = None):
        self.frame, self.take, self.task, self.probability = frame, take, task, probability
        self.names, self.classes = list(names or ["prediction"]), classes
        self.scores = scores if scores is None or take is None else scores[take]
        self.labels = labels if labels is None or take is None else labels[take]
        self.n = len(frame) if take is None else len(take)
        self._cache: dict[str, Any] = {}

    def __call__(self, node: Node) -> Any:
        """Return the values of a ``feature``, ``prediction`` or ``label`` leaf."""
        if node.kind == "prediction":
            return _prediction(self.scores, self.names, self.task, self.probability,
                               self.classes, node.value)
        if node.kind == "label":
            if self.labels is None:
                raise ValueError("the rule reads label, but no labels were given; bind y")
            if ("label",) not in self._cache:
                self._cache[("label",)] = _values(pd.Series(self.labels))
            return self._cache[("label",)]
        name = node.value
        if name not in self._cache:
            if name not in self.frame.columns:
                names = [str(c) for c in self.frame.columns]
                raise KeyError(f"unknown feature {name!r}; {close_matches(name, names)}")
            column = self.frame[name]
            self._cache[name] = _values(column if self.take is None else column.iloc[self.take])
        return self._cache[name]


def condition_mask(rule: Rule, resolve: Resolver) -> np.ndarray:
    """Evaluate the rule's condition on every row at once: a boolean array of ``resolve.n``."""
    out = _eval(rule.condition, resolve, rule.text)
    return np.broadcast_to(np.asarray(out, dtype=bool), (resolve.n,)).copy()


def _eval(node: Node, resolve: Resolver, text: str) -> Any:
    kind = node.kind
    if kind in ("num", "str"):
        return node.value
    if kind in ("feature", "prediction", "label"):
        try:
            return resolve(node)
        except (KeyError, ValueError) as exc:
            reason, _, hint = str(exc.args[0]).partition("; ")
            raise RuleSyntaxError(reason, text, node.pos, hint) from None
        except TypeError as exc:
            raise RuleTypeError(f"{text[node.pos:node.end]!r}: {exc}", text, node.pos) from None
    args = [_eval(child, resolve, text) for child in node.children]
    try:
        if kind == "cmp":
            return _cmp(node.value, *args)
        if kind == "arith":
            return _arith(node.value, *args)
        functions = {"neg": _neg, "missing": _missing, "not": _not, "and": _and, "or": _or}
        if kind in functions:
            return functions[kind](*args)
        if kind == "in":
            return _isin(args[0], node.value)
        return _call(node.value, *args)
    except TypeError as exc:
        sides = " with ".join(f"{text[c.pos:c.end]!r} ({'text' if _is_text(a) else 'numbers'})"
                              for c, a in zip(node.children, args, strict=True))
        verb = "compare" if kind in ("cmp", "in") else "compute with"
        raise RuleTypeError(f"cannot {verb} {sides}", text, node.pos, str(exc)) from None


def apply_actions(rules: tuple[Rule, ...], masks: list[np.ndarray],
                  score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply overrides (in rule order) then clips to one score per row.

    ``masks`` are the rules' conditions. Returns the new scores and the fired matrix (one
    column per rule; a clip rule fires where the original score lies outside its bounds).

    Examples
    --------
    >>> rules = parse_rules(["x > 0 -> override 0.9", "x > 0 -> clip 0 0.5"])
    >>> mask = np.array([True, False])
    >>> score, fired = apply_actions(rules, [mask, mask], np.array([0.7, 0.2]))
    >>> score.tolist(), fired.tolist()
    ([0.5, 0.2], [[True, True], [False, False]])
    """
    out = score.copy()
    fired = []
    for rule, mask in zip(rules, masks, strict=True):
        if rule.action == "clip":
            with np.errstate(invalid="ignore"):
                mask = mask & ((score < rule.bounds[0]) | (score > rule.bounds[1]))
        elif rule.action == "override":
            out[mask] = rule.value
        fired.append(mask)
    for rule, mask in zip(rules, masks, strict=True):
        if rule.action == "clip":
            out[mask] = np.clip(out[mask], *rule.bounds)
    return out, np.column_stack(fired) if fired else np.zeros((len(score), 0), dtype=bool)


def check_actions(rules: tuple[Rule, ...], task: str, probability: bool) -> None:
    """Raise ValueError for actions the model's scores cannot take (multiclass, not in [0, 1])."""
    for i, rule in enumerate(rules):
        if rule.action != "flag" and task == "multiclass":
            raise ValueError(f"rule {i} ({rule.text!r}): override and clip act on one score; "
                             "a multiclass model has one per class, so its rules can only flag.")
        if rule.action == "override" and probability and task == "binary" and not (
                0 <= rule.value <= 1):
            raise ValueError(f"rule {i} ({rule.text!r}): override {rule.value:g} is not a "
                             "probability; override with a value in [0, 1].")
