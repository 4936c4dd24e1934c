"""Write the findings of a session as a pytest file of model assertions (CI for a model).

The file is generated from data: every value is written with ``repr`` (rows, labels,
predicates, thresholds, notes as docstrings), names are sanitised, and the model and data
loaders are checked to be ``"package.module:function"`` or a model file path. No user text
becomes code, nothing is pickled into the file, and the source is parsed before it is
written. The tests call the helpers of :mod:`mldebug_widgets.findings`, so each number is
re-measured with the definition it was recorded with.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._findings_io import check_loader, fingerprint
from ._findings_values import canon, columns_literal, dtype_specs, plain, predicate_mask
from .schema import is_missing

_WIDTH = 96


def _lit(value: Any) -> str:
    """Python source for a canonical or plain JSON-like value (tuples kept, infinities named)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(_lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} into the test file.")


def _wrapped(items: list[str], indent: str) -> str:
    """Join literal items over lines of at most ``_WIDTH`` characters."""
    lines, line = [], ""
    for item in items:
        piece = item + ", "
        if line and len(indent) + len(line) + len(piece) > _WIDTH:
            lines.append(indent + line.rstrip())
            line = ""
        line += piece
    if line:
        lines.append(indent + line.rstrip())
    return "\n".join(lines)


def _pretty(value: Any, indent: str, used: int = 0) -> str:
    """Source of ``value`` after ``used`` characters: one line if it fits, else spread."""
    flat = _lit(value)
    if used + len(flat) <= _WIDTH or not isinstance(value, Mapping | list | tuple) \
            or not value:
        return flat
    inner = indent + "    "
    if isinstance(value, Mapping):
        lines = [f"{inner}{_lit(k)}: {_pretty(v, inner, len(inner) + len(_lit(k)) + 3)},"
                 for k, v in value.items()]
        return "{\n" + "\n".join(lines) + f"\n{indent}}}"
    left, right = ("(", ")") if isinstance(value, tuple) else ("[", "]")
    if all(not isinstance(v, Mapping | list | tuple) for v in value):
        return f"{left}\n" + _wrapped([_lit(v) for v in value], inner) + f"\n{indent}{right}"
    return f"{left}\n" + "\n".join(f"{inner}{_pretty(v, inner, len(inner) + 1)},"
                                     for v in value) \
        + f"\n{indent}{right}"


def _block(name: str, value: Any) -> str:
    """``NAME = value``, spread over lines of at most ``_WIDTH`` characters where it can be."""
    return f"{name} = {_pretty(value, '', len(name) + 3)}"


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())[:5]
    return "_".join(words)[:40]


def _doc(text: str) -> str:
    """Return a docstring literal: ``repr`` of the text over lines (still one constant)."""
    words, lines, line = text.split(" "), [], ""
    for word in words:
        if line and len(line) + len(word) > _WIDTH - 12:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line.rstrip())
    if len(lines) == 1:
        return "    " + repr(lines[0])
    return "    (\n" + "\n".join(f"        {repr(x)}" for x in lines) + "\n    )"


def _call(target: str, args: list[str], indent: str = "    ") -> str:
    """``target(args)`` on one line if it fits, else one argument per line."""
    flat = f"{indent}{target}({', '.join(args)})"
    if len(flat) <= _WIDTH + 4:
        return flat
    inner = indent + "    "
    return f"{indent}{target}(\n" + "\n".join(f"{inner}{a}," for a in args) + f"\n{indent})"


