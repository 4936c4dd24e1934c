"""Findings: what the user marked while debugging, with the numbers measured then.

``session.findings`` collects edited rows, brushed cohorts, slices, adversarial finds and
per-group thresholds as small frozen records (kind, note, created-at and canonical JSON
data). Each ``add_*`` call is what a widget's "Mark as finding" button does. The collection
exports as tidy DataFrames (:meth:`Findings.to_frames`), a JSON state that re-opens the
session (:func:`save_state` / :func:`load_state`), a standalone HTML report
(:meth:`Findings.to_html`) and a pytest file of model assertions for CI
(:meth:`Findings.to_pytest`).

The helpers exported here besides (``assert_finding``, ``group_air``, ``load_model``,
``frame``, ...) are what the generated pytest files call: each number is re-measured with
the definition it was recorded with.

Wiring a widget's "Mark as finding" button is one call on ``session.findings``::

    session.findings.add_row(editor.row, editor.edited, note=text)          # what-if
    session.findings.add_cohort(session.selected_rows, note=text)           # residuals
    session.findings.add_slice(slicer.slices_, note=text, i=position)       # a found slice
    session.findings.add_thresholds(dict(zip(slicer.groups_, slicer.group_thresholds)),
                                    slicer.features, bins=slicer.bins, note=text,
                                    favourable=slicer.favourable, reference=slicer.reference)
    session.findings.add_find(panel.found_.iloc[i], panel.found_["prediction"].iloc[i],
                              note=text, source="maximise #0", base=prototype)  # a search
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import traitlets

from . import _findings_values as V
from ._findings_io import embedded, fingerprint, load_data, load_model, take, where
from ._findings_measure import (
    assert_finding,
    assert_raises,
    group_air,
    rows_metric,
    rows_summary,
    score_row,
)
from ._findings_record import KINDS, Finding, _as_mapping, _same, _typed
from ._findings_state import load_state, save_state
from ._findings_values import frame
from .analysis._fairness_groups import group_edges
from .analysis.fair_thresholds import ThresholdPlan
from .analysis.slices import SliceResult

__all__ = [
    "KINDS", "Finding", "Findings", "assert_finding", "assert_raises", "embedded",
    "fingerprint", "frame", "group_air", "load_data", "load_model", "load_state",
    "rows_metric", "save_state", "take", "where",
]


class Findings(traitlets.HasTraits):
    """The findings of a session, in the order they were marked.

    Built by the session (``session.findings``). ``records`` is a trait: observe it to
    follow additions and removals (``session.findings.observe(callback, "records")``).

    Parameters
    ----------
    session : DebugSession
        The session whose model and data the findings are measured on.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    >>> s = bind(lambda df: df["a"] * 2.0, X, [0.0, 2.0, 4.0, 9.0], task="regression")
    >>> f = s.findings.add_row(1, {"a": 10.0}, note="linear beyond the range")
    >>> f.data["prediction"], s.findings.add_cohort([3]).data["value"]
    ((20.0,), 3.0)
    >>> len(s.findings), [x.kind for x in s.findings]
    (2, ['row', 'cohort'])
    """

    records = traitlets.Tuple(help="the findings, oldest first")

    def __init__(self, session: Any):
        super().__init__()
        self.session = session

    # -- container ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.records)

    def __getitem__(self, i: int) -> Finding:
        return self.records[i]

    def __repr__(self) -> str:
        counts = {k: sum(f.kind == k for f in self.records) for k in KINDS}
        shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        return f"Findings({shown or 'none'})"

    def remove(self, i: int) -> Finding:
        """Remove and return finding ``i`` (its position, as in :meth:`to_frames`).

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), [2.0],
        ...          task="regression")
        >>> s.findings.add_cohort([0], note="x").note, s.findings.remove(0).note, len(s.findings)
        ('x', 'x', 0)
        """
        if not isinstance(i, int | np.integer) or not -len(self) <= i < len(self):
            raise IndexError(f"finding {i!r} does not exist: there are {len(self)} findings.")
        records = list(self.records)
        removed = records.pop(int(i))
        self.records = tuple(records)
        return removed

    def clear(self) -> None:
        """Remove every finding.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), [2.0],
        ...          task="regression")
        >>> _ = s.findings.add_cohort([0]); s.findings.clear(); len(s.findings)
        0
        """
        self.records = ()

    def add(self, finding: Finding) -> Finding:
        """Append a ready-made :class:`Finding` (e.g. one read back from a state file).

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), task="regression")
        >>> f = Finding("slice", "seen elsewhere", "2024-01-01T00:00:00+00:00", {"size": 1})
        >>> s.findings.add(f) is s.findings[0]
        True
        """
        if not isinstance(finding, Finding):
            raise TypeError(f"add() takes a Finding; got {type(finding).__name__}. Use "
                            "add_row, add_cohort, add_slice, add_find or add_thresholds.")
        self.records = (*self.records, finding)
        return finding

    def _new(self, kind: str, note: str, data: dict) -> Finding:
        data["model_version"] = int(self.session.model_version)
        data["output_names"] = [str(n) for n in self.session.output_names]
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return self.add(Finding(kind, note, created, data))

    # -- marking ------------------------------------------------------------------------------
    def add_row(self, label: Any, values: Mapping | pd.DataFrame | None = None,
                note: str = "") -> Finding:
        """Mark a data row, as edited: the base row, the changed values, the prediction.

        Parameters
        ----------
        label : object
            Index label of the base row.
        values : dict or one-row DataFrame, default=None
            The changed values ``{feature: value}`` (missing: None or NaN), or the whole
            edited row (the what-if editor's ``edited``): changes are found by comparison.
        note : str, default=""
            The user's words.

        Returns
        -------
        Finding
            ``data``: ``base``, ``changed`` and their ``original`` values, ``row`` (every
            value), ``prediction`` (one score per output; None where NaN), ``error`` (the
            model's message if it raised), ``base_prediction`` and ``y`` (the base row's).
        """
        s = self.session
        position = self._position(label)
        base = V.row_values(s.X, position)
        changed = self._changes(base, values)
        row = {**base, **changed}
        data = {"base": V.canon(label, what="the row label"), "changed": changed,
                "original": {f: base[f] for f in changed}, "row": row}
        data.update(self._score(row, label))
        data["base_prediction"] = [float(v) for v in s.predictions()[position]]
        data["y"] = None if s.y is None else V.canon(s.y.iloc[position], what="the label")
        return self._new("row", note, data)

    def add_find(self, row_values: Mapping | pd.Series | pd.DataFrame, prediction: Any = None,
                 note: str = "", source: str = "", *, base: Any = None) -> Finding:
        """Mark a row found by a search (or typed in): its values and its prediction.

        Parameters
        ----------
        row_values : dict, Series or one-row DataFrame
            The row (extra entries such as ``prediction`` or ``distance`` are ignored).
        prediction : float or list, default=None
            The prediction the search reported (kept as ``reported_prediction``; the
            finding is re-scored by the session, which is what the tests check).
        note, source : str
            The user's words, and where the row comes from (e.g. "maximise #0").
        base : object, default=None
            Index label of the prototype the search changed; values the row lacks are
            taken from it. Without it every feature must be given.

        Returns
        -------
        Finding
            ``data``: ``row``, ``base``, ``changed`` and ``original`` (from the base), ``source``,
            ``reported_prediction``, ``prediction`` (None where the model gave NaN),
            ``error`` (the model's message, if it raised on the row) and
            ``base_prediction`` (the base row's, or None).

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 2.0, pd.DataFrame({"a": [0.0, 1.0]}), task="regression")
        >>> s.findings.add_find({"a": 50.0}, 100.0, source="maximise #0").data["prediction"]
        (100.0,)
        """
        s = self.session
        given = _as_mapping(row_values)
        base_row = V.row_values(s.X, self._position(base)) if base is not None else None
        lacking = [f for f in s.features if f not in given]
        if lacking and base_row is None:
            raise ValueError(f"the row lacks {lacking[:5]}{'...' if len(lacking) > 5 else ''}; "
                             "pass every feature, or base=<label of the row the search "
                             "started from>.")
        row = {f: _typed(V.canon(given[f], what=f"the value of {f}"), s.X[f])
               if f in given else base_row[f] for f in s.features}
        changed = {} if base_row is None else \
            {f: v for f, v in row.items() if not _same(v, base_row[f])}
        data = {"row": row, "base": None if base is None else V.canon(base), "changed": changed,
                "original": {f: base_row[f] for f in changed}, "source": str(source),
                "reported_prediction": V.canon(prediction)}
        data.update(self._score(row, base))
        data["base_prediction"] = None if base is None else \
            [float(v) for v in s.predictions()[self._position(base)]]
        return self._new("find", note, data)

    def add_cohort(self, labels: Sequence, note: str = "", *, metric: str = "auto") -> Finding:
        """Mark a set of rows (a brushed cohort) with its error then.

        Parameters
        ----------
        labels : sequence
            Index labels (e.g. ``session.selected_rows``).
        note : str, default=""
            The user's words.
        metric : str, default="auto"
            The error: "logloss", "misclassification", "absolute", "squared" or
            "mean_prediction" (see :func:`resolve_metric`).

        Returns
        -------
        Finding
            ``data``: ``labels``, ``size``, ``metric``, ``value`` (the cohort's mean),
            ``overall`` (all rows), ``error_rate`` (classifiers), ``mean_prediction``,
            ``mean_label``.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.6]})
        >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 1, 0], task="binary")
        >>> d = s.findings.add_cohort([1, 2], metric="misclassification").data
        >>> d["size"], d["value"], d["overall"]
        (2, 1.0, 0.6666666666666666)
        """
        labels = list(dict.fromkeys(V.canon(list(labels), what="a row label")))
        if not labels:
            raise ValueError("the cohort is empty; select rows first (brush the residual "
                             "plot, or pass index labels).")
        positions = self.session.X.index.get_indexer(labels)
        if (positions < 0).any():
            raise ValueError(f"{int((positions < 0).sum())} label(s) are not rows of the bound "
                             f"data, e.g. {labels[int(np.argmin(positions))]!r}.")
        data = {"labels": labels, "size": len(labels)}
        data.update(self._rows_metrics(positions, metric, slices=False))
        return self._new("cohort", note, data)

    def add_slice(self, predicates: Any, note: str = "", *, i: int = 0,
                  metric: str = "auto") -> Finding:
        """Mark a slice (conjunction of predicates) with its size and error then.

        Parameters
        ----------
        predicates : list of (feature, op, value), str or SliceResult
            ``[("EDUCATION", "==", 3), ("AGE", ">=", 50)]`` (ops ``==, !=, <, <=, >, >=,
            in, not in, is missing, is not missing``), a rule text as ``find_slices``
            writes it (``"EDUCATION = 3 & AGE ∈ [50, 79]"``, numbers rounded), or a
            ``SliceResult`` with ``i`` (exact).
        note : str, default=""
            The user's words.
        i : int, default=0
            The slice of a ``SliceResult``.
        metric : str, default="auto"
            The error (``"auto"``: the error :func:`find_slices` uses).

        Returns
        -------
        Finding
            ``data``: ``predicates``, ``rule``, ``size``, ``metric``, ``value``,
            ``overall``, ``error_rate``, ``mean_prediction``, ``mean_label``.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 0.0, pd.DataFrame({"a": [0.0, 1.0, 2.0]}),
        ...          [0.0, 1.0, 3.0], task="regression")
        >>> d = s.findings.add_slice([("a", ">=", 1.0)]).data
        >>> d["rule"], d["size"], d["metric"], d["value"]
        ('a >= 1.0', 2, 'squared', 5.0)
        """
        X = self.session.X
        if isinstance(predicates, SliceResult):
            predicates = V.slice_result_predicates(predicates, i, X)
        elif isinstance(predicates, str):
            predicates = V.parse_rule(predicates, X)
        else:
            predicates = V.check_predicates(predicates, X)
        positions = np.flatnonzero(V.predicate_mask(X, predicates))
        if not len(positions):
            raise ValueError(f"the slice {V.rule_text(predicates)!r} holds no row of the "
                             "bound data; check the values and operators.")
        data = {"predicates": predicates, "rule": V.rule_text(predicates),
                "size": int(len(positions))}
        data.update(self._rows_metrics(positions, metric, slices=True))
        return self._new("slice", note, data)

    def add_thresholds(self, thresholds: Mapping | ThresholdPlan, group_columns: Any,
                       bins: Mapping | None = None, note: str = "", *,
                       favourable: Literal["negative", "positive"] = "negative",
                       reference: Any = None) -> Finding:
        """Mark per-group thresholds with the group metrics they give.

        Parameters
        ----------
        thresholds : mapping or ThresholdPlan
            Group (a tuple for several columns) -> threshold, one per group.
        group_columns : str or list of str
            The sensitive features the groups come from.
        bins : mapping, default=None
            Bin edges or quantile counts of numeric group columns, as for the fairness
            slicer (entries for other columns are ignored); the edges used are recorded.
        note : str, default=""
            The user's words.
        favourable : {"negative", "positive"}, default="negative"
            The favourable prediction for the adverse impact ratio.
        reference : object, default=None
            The reference group (default: the largest).

        Returns
        -------
        Finding
            ``data``: ``thresholds`` (pairs), ``group_columns``, ``bins``, ``favourable``,
            ``reference``, ``groups`` (per group: count, selection and favourable rates, air,
            accuracy, tpr, fpr), ``worst_air``, ``accuracy``, ``objective``.

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> X = pd.DataFrame({"p": [0.9, 0.2, 0.7, 0.4], "g": ["a", "a", "b", "b"]})
        >>> s = bind(lambda df: df["p"].to_numpy(), X, [1, 0, 0, 1], task="binary",
        ...          sensitive_features="g")
        >>> d = s.findings.add_thresholds({"a": 0.5, "b": 0.3}, "g", reference="a").data
        >>> [(g["group"], g["air"]) for g in d["groups"]], d["worst_air"]
        ([('a', 1.0), ('b', 0.0)], 0.0)
        """
        s = self.session
        objective = thresholds.objective if isinstance(thresholds, ThresholdPlan) else None
        if isinstance(thresholds, ThresholdPlan):
            thresholds = thresholds.thresholds
        if not isinstance(thresholds, Mapping) or not thresholds:
            raise TypeError("thresholds must be a non-empty mapping group -> threshold, e.g. "
                            "dict(zip(slicer.groups_, slicer.group_thresholds)).")
        columns = [group_columns] if isinstance(group_columns, str) else list(group_columns)
        wanted = {k: v for k, v in (bins or {}).items() if k in columns} or None
        edges = group_edges(s, columns, bins=wanted)
        bins_used = {c: [float(x) for x in e] for c, e in edges.items() if e is not None}
        pairs = [(V.canon(g, what="a group"), float(t)) for g, t in thresholds.items()]
        table = group_air(s, pairs, columns, bins=bins_used, favourable=favourable,
                          reference=reference)
        groups = [{c: V.canon(r[c]) for c in table.columns} for _, r in table.iterrows()]
        data = {"thresholds": pairs, "group_columns": columns, "bins": bins_used,
                "favourable": favourable, "reference": table.attrs["reference"],
                "groups": groups, "worst_air": table.attrs["worst_air"],
                "accuracy": table.attrs["accuracy"], "objective": objective}
        return self._new("thresholds", note, data)

    # -- measuring ----------------------------------------------------------------------------
    def _position(self, label: Any) -> int:
        try:
            return self.session.position(label)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None

    def _changes(self, base: dict, values: Any) -> dict:
        if values is None:
            return {}
        given = _as_mapping(values)
        unknown = [f for f in given if f not in base]
        if unknown:
            raise ValueError(f"{unknown} are not features; features are {list(base)}.")
        canon = {f: _typed(V.canon(v, what=f"the value of {f}"), self.session.X[f])
                 for f, v in given.items()}
        return {f: v for f, v in canon.items() if not _same(v, base[f])}

    def _score(self, row: dict, label: Any) -> dict:
        return score_row(self.session, row, label)

    def _rows_metrics(self, positions: np.ndarray, metric: str, *, slices: bool) -> dict:
        return rows_summary(self.session, positions, metric, slices=slices)

    # -- exports ------------------------------------------------------------------------------
    def to_frames(self) -> dict[str, pd.DataFrame]:
        """One tidy DataFrame per kind (every kind present, possibly empty).

        Rows are indexed by ``finding`` (the position in the collection). ``row`` and
        ``find``: the label, the changes as text, the first output's prediction then;
        ``cohort`` and ``slice``: size, metric and value against all rows; ``thresholds``:
        one row per (finding, group).

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 3.0],
        ...          task="regression")
        >>> _ = s.findings.add_slice([("a", ">", 1.5)], "worse")
        >>> s.findings.to_frames()["slice"][["rule", "size", "value"]].to_dict("records")
        [{'rule': 'a > 1.5', 'size': 1, 'value': 1.0}]
        """
        from ._findings_report import frames

        return frames(self.records)

    def to_html(self, path: str | Path | None = None) -> str:
        """Write a standalone HTML report: the session, each finding, its numbers and plots.

        No external resources: inline CSS and hand-drawn inline SVG (residual histogram,
        cohort overlays, slice and group bar charts). Returns the HTML; writes it to
        ``path`` if given (its folder must exist).

        Examples
        --------
        >>> import pandas as pd
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 3.0],
        ...          task="regression")
        >>> _ = s.findings.add_cohort([1], note="too low")
        >>> html = s.findings.to_html()
        >>> html.startswith("<!DOCTYPE html>"), "too low" in html, "http" in html
        (True, True, False)
        """
        from ._findings_report import html_report, write_text

        text = html_report(self)
        if path is not None:
            write_text(path, text)
        return text

    def to_pytest(self, path: str | Path, model_loader: str, *, data_loader: str | None = None,
                  mode: Literal["holds", "fixed"] = "holds", abs_tol: float = 0.05,
                  rel_tol: float = 0.05, max_embedded_rows: int = 2_000,
                  trusted: Sequence[str] | None = None) -> Path:
        """Write a pytest file that re-checks every finding against a model (CI for a model).

        Semantics: with ``mode="holds"`` (default) each test passes while its finding still
        holds -- the edited row or find still scores within tolerance of the recorded
        prediction (or the model still raises on it), the cohort or slice error and each
        group's adverse impact ratio at the recorded thresholds are still within tolerance
        -- and fails once the model changes it, e.g. when the bug is fixed: then delete the
        test or regenerate with ``mode="fixed"``, whose tests pass only while the finding
        does NOT hold (cohort and slice errors must be lower than recorded). Tolerance:
        ``max(abs_tol, rel_tol * |recorded|)``.

        Parameters
        ----------
        path : str or Path
            The file to write (``test_*.py``; its folder must exist).
        model_loader : str
            ``"package.module:function"`` (called with no argument) or the path of a
            ``.skops`` / ``.joblib`` / ``.pkl`` file (relative to the test file). No other
            code is accepted: the file is written from data with ``repr``.
        data_loader : str, default=None
            ``"package.module:function"`` returning ``(X, y)``, the data the findings were
            recorded on (checked by fingerprint). Without it, the rows each test needs are
            embedded as literals, at most ``max_embedded_rows`` per finding.
        mode : {"holds", "fixed"}, default="holds"
            See above.
        abs_tol, rel_tol : float, default=0.05
            The tolerance.
        max_embedded_rows : int, default=2000
            Largest number of rows embedded for one finding.
        trusted : list of str, default=None
            Types a ``.skops`` model file may hold; default: those in the file now.

        Returns
        -------
        Path
            The file written.

        Examples
        --------
        >>> import pandas as pd, pathlib, tempfile
        >>> from mldebug_widgets import bind
        >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 3.0],
        ...          task="regression")
        >>> _ = s.findings.add_cohort([1], note="too low")
        >>> path = s.findings.to_pytest(pathlib.Path(tempfile.mkdtemp()) / "test_model.py",
        ...                             "mypackage.models:load")
        >>> "def test_00_cohort_too_low(model):" in path.read_text()
        True
        """
        from ._findings_pytest import write_pytest

        return write_pytest(self, path, model_loader, data_loader=data_loader, mode=mode,
                            abs_tol=abs_tol, rel_tol=rel_tol,
                            max_embedded_rows=max_embedded_rows, trusted=trusted)
