"""The rules language's recursive-descent parser (tokens: ``_rules_lexer``; tree: ``_rules_tree``).

``_Parser`` turns one rule's tokens into a :class:`Rule` whose condition is a :class:`Node`
tree with static types (``bool``, ``num``, ``str``, ``any``), raising
:class:`RuleSyntaxError` / :class:`RuleTypeError` with the position of the offending token
and a hint; :func:`close_matches` suggests names for an unknown feature.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import numpy as np

from ._rules_lexer import (
    _ACTIONS,
    _BOOLS,
    _CMP,
    _ESCAPE,
    _FUNCS,
    _HINTS,
    _PY_KEYWORDS,
    _WORDS,
    tokenize,
)
from ._rules_tree import Node, Rule, RuleSyntaxError, RuleTypeError


class _Parser:
    def __init__(self, text: str, kinds: dict[str, str] | None):
        self.text, self.kinds, self.i = text, kinds, 0
        self.tokens, self.text_end = tokenize(text)

    # -- helpers --------------------------------------------------------------------------
    def fail(self, reason: str, pos: int, hint: str = "", error: type = RuleSyntaxError):
        raise error(reason, self.text[: self.text_end], pos, hint)

    def peek(self, offset: int = 0) -> tuple:
        token = self.tokens[min(self.i + offset, len(self.tokens) - 1)]
        if token[0] == "error":
            self.bad_token(token[1], token[2])
        return token

    def bad_token(self, value: str, pos: int) -> None:
        if value in _PY_KEYWORDS:
            self.fail(f"{value!r} is a Python keyword, not part of the rule language", pos,
                      f"backquote a feature of that name: `{value}`")
        if len(value) > 1 or value in "`'\"":
            self.fail("empty name ``" if value == "``" else f"unterminated "
                      f"{'name' if value[0] == '`' else 'string'} {value}", pos,
                      "" if value == "``" else "close it with " + value[0])
        reason = "a rule is one line (parse several with parse_rules)" if value in "\r\n" \
            else f"unexpected character {value!r}"
        self.fail(reason, pos, _HINTS.get(value, ""))

    def take(self) -> tuple:
        self.i += 1
        return self.tokens[self.i - 1]

    def at(self, *values: str) -> bool:
        kind, value = self.peek()[:2]
        return kind in ("op", "name") and value in values

    def unexpected(self, expected: str) -> None:
        kind, value, pos, _ = self.peek()
        what = "end of rule" if kind == "end" else f"{value!r}"
        self.fail(f"unexpected {what}", pos, f"expected {expected}")

    def src(self, node: Node) -> str:
        return self.text[node.pos: node.end]

    def need(self, node: Node, types: tuple, role: str) -> Node:
        if node.type not in types:
            self.fail(f"{self.src(node)!r} is {_KIND[node.type]} but {role}", node.pos,
                      error=RuleTypeError)
        return node

    # -- grammar --------------------------------------------------------------------------
    def rule(self) -> Rule:
        if self.peek()[0] == "end":
            self.unexpected("a condition")
        cond = self.or_expr()
        if not self.at("->"):
            self.unexpected("'->' and an action" if self.peek()[0] == "end" else
                            "an operator, 'and', 'or' or '->'")
        if cond.type != "bool":
            self.fail(f"the condition {self.src(cond)!r} is a value, not true or false",
                      cond.pos, f"compare it, e.g. {self.src(cond)} > 0", RuleTypeError)
        self.take()
        kind, word, pos, _ = self.take()
        message = value = bounds = None
        if word == "flag" and kind == "name":
            if self.peek()[0] != "str":
                self.unexpected('a message in quotes: flag "why this row is suspect"')
            message = self.string(self.take())
        elif word == "override" and kind == "name":
            value = self.signed("a number: override 0.5")
        elif word == "clip" and kind == "name":
            bounds = (self.signed("two numbers: clip 0 0.8"),
                      self.signed("two numbers: clip 0 0.8"))
            if bounds[0] > bounds[1]:
                self.fail(f"clip bounds {bounds[0]:g} > {bounds[1]:g}", pos, "write clip lo hi")
        else:
            self.i -= 1
            self.unexpected("an action: " + _ACTIONS)
        if self.peek()[0] != "end":
            self.unexpected("the end of the rule ('->' appears once)")
        return Rule(self.text[: self.text_end], cond, word, message, value, bounds)

    def signed(self, expected: str) -> float:
        sign = -1 if self.at("-") and self.take() else 1
        if self.peek()[0] != "num":
            self.unexpected(expected)
        return sign * float(self.number(self.take()))

    def bool_chain(self, word: str, sub: Callable[[], Node]) -> Node:
        first = sub()
        parts = [first]
        while self.at(word):
            self.take()
            parts.append(sub())
        if len(parts) == 1:
            return first
        for part in parts:
            self.need(part, ("bool",), f"'{word}' joins conditions; compare it first")
        return Node(word, first.pos, parts[-1].end, None, tuple(parts))

    def or_expr(self) -> Node:
        return self.bool_chain("or", self.and_expr)

    def and_expr(self) -> Node:
        return self.bool_chain("and", self.not_expr)

    def not_expr(self) -> Node:
        if self.at("not") and self.peek()[0] == "name":
            pos = self.take()[2]
            operand = self.need(self.not_expr(), ("bool",), "'not' negates a condition")
            return Node("not", pos, operand.end, None, (operand,))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.arith()
        if self.at(*_CMP):
            parts, first = [], left
            while self.at(*_CMP):
                op = self.take()[1]
                right = self.arith()
                parts.append(self.compare(op, left, right))
                left = right
            return parts[0] if len(parts) == 1 else Node("and", first.pos, left.end, None,
                                                         tuple(parts))
        if self.at("is"):
            self.take()
            negated = self.at("not") and bool(self.take())
            if not self.at("missing"):
                self.unexpected("'missing' (x is missing, x is not missing)")
            end = self.take()[3]
            node = Node("missing", left.pos, end, None, (self.need(left, ("num", "str", "any"),
                                                                   "'is missing' tests a value"),))
            return Node("not", left.pos, end, None, (node,)) if negated else node
        if self.at("in") or (self.at("not") and self.peek(1)[:2] == ("name", "in")):
            negated = self.take()[1] == "not" and bool(self.take())
            self.need(left, ("num", "str", "any"), "'in' tests a value")
            node = self.in_list(left)
            return Node("not", left.pos, node.end, None, (node,)) if negated else node
        return left

    def compare(self, op: str, left: Node, right: Node) -> Node:
        for side in (left, right):
            self.need(side, ("num", "str", "any"), f"'{op}' compares values")
        types = {left.type, right.type}
        if types == {"num", "str"}:
            self.fail(f"cannot compare {self.src(left)!r} ({_KIND[left.type]}) with "
                      f"{self.src(right)!r} ({_KIND[right.type]})", right.pos,
                      "compare text with a quoted string and numbers with numbers",
                      RuleTypeError)
        if "str" in types and op not in ("==", "!="):
            self.fail(f"{op!r} orders numbers; text can only be compared with == or !=",
                      left.pos, "", RuleTypeError)
        return Node("cmp", left.pos, right.end, op, (left, right))

    def items(self, sub: Callable[[], Any]) -> tuple[list, int]:
        """Parse ``sub (, sub)* [,] )`` after an opening parenthesis; return (items, end)."""
        values = [sub()]
        while self.at(",") and self.take() and not self.at(")"):
            values.append(sub())
        if not self.at(")"):
            self.unexpected("',' or ')'")
        return values, self.take()[3]

    def in_list(self, left: Node) -> Node:
        if not self.at("("):
            self.unexpected("'(' and a list of values: x in (1, 2)")
        self.take()
        values, end = self.items(lambda: self.literal("a number or a quoted string"))
        kinds = {"str" if isinstance(v, str) else "num" for v in values} | (
            {left.type} - {"any"})
        if len(kinds) > 1:
            self.fail(f"{self.src(left)!r} in (...) mixes text and numbers", left.pos,
                      "list values of one kind", RuleTypeError)
        return Node("in", left.pos, end, tuple(values), (left,))

    def literal(self, expected: str) -> Any:
        sign = -1 if self.at("-") and self.take() else 1
        kind, value = self.peek()[:2]
        if kind == "num":
            return sign * self.number(self.take())
        if kind == "str" and sign == 1:
            return self.string(self.take())
        if kind == "name" and value in _BOOLS and sign == 1:
            return _BOOLS[self.take()[1]]
        self.unexpected(expected)

    def number(self, token: tuple) -> int | float:
        text = token[1]
        try:
            number = int(text) if text.isdigit() else float(text)
            finite = bool(np.isfinite(float(number)))
        except (ValueError, OverflowError):
            finite = False
        if not finite:
            self.fail(f"number {text[:20]} is too large", token[2])
        return number

    def string(self, token: tuple) -> str:
        body = token[1][1:-1]
        for bad in _ESCAPE.finditer(body):
            if bad.group(1) not in "\\\"'":
                self.fail(f"unknown escape {bad.group()!r} in string", token[2] + 1 + bad.start(),
                          "only \\\" \\' and \\\\ are escapes")
        return _ESCAPE.sub(lambda m: m.group(1), body)

    def arith(self) -> Node:
        return self.binary(("+", "-"), self.term)

    def term(self) -> Node:
        return self.binary(("*", "/"), self.unary)

    def binary(self, ops: tuple, sub: Callable[[], Node]) -> Node:
        left = sub()
        while self.at(*ops) and self.peek()[0] == "op":
            op = self.take()[1]
            right = sub()
            for side in (left, right):
                self.need(side, ("num", "any"), f"{op!r} needs numbers")
            left = Node("arith", left.pos, right.end, op, (left, right), "num")
        return left

    def unary(self) -> Node:
        if self.at("-", "+") and self.peek()[0] == "op":
            op, pos = self.take()[1:3]
            operand = self.need(self.unary(), ("num", "any"), f"unary {op!r} needs a number")
            return operand if op == "+" else Node("neg", pos, operand.end, None, (operand,),
                                                  "num")
        return self.primary()

    def primary(self) -> Node:
        kind, value, pos, end = self.peek()
        if kind == "num":
            return Node("num", pos, end, self.number(self.take()), type="num")
        if kind == "str":
            return Node("str", pos, end, self.string(self.take()), type="str")
        if kind == "qname":
            self.take()
            return self.feature(value[1:-1], pos, end)
        if self.at("("):
            self.take()
            inner = self.or_expr()
            if not self.at(")"):
                self.unexpected("')'")
            return Node(inner.kind, pos, self.take()[3], inner.value, inner.children, inner.type)
        if kind != "name" or value in _WORDS or value in _PY_KEYWORDS:
            self.unexpected("a value or a condition")
        self.take()
        following = self.peek()[:2]
        if value in _BOOLS:
            return Node("num", pos, end, _BOOLS[value], type="num")
        if following == ("op", "("):
            return self.call(value, pos)
        if value == "prediction":
            if following != ("op", "["):
                return Node("prediction", pos, end, None, type="num")
            self.take()
            cls = self.take()[1] if self.peek()[0] == "name" else self.literal(
                "a class: prediction[1] or prediction['yes']")
            if not self.at("]"):
                self.unexpected("']'")
            return Node("prediction", pos, self.take()[3], cls, type="num")
        if following == ("op", "["):
            self.fail(f"unexpected '[' after {value!r}", self.peek()[2],
                      "only prediction takes a class in brackets")
        if value == "label":
            return Node("label", pos, end, type="any")
        return self.feature(value, pos, end)

    def call(self, name: str, pos: int) -> Node:
        if name not in _FUNCS:
            self.fail(f"{name!r} is not a function of the rule language", pos,
                      f"the functions are {', '.join(sorted(_FUNCS))}")
        self.take()
        args, end = self.items(self.or_expr)
        lo, hi = _FUNCS[name]
        if not lo <= len(args) <= hi:
            self.fail(f"{name}() takes {lo if lo == hi else f'at least {lo}'} argument(s), "
                      f"got {len(args)}", pos)
        if name == "is_missing":
            arg = self.need(args[0], ("num", "str", "any"), "is_missing() tests a value")
            return Node("missing", pos, end, None, (arg,))
        for arg in args:
            self.need(arg, ("num", "any"), f"{name}() needs numbers")
        return Node("call", pos, end, name, tuple(args), "num")

    def feature(self, name: str, pos: int, end: int) -> Node:
        if self.kinds is not None and name not in self.kinds:
            hint = f"keywords are lowercase: {name.lower()}" if name.lower() in _WORDS else \
                close_matches(name, list(self.kinds))
            self.fail(f"unknown feature {name!r}", pos, hint)
        return Node("feature", pos, end, name, type=(self.kinds or {}).get(name, "any"))


_KIND = {"num": "a number", "str": "text", "any": "a value", "bool": "a condition"}


def close_matches(name: str, names: list[str]) -> str:
    """Return a hint for an unknown name: up to 3 close matches, or the first names."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return f"did you mean {', '.join(map(repr, close))}?"
    return f"features are {', '.join(names[:12])}{'...' if len(names) > 12 else ''}"
