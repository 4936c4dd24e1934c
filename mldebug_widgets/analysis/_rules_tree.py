"""The rules language's syntax tree and errors (built by ``_rules_parser``).

:class:`RuleSyntaxError` and :class:`RuleTypeError` (position, hint, caret, line),
:class:`Node` (one node of a condition, with its source span and static type),
:class:`Rule` (text, condition and action; ``evaluate`` delegates to ``_rules_eval``) and
:func:`dump` (a tree as an s-expression).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class RuleSyntaxError(ValueError):
    """A rule that cannot be parsed or evaluated; ``position`` is the 0-based offset.

    The message quotes the offending token and shows the rule with a caret under it.
    ``line`` is the 1-based line (or list position) for :func:`parse_rules`, else None.

    Examples
    --------
    >>> from mldebug_widgets.analysis._rules import parse_rule
    >>> try:
    ...     parse_rule("(AGE < 21 and ) -> flag 'x'")
    ... except RuleSyntaxError as exc:
    ...     print(exc.position, str(exc).splitlines()[0])
    14 unexpected ')' at position 14; expected a value or a condition
    """

    def __init__(self, reason: str, text: str, position: int, hint: str = "",
                 line: int | None = None):
        self.reason, self.text, self.position, self.hint, self.line = (
            reason, text, position, hint, line)
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{reason} at position {position}{'; ' + hint if hint else ''}"
                         f"\n  {text}\n  {' ' * position}^")

    def at_line(self, line: int) -> RuleSyntaxError:
        """Return the same error reported at ``line`` (of a list of rules)."""
        return type(self)(self.reason, self.text, self.position, self.hint, line)


class RuleTypeError(RuleSyntaxError, TypeError):
    """Operands of the wrong kind (text compared with a number, arithmetic on a condition).

    Also a :class:`RuleSyntaxError` (one ``except`` catches every rule error with its
    position) and a :class:`TypeError`.
    """


@dataclass(frozen=True)
class Node:
    """One node of a parsed condition: ``kind``, source span and static ``type``.

    Kinds: ``num``/``str`` (``value`` the literal), ``feature`` (``value`` the name),
    ``prediction`` (``value`` None or a class), ``label``, ``neg``, ``arith`` and ``cmp``
    (``value`` the operator), ``in`` (``value`` the literals), ``missing``, ``not``,
    ``and``, ``or``, ``call`` (``value`` the function). ``type`` is ``bool``, ``num``,
    ``str`` or ``any`` (a feature or label of unknown kind).
    """

    kind: str
    pos: int
    end: int
    value: Any = None
    children: tuple[Node, ...] = ()
    type: str = field(default="bool", compare=False)

    def walk(self) -> Iterator[Node]:
        """Yield this node and its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Rule:
    """A parsed rule: the text, its condition tree and its action.

    Build it with :func:`parse_rule`. ``action`` is ``"flag"`` (``message``),
    ``"override"`` (``value``: the prediction to set) or ``"clip"`` (``bounds``).

    Examples
    --------
    >>> from mldebug_widgets.analysis._rules import parse_rule
    >>> rule = parse_rule('AGE < 21 and prediction > 0.5 -> flag "young, high risk"')
    >>> rule.action, rule.message, rule.features, rule.uses_prediction
    ('flag', 'young, high risk', ('AGE',), True)
    >>> import pandas as pd
    >>> rule.evaluate(pd.DataFrame({"AGE": [19, 30, None]}), prediction=[0.9, 0.9, 0.9])
    array([ True, False, False])
    """

    text: str
    condition: Node = field(repr=False)
    action: str = "flag"
    message: str | None = None
    value: float | None = None
    bounds: tuple[float, float] | None = None

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"

    @property
    def features(self) -> tuple[str, ...]:
        """The feature names the condition reads, in order of first use."""
        return tuple(dict.fromkeys(n.value for n in self.condition.walk()
                                   if n.kind == "feature"))

    @property
    def uses_prediction(self) -> bool:
        """Whether the condition reads the model's prediction."""
        return any(n.kind == "prediction" for n in self.condition.walk())

    @property
    def uses_label(self) -> bool:
        """Whether the condition reads the true label."""
        return any(n.kind == "label" for n in self.condition.walk())

    def evaluate(self, frame: pd.DataFrame, *, prediction: Any = None,
                 label: Any = None) -> np.ndarray:
        """Return where the condition holds on ``frame``, a boolean array (vectorised).

        ``prediction`` is one score per row, or a DataFrame with one column per class
        (for ``prediction[<class>]``); ``label`` is one true label per row.
        """
        if isinstance(prediction, pd.DataFrame):
            scores, names, task = prediction.to_numpy(float), list(prediction.columns), \
                "multiclass"
        else:
            scores = None if prediction is None else np.asarray(prediction, float)[:, None]
            names, task = ["prediction"], "regression"
        from ._rules_eval import Resolver, condition_mask

        resolver = Resolver(frame, scores=scores, names=names, task=task,
                            labels=None if label is None else np.asarray(label))
        return condition_mask(self, resolver)


def dump(node: Node) -> str:
    """Return a condition tree as an s-expression (tests and debugging).

    Examples
    --------
    >>> from mldebug_widgets.analysis._rules import parse_rule
    >>> dump(parse_rule("x in (1, 2) or `my col` <= -2 -> flag 'm'").condition)
    '(or (in x (1 2)) (<= `my col` (- 2)))'
    """
    if node.kind in ("num", "str"):
        return repr(node.value)
    if node.kind == "feature":
        return node.value if node.value.isidentifier() else f"`{node.value}`"
    if node.kind in ("prediction", "label"):
        return node.kind + ("" if node.value is None else f"[{node.value!r}]")
    head = {"arith": node.value, "cmp": node.value, "neg": "-", "call": node.value}.get(
        node.kind, node.kind)
    parts = [dump(c) for c in node.children]
    if node.kind == "in":
        parts.append("(" + " ".join(map(repr, node.value)) + ")")
    return f"({head} {' '.join(parts)})"
