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

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import traitlets

from ._findings_io import embedded, fingerprint, load_data, load_model, take, where
from ._findings_marking import _Marking
from ._findings_measure import (
    assert_finding,
    assert_raises,
    group_air,
    rows_metric,
)
from ._findings_measure import rows_summary as rows_summary  # re-exported
from ._findings_measure import score_row as score_row  # re-exported
from ._findings_record import KINDS, Finding
from ._findings_state import load_state, save_state
from ._findings_values import frame

__all__ = [
    "KINDS", "Finding", "Findings", "assert_finding", "assert_raises", "embedded",
    "fingerprint", "frame", "group_air", "load_data", "load_model", "load_state",
    "rows_metric", "save_state", "take", "where",
]


class Findings(_Marking, traitlets.HasTraits):
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