class _Writer:
    """Builds the source of the test file finding by finding."""

    def __init__(self, findings: Any, *, data_loader: str | None, max_embedded_rows: int):
        self.session = findings.session
        self.findings = findings
        self.data_loader = data_loader
        self.max_rows = max_embedded_rows
        self.constants: list[str] = []
        self.tests: list[str] = []
        self.all_rows_written = False

    def rows_constant(self, name: str, positions: Any, what: str) -> str:
        """Embed the rows at ``positions``; return the code that rebuilds ``X, y``."""
        if len(positions) > self.max_rows:
            raise ValueError(f"{what} needs {len(positions)} rows, more than "
                             f"max_embedded_rows={self.max_rows}; pass data_loader="
                             "'package.module:function' (returning X, y) or raise "
                             "max_embedded_rows.")
        s = self.session
        block = columns_literal(s.X.iloc[positions], None if s.y is None else
                                s.y.iloc[positions])
        self.constants.append(_block(name, block))
        return f"mf.embedded({name}, DTYPES, Y_NAME)"

    def add(self, i: int, finding: Any) -> None:
        d, s = finding.data, self.session
        slug = _slug(finding.note)
        name = f"test_{i:02d}_{finding.kind}" + (f"_{slug}" if slug else "")
        doc = _doc(f"{finding.kind} #{i}: {finding.summary}."
                   + (f" Note: {finding.note}." if finding.note else "")
                   + f" Marked {finding.created}.")
        if finding.kind in ("row", "find"):
            self.constants.append(_block(f"ROW_{i}", {k: [v] for k, v in d["row"].items()}))
            where_ = f"row {d['base']!r}" if d["base"] is not None else "the synthetic row"
            what = repr(f"the prediction of {where_} of finding #{i}")
            body = [f"    rows = mf.frame(ROW_{i}, DTYPES)"]
            if d["error"]:
                body.append(_call("mf.assert_raises", ["scorer", "rows", "mode=MODE",
                                                       f"what={what}"]))
            else:
                body += ["    observed = scorer.predict(rows, check_finite=False)[0].tolist()",
                         _call("mf.assert_finding", ["observed", _lit(list(d["prediction"])),
                                                     "mode=MODE", f"what={what}",
                                                     "**TOLERANCE"])]
            self.tests.append(f"def {name}(scorer):\n{doc}\n" + "\n".join(body))
            return
        if finding.kind == "thresholds":
            self.thresholds(i, name, doc)
            return
        if finding.kind == "cohort" and self.data_loader is None:
            load = self.rows_constant(f"ROWS_{i}", s.X.index.get_indexer(list(d["labels"])),
                                      f"cohort #{i}")
        elif finding.kind == "cohort":
            self.constants.append(_block(f"LABELS_{i}", list(d["labels"])))
            load = f"mf.take(*data, LABELS_{i})"
        elif self.data_loader is None:
            positions = predicate_mask(s.X, d["predicates"]).nonzero()[0]
            load = self.rows_constant(f"ROWS_{i}", positions, f"slice #{i}")
        else:
            self.constants.append(_block(f"PREDICATES_{i}", d["predicates"]))
            load = f"mf.where(*data, PREDICATES_{i})"
        y = ", y" if d["metric"] != "mean_prediction" else ""
        what = repr(f"the {d['metric']} of the {d['size']} rows of finding #{i}")
        self.tests.append("\n".join([
            f"def {name}({self.fixtures}):", doc, f"    X, y = {load}",
            f"    session = mdw.bind(model, X{y}, **MODEL_OPTIONS)",
            f"    observed = mf.rows_metric(session, {d['metric']!r})",
            _call("mf.assert_finding", ["observed", _lit(d["value"]), "mode=MODE",
                                        "fixed='lower'", f"what={what}", "**TOLERANCE"])]))

    @property
    def fixtures(self) -> str:
        return "model" if self.data_loader is None else "model, data"

    def thresholds(self, i: int, name: str, doc: str) -> None:
        d, s = self.findings[i].data, self.session
        absent = [c for c in d["group_columns"] if c not in s.X.columns]
        if absent:
            raise ValueError(f"finding #{i} groups by {absent}, which are not columns of X; "
                             "the tests read groups from X, so bind those columns with X.")
        if self.data_loader is None:
            if not self.all_rows_written:
                self.rows_constant("ALL_ROWS", list(range(len(s.X))), f"thresholds #{i}")
                self.all_rows_written = True
            load = "mf.embedded(ALL_ROWS, DTYPES, Y_NAME)"
        else:
            load = "data"
        self.constants.append(_block(f"THRESHOLDS_{i}", d["thresholds"]))
        what = repr(f"the adverse impact ratio of each group at the thresholds of finding #{i}")
        self.tests.append("\n".join([
            f"def {name}({self.fixtures}):", doc, f"    X, y = {load}",
            "    session = mdw.bind(model, X, y, **MODEL_OPTIONS)",
            _call("table = mf.group_air", [
                "session", f"THRESHOLDS_{i}", _lit(d["group_columns"]),
                f"bins={_lit(d['bins'] or None)}", f"favourable={d['favourable']!r}",
                f"reference={_lit(d['reference'])}"]),
            _call("mf.assert_finding", ["table['air'].tolist()",
                                        _lit([g["air"] for g in d["groups"]]), "mode=MODE",
                                        f"what={what}", "**TOLERANCE"])]))


_HEADER = '''"""Model assertions generated by mldebug_widgets from {n} finding(s) ({when}).

Each test re-checks one finding marked while debugging (its kind, note and the numbers
measured then are in its docstring) against the model loaded by the ``model`` fixture.

mode = {mode!r}:
{semantics}
Tolerance: max(abs_tol, rel_tol * |recorded|) = max({abs_tol}, {rel_tol} * |recorded|).

Run with ``python -m pytest {file}``; it needs mldebug_widgets, whose helpers measure each
number with the definition it was recorded with. Regenerate with
``session.findings.to_pytest(...)``. This file was written from data (no pickles); the
model is loaded from {loader!r}.
"""

import pytest

import mldebug_widgets as mdw
from mldebug_widgets import findings as mf

INF, NAN = float("inf"), float("nan")
MODE = {mode!r}
TOLERANCE = {{"abs_tol": {abs_tol!r}, "rel_tol": {rel_tol!r}}}
'''
_SEMANTICS = {
    "holds": ("each test passes while its finding still holds: the marked row still scores\n"
              "within tolerance of its recorded prediction (or the model still raises on it),\n"
              "the cohort or slice error and each group's adverse impact ratio at the marked\n"
              "thresholds are still within tolerance. A test fails once the model changes the\n"
              "finding (e.g. the bug was fixed): then delete it, or regenerate with\n"
              "mode='fixed' to guard the fix."),
    "fixed": ("each test passes only once its finding no longer holds (the bug is fixed): the\n"
              "row's prediction or a group's ratio moved beyond the tolerance (or the model no\n"
              "longer raises), a cohort's or slice's error fell below the recorded one by more\n"
              "than the tolerance."),
}


