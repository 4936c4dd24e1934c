"""The model-assertion language: :func:`parse_rule`, :func:`parse_rules` and all its names.

A rule is ``condition -> action``. The text is tokenized by one regular expression
(``_rules_lexer``) and parsed by recursive descent (``_rules_parser``) into :class:`Node`
trees (``_rules_tree``, with :class:`Rule` and the errors); nothing is ever passed to
``eval``, ``exec``, ``compile`` or ``__import__``, names are looked up in a DataFrame, and
the only calls are the functions of ``_FUNCS`` (evaluation: ``_rules_eval``). Every name of
those modules is importable from here. Precedence, loosest first:
``or``, ``and``, ``not``, comparisons (``< <= > >= == !=``, chains such as ``0 < x < 5``,
``in (...)``, ``not in (...)``, ``is [not] missing``), ``+ -``, ``* /``, unary minus.

Missing values: a comparison or ``in`` with a missing operand is False (``!=`` too), and
arithmetic propagates them; ``not`` simply negates, so ``not x > 1`` is True where ``x``
is missing while ``x <= 1`` is False. Test missingness explicitly with ``is missing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._rules_lexer import (  # noqa: F401 (re-exported)
    _ACTIONS,
    _BOOLS,
    _CMP,
    _ESCAPE,
    _FUNCS,
    _HINTS,
    _PY_KEYWORDS,
    _TOKEN,
    _WORDS,
    tokenize,
)
from ._rules_parser import _KIND, _Parser, close_matches  # noqa: F401 (re-exported)
from ._rules_tree import (  # noqa: F401 (re-exported)
    Node,
    Rule,
    RuleSyntaxError,
    RuleTypeError,
    dump,
)


def parse_rule(text: str, *, features: Any = None) -> Rule:
    """Parse one rule ``condition -> action``.

    Parameters
    ----------
    text : str
        The rule, e.g. ``'PAY_AMT1 > LIMIT_BAL -> override 0.5'``; ``#`` starts a comment.
    features : list of str, DataFrame or FeatureSchema, default=None
        Known features: names are checked (unknown ones raise with close matches) and,
        for a DataFrame or schema, comparisons of text with numbers raise here.

    Returns
    -------
    Rule

    Raises
    ------
    RuleSyntaxError
        With ``.position`` and a caret under the offending token
        (:class:`RuleTypeError` for operands of the wrong kind).

    Examples
    --------
    >>> dump(parse_rule('a + 1 > 2 * b or not c is missing -> clip 0 1').condition)
    '(or (> (+ a 1) (* 2 b)) (not (missing c)))'
    """
    if not isinstance(text, str):
        raise TypeError(f"a rule is a string such as 'x > 1 -> flag \"big\"'; got "
                        f"{type(text).__name__}.")
    return _Parser(text, _feature_kinds(features)).rule()


def parse_rules(rules: Any, *, features: Any = None) -> tuple[Rule, ...]:
    """Parse several rules: a text with one rule per line, or a list of rules.

    Blank lines and lines starting with ``#`` are skipped; :class:`Rule` objects pass
    through. Errors carry ``.line`` (1-based line of the text or position in the list).

    Examples
    --------
    >>> rules = parse_rules('''# credit rules
    ... AGE < 21 -> flag "young"
    ... EDUCATION in (0, 5, 6) -> flag "undocumented code"''')
    >>> [r.message for r in rules]
    ['young', 'undocumented code']
    """
    items = rules.splitlines() if isinstance(rules, str) else \
        [rules] if isinstance(rules, Rule) else list(rules)
    parsed = []
    for line, item in enumerate(items, start=1):
        if isinstance(item, Rule):
            parsed.append(item)
        elif not isinstance(item, str) or item.strip() and not item.strip().startswith("#"):
            try:
                parsed.append(parse_rule(item, features=features))
            except RuleSyntaxError as exc:
                raise exc.at_line(line) from None
    return tuple(parsed)


def _feature_kinds(features: Any) -> dict[str, str] | None:
    if features is None:
        return None
    if isinstance(features, pd.DataFrame):
        return {str(c): "num" if pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(
            t) else "str" if isinstance(t, pd.StringDtype) else "any"
            for c, t in features.dtypes.items()}
    if isinstance(features, Mapping) and all(hasattr(s, "kind") for s in features.values()):
        return {name: "str" if s.kind == "categorical" and any(isinstance(c, str)
                for c in s.categories) else "num" for name, s in features.items()}
    return {str(name): "any" for name in features}
