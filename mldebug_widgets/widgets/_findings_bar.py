"""The dashboard's findings bar: mark what the panels show, export the findings."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..findings import save_state

KINDS = ("row", "cohort", "slice", "thresholds", "find")
EMBED_ROWS = 10_000  # beyond this many rows a test file needs a data loader


class FindingsBar(w.VBox):
    """Mark the current row, cohort, slice, thresholds or search find; export them all.

    Each *Mark* button records what one panel shows now in ``session.findings`` (with the
    note typed beside it). *Save* writes ``<name>.json`` (the session's state: re-open it
    with :meth:`Dashboard.load`), ``<name>.html`` (a standalone report) and, when a model
    loader is given (``package.module:function`` or a ``.skops`` path),
    ``test_<name>.py``: pytest assertions that re-check every finding against a model (the
    rows they need are embedded up to 10,000; give a data loader for more).

    Parameters
    ----------
    dashboard : Dashboard
        The dashboard whose panels are marked (any of them may be None).
    state : callable, optional
        Called before saving, to store the panels' state in ``session.widget_state``.
    """

    def __init__(self, dashboard: Any, state: Any = None):
        super().__init__()
        self.add_class("mld-findings")
        self.dashboard, self._state = dashboard, state
        self.session = dashboard.session
        self.note_ = w.Text(placeholder="note for the next mark", layout=w.Layout(width="260px"))
        self.buttons_ = {}
        for kind in KINDS:
            button = w.Button(description=f"Mark {kind}", layout=w.Layout(width="130px"))
            button.add_class(f"mld-mark-{kind}")
            button.on_click(lambda _, k=kind: self._guarded(lambda: self.mark(k)))
            self.buttons_[kind] = button
        self.name_ = w.Text(value="findings", description="save as",
                            layout=w.Layout(width="240px"))
        self.loader_ = w.Text(placeholder="model loader for tests: pkg.module:load or model.skops",
                              layout=w.Layout(width="360px"))
        self.data_loader_ = w.Text(placeholder="data loader: pkg.module:load (returns X, y)",
                                   layout=w.Layout(width="300px"))
        self.save_button_ = w.Button(description="Save", icon="save")
        self.save_button_.add_class("mld-save-findings")
        self.save_button_.on_click(lambda _: self._guarded(self.save))
        self.status_ = w.HTML()
        self.status_.add_class("mld-findings-status")
        self.children = [
            w.HBox([w.HTML("<b>Findings</b>"), self.note_, *self.buttons_.values()],
                   layout=w.Layout(flex_flow="row wrap")),
            w.HBox([self.name_, self.loader_, self.data_loader_, self.save_button_],
                   layout=w.Layout(flex_flow="row wrap")), self.status_]
        self.session.findings.observe(lambda _: self._count(), "records")
        self._count()

    def mark(self, kind: str) -> None:
        """Record what the panel of ``kind`` shows now (one of ``KINDS``)."""
        d, findings, note = self.dashboard, self.session.findings, self.note_.value
        if kind == "row":
            if d.editor is None:
                raise ValueError("no what-if editor in this dashboard.")
            findings.add_row(d.editor.row, d.editor.edited, note=note)
        elif kind == "cohort":
            if not self.session.selected_rows:
                raise ValueError("select rows first (brush the residual plot, pick a slice).")
            findings.add_cohort(self.session.selected_rows, note=note)
        elif kind == "slice":
            slicer = d.slicer
            if slicer is None or slicer.slices_ is None or slicer.slices_list_.value is None:
                raise ValueError("find the worst slices and pick one first.")
            findings.add_slice(slicer.slices_, note=note, i=slicer.slices_list_.value)
        elif kind == "thresholds":
            slicer = d.slicer
            if slicer is None or not slicer.binary:
                raise ValueError("per-group thresholds need the fairness slicer on a binary "
                                 "classifier.")
            findings.add_thresholds(dict(zip(slicer.groups_, slicer.group_thresholds,
                                             strict=True)), list(slicer.features),
                                    bins=slicer._bins(), note=note,
                                    favourable=slicer.favourable, reference=slicer.reference)
        elif kind == "find":
            search = d.search
            if search is None or search.found_.empty:
                raise ValueError("run an adversarial search first.")
            position = search.found_select_.value or 0
            row = search.found_.iloc[position]
            base = None if search.mode == "attack" else search.prototype
            findings.add_find(row, row.get("prediction"), note=note, source=search.mode,
                              base=base)
        else:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
        self.note_.value = ""

    def save(self, directory: str | Path = ".") -> list[Path]:
        """Write the JSON state, the HTML report and (with a loader) the pytest file."""
        name = self.name_.value.strip() or "findings"
        if any(c in name for c in "/\\") or name.startswith("."):
            raise ValueError(f"name {name!r} must be a plain file name (no folders).")
        folder = Path(directory)
        if self._state is not None:
            self._state()
        paths = [folder / f"{name}.json", folder / f"{name}.html"]
        save_state(self.session, paths[0])
        self.session.findings.to_html(paths[1])
        loader = self.loader_.value.strip()
        if loader and len(self.session.findings):
            paths.append(folder / f"test_{name}.py")
            data_loader = self.data_loader_.value.strip() or None
            self.session.findings.to_pytest(  # without a data loader the rows are embedded
                paths[-1], loader, data_loader=data_loader,
                max_embedded_rows=max(2_000, min(len(self.session.X), EMBED_ROWS)))
        self.status_.value = "saved " + ", ".join(html.escape(str(p)) for p in paths)
        return paths

    def _count(self) -> None:
        counts = {}
        for finding in self.session.findings:
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        text = ", ".join(f"{n} {k}" for k, n in counts.items()) or "none yet"
        self.status_.value = f"findings: {html.escape(text)}"

    def _guarded(self, action: Any) -> None:
        try:
            action()
        except (ValueError, TypeError, KeyError, OSError) as exc:
            self.status_.value = (f"<span style='color:#b00020'>"
                                  f"{html.escape(str(exc))}</span>")