def write_pytest(findings: Any, path: str | Path, model_loader: str, *,
                 data_loader: str | None = None, mode: str = "holds", abs_tol: float = 0.05,
                 rel_tol: float = 0.05, max_embedded_rows: int = 2_000,
                 trusted: Any = None) -> Path:
    """Write the pytest file (see ``Findings.to_pytest``).

    Examples
    --------
    >>> import pandas as pd, pathlib, tempfile
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 3.0],
    ...          task="regression")
    >>> _ = s.findings.add_slice([("a", ">", 1.5)])
    >>> path = write_pytest(s.findings, pathlib.Path(tempfile.mkdtemp()) / "test_m.py", "m:load")
    >>> "mf.rows_metric(session, 'squared')" in path.read_text()
    True
    """
    path = Path(path).expanduser()
    if path.suffix != ".py" or path.is_dir():
        raise ValueError(f"path must be a .py file such as test_model_findings.py; got {path}.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist; create it first.")
    if mode not in _SEMANTICS:
        raise ValueError(f"mode must be 'holds' or 'fixed'; got {mode!r}.")
    for label, tol in (("abs_tol", abs_tol), ("rel_tol", rel_tol)):
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0:
            raise ValueError(f"{label} must be a number >= 0, e.g. 0.05; got {tol!r}.")
    if isinstance(max_embedded_rows, bool) or not isinstance(max_embedded_rows, int) or \
            max_embedded_rows < 1:
        raise ValueError(f"max_embedded_rows must be an integer >= 1; got {max_embedded_rows!r}.")
    if not len(findings):
        raise ValueError("there are no findings to export; mark some first "
                         "(session.findings.add_row, add_cohort, ...).")
    kind = check_loader(model_loader)
    if data_loader is not None:
        check_loader(data_loader, what="data_loader")
    load_options = []
    if kind == "file" and model_loader.lower().endswith(".skops"):
        load_options = [f"trusted={_lit(_trusted(model_loader, path, trusted))}"]
    s = findings.session
    writer = _Writer(findings, data_loader=data_loader, max_embedded_rows=max_embedded_rows)
    for i, finding in enumerate(findings):
        writer.add(i, finding)
    adapter = s.adapter
    options = {"task": s.task, "response_method": "auto" if adapter.response_method ==
               "callable" else adapter.response_method,
               "pos_label": plain(_canon_label(adapter.pos_label))}
    complete = (~s.X.isna().any(axis=1)).to_numpy().nonzero()[0]  # a row any model can score
    anchor = columns_literal(s.X.iloc[complete[:1] if len(complete) else [0]])["columns"]
    source = [_HEADER.format(n=len(findings), when=datetime.now(timezone.utc).isoformat(
        timespec="seconds"), mode=mode, semantics=_SEMANTICS[mode], abs_tol=abs_tol,
        rel_tol=rel_tol, file=path.name, loader=model_loader),
        _block("MODEL_OPTIONS", options),
        _block("Y_NAME", None if s.y is None else plain(_canon_label(s.y.name))),
        _block("DTYPES", plain(dtype_specs(s.X))),
        "# one data row: the model is bound to it to score single rows\n"
        + _block("ANCHOR", anchor),
        *writer.constants, "",
        "@pytest.fixture(scope='module')\ndef model():\n"
        + _call("return mf.load_model", [repr(model_loader), *load_options, "base=__file__"]),
        "@pytest.fixture(scope='module')\ndef scorer(model):\n"
        "    return mdw.bind(model, mf.frame(ANCHOR, DTYPES), **MODEL_OPTIONS)\n"]
    if data_loader is not None:
        source.append("@pytest.fixture(scope='module')\ndef data():\n" + _call(
            "return mf.load_data", [repr(data_loader), f"expected={fingerprint(s.X, s.y)!r}",
                                    "y_name=Y_NAME", "base=__file__"]))
    source += [test + "\n" for test in writer.tests]
    text = "\n\n".join(part.rstrip("\n") for part in source) + "\n"
    ast.parse(text)  # the file is code we wrote from data: it must parse
    path.write_text(text, encoding="utf-8")
    return path


def _canon_label(value: Any) -> Any:
    return None if is_missing(value) else canon(value, what="a label")


def _trusted(model_loader: str, path: Path, trusted: Any) -> list[str]:
    if trusted is not None:
        return sorted(str(t) for t in trusted)
    model_path = Path(model_loader).expanduser()
    if not model_path.is_absolute():
        model_path = path.resolve().parent / model_path
    if not model_path.is_file():
        raise FileNotFoundError(f"no model file at {model_path} to read its types from; save "
                                "the model first or pass trusted=[...].")
    import skops.io as sio

    return sorted(sio.get_untrusted_types(file=model_path))
