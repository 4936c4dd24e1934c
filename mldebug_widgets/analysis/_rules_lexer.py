"""The rules language's vocabulary and tokenizer (parsing: ``_rules_parser``).

The comparison operators, the function table ``_FUNCS`` (name to argument counts), the
keywords, the Python keywords refused as names, the hints for stray characters, and
:func:`tokenize`: one regular expression splits a rule into ``(kind, text, start, end)``
tokens; a comment ends the rule and a character outside the language becomes an error
token, which the parser reports in text order.
"""

from __future__ import annotations

import keyword
import re

_CMP = ("<", "<=", ">", ">=", "==", "!=")
_FUNCS = {"abs": (1, 1), "min": (2, 99), "max": (2, 99), "is_missing": (1, 1)}
_WORDS = {"and", "or", "not", "in", "is", "missing"}
_BOOLS = {"true": True, "false": False, "True": True, "False": False}
_PY_KEYWORDS = set(keyword.kwlist) - _WORDS - set(_BOOLS)
_ACTIONS = 'flag "message", override <number> or clip <lo> <hi>'
_HINTS = {"=": "compare with ==", ";": "write one rule per line", ".": "attributes are not "
          "part of the language; backquote a name with dots: `a.b`", "&": "use and",
          "|": "use or", "!": "use not or !=", ":": "", "{": "", "}": ""}
_TOKEN = re.compile(r"""(?P<space>[ \t]+)|(?P<comment>\#.*)
 |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[^\W\d]\w*)|(?P<qname>`[^`\n]*`?)
 |(?P<str>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)|(?P<op>->|<=|>=|==|!=|[<>+\-*/(),\[\]])
""", re.VERBOSE)
_ESCAPE = re.compile(r"\\(.)")


def tokenize(text: str) -> tuple[list[tuple], int]:
    """Split one rule into tokens; return ``(tokens, end)``.

    Each token is ``(kind, text, start, end)`` with kind ``num``, ``name``, ``qname``
    (backquoted), ``str``, ``op``, ``error`` (the first bad character, name or unterminated
    literal; tokenizing stops there) or ``end`` (always last). ``end`` is where the rule's
    text stops: before a ``#`` comment and trailing spaces.

    Examples
    --------
    >>> tokens, end = tokenize("AGE >= 21  # adults")
    >>> [token[:2] for token in tokens], end
    ([('name', 'AGE'), ('op', '>='), ('num', '21'), ('end', '')], 9)
    """
    tokens = []
    pos, text_end = 0, len(text.rstrip())
    while pos < len(text):  # a bad character becomes an error token: errors in text order
        m = _TOKEN.match(text, pos)
        kind, value = (m.lastgroup, m.group()) if m else ("error", text[pos])
        if kind == "comment":
            text_end = len(text[:pos].rstrip())
            break
        if kind == "error" or kind in ("qname", "str") and (
                len(value) < 2 or value[-1] != value[0]) or value == "``" or (
                kind == "name" and value in _PY_KEYWORDS):
            tokens.append(("error", value, pos, pos))
            break
        if kind != "space":
            tokens.append((kind, value, pos, m.end()))
        pos = m.end()
    tokens.append(("end", "", text_end, text_end))
    return tokens, text_end
