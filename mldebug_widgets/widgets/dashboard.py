"""Dashboard: the four widgets on one session, under a summary header."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..findings import load_state, save_state
from ..session import DebugSession
from ._common import as_session
from ._findings_bar import FindingsBar
from ._summary import SessionSummary
from .adversarial import AdversarialSearch
from .fairness import FairnessSlicer
from .residuals import ResidualExplorer
from .whatif import WhatIfEditor

#: why a panel is left out of an aggregates-only dashboard: each would send rows to the page
SHARING = {
    "explorer": "The residual explorer is left out when sharing aggregates only: it draws a "
                "sample of rows as points and lists rows (selected, worst, benchmark "
                "disagreements).",
    "editor": "The what-if editor is left out when sharing aggregates only: it shows and "
              "edits one row.",
    "search": "The adversarial search is left out when sharing aggregates only: it shows its "
              "prototype and the rows it finds.",
}
TITLES = {"explorer": "Residuals", "editor": "What if?", "slicer": "Fairness",
          "search": "Adversarial search"}


class Dashboard(w.VBox):
    """The residual explorer, what-if editor, fairness slicer and adversarial search in one view.

    All four share one session, so they are linked through its traits: a brush on the
    residual plot (or a worst slice picked in the slicer) sets ``session.selected_rows``,
    which every panel shows; picking a row anywhere sets ``session.focus_row``, which the
    what-if editor loads and the adversarial search takes as its prototype; "Send to what-if
    editor" in the search proposes its find (``session.propose``) and the editor loads it.
    A header (:class:`SessionSummary`) names the model and data, shows the headline metrics,
    the selection and the focused row, and what the tools flagged so far.

    The panels are stacked, never hidden behind tabs; on a screen wider than two panels
    they sit two by two.

    Parameters
    ----------
    session : DebugSession or model
        A session from :func:`mldebug_widgets.bind`, or a model (then pass ``X`` and ``y``).
    X, y : optional
        Data to bind when a model is passed.
    bins : dict, default=None
        Bin edges for numeric sensitive features in the fairness slicer, e.g.
        ``{"AGE": [0, 30, 200]}``.
    aggregates_only : bool, default=False
        For sharing: show no raw rows. Shown are the header (model, task, data size,
        metrics, the number of selected rows, flagged group ratios, the worst slice and
        the selected cohort's mean residual when it has at least 10 rows) and the fairness
        slicer (group metrics, intervals and ratios, its two charts, thresholds and their
        optimiser, remediation with the before/after table, and the worst slices as
        predicates with their size and error). Left out, and never built (a built widget
        sends its state to the page even when hidden): the residual explorer (it draws
        sampled rows and lists rows), the what-if editor and the adversarial search; the
        header shows no focused row.
    benchmark : fitted model or DebugSession, default=None
        The adversarial search's benchmark for "disagree with benchmark" (default: a
        regularised linear model fitted on the session's data).
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    session : DebugSession
        The shared session.
    header : SessionSummary
        The summary header.
    explorer : ResidualExplorer or None
        None without labels or with ``aggregates_only``.
    editor : WhatIfEditor or None
        None with ``aggregates_only``.
    slicer : FairnessSlicer or None
        None without labels or sensitive features (the layout says why).
    search : AdversarialSearch or None
        None with ``aggregates_only``.
    notes : dict
        Panel name -> why it is not shown (for the panels that are None).
    sections_ : dict
        Panel name -> its section (a title and the panel or the note).
    findings_bar : FindingsBar or None
        Mark what a panel shows as a finding; save the state, an HTML report and a pytest
        file (None with ``aggregates_only``).

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> dash = mdw.Dashboard(model, data.X, data.y, sensitive_features=["SEX"])
    >>> dash.explorer.session is dash.editor.session is dash.slicer.session is dash.session
    True
    >>> dash.explorer.select_region(x=(0.0, 1.0), y=(2.0, 50.0))
    >>> len(dash.session.selected_rows) > 0
    True
    >>> mdw.Dashboard(model, data.X, data.y).notes["slicer"][:25]
    'No sensitive features are'
    """

    def __init__(self, session: Any, X: Any = None, y: Any = None, *,
                 bins: dict | None = None, aggregates_only: bool = False,
                 benchmark: Any = None, **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-dashboard")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        self.aggregates_only = bool(aggregates_only)
        s = self.session
        self.notes: dict[str, str] = {}
        no_labels = "needs the true labels: bind the model with y, e.g. mdw.bind(model, X, y)."
        self.explorer: ResidualExplorer | None = None
        if self.aggregates_only:
            self.notes["explorer"] = SHARING["explorer"]
        elif s.y is None:
            self.notes["explorer"] = f"The residual explorer {no_labels}"
        else:
            self.explorer = ResidualExplorer(s)
        self.editor: WhatIfEditor | None = None
        if self.aggregates_only:
            self.notes["editor"] = SHARING["editor"]
        else:
            self.editor = WhatIfEditor(s)
        self.slicer: FairnessSlicer | None = None
        if s.y is None:
            self.notes["slicer"] = f"The fairness slicer {no_labels}"
        elif s.sensitive_features is None:
            self.notes["slicer"] = (
                "No sensitive features are bound, so there are no groups to compare: bind "
                "them with mdw.bind(model, X, y, sensitive_features=['SEX', 'AGE']) (columns "
                "of X, or values aligned with it) to open the fairness slicer.")
        else:
            self.slicer = FairnessSlicer(s, bins=bins)
        self.search: AdversarialSearch | None = None
        if self.aggregates_only:
            self.notes["search"] = SHARING["search"]
        else:
            self.search = AdversarialSearch(s, benchmark=benchmark)
        self.header = SessionSummary(s, slicer=self.slicer, search=self.search,
                                     aggregates_only=self.aggregates_only)
        self.bins = bins
        self.findings_bar: FindingsBar | None = None if self.aggregates_only else \
            FindingsBar(self, state=self.store_state)
        self.sections_ = {name: self._section(name) for name in TITLES}
        shown = [self.sections_[n] for n in TITLES if n not in self.notes]
        left_out = [self.sections_[n] for n in TITLES if n in self.notes]
        # as many columns of >= 780 px as fit: one on a laptop, two on a wide screen
        columns = "repeat(auto-fit, minmax(min(780px, 100%), 1fr))"
        self.panels_ = w.GridBox(shown, layout=w.Layout(
            width="100%", grid_template_columns=columns, grid_gap="12px 24px"))
        bar = [] if self.findings_bar is None else [self.findings_bar]
        self.children = [self.header, *bar, *left_out, self.panels_]

    # -- state -----------------------------------------------------------------------------
    def store_state(self) -> dict:
        """Keep the panels' settings in ``session.widget_state["dashboard"]`` (JSON-able)."""
        state: dict[str, Any] = {"bins": self.bins, "aggregates_only": self.aggregates_only}
        if self.slicer is not None:
            sl = self.slicer
            state["slicer"] = {
                "features": list(sl.features), "metric": sl.metric,
                "reference": list(sl.reference) if isinstance(sl.reference, tuple)
                else sl.reference,
                "threshold": sl.threshold, "group_thresholds": list(sl.group_thresholds)}
        if self.search is not None:
            se = self.search
            state["search"] = {"mode": se.mode, "features": list(se.features_select_.value),
                               "budget": se.budget_.value, "resolution": se.resolution_.value}
        self.session.widget_state["dashboard"] = state
        return state

    def save(self, path: Any) -> None:
        """Save the session's state and the panels' settings as JSON (see :meth:`load`)."""
        self.store_state()
        save_state(self.session, path)

    @classmethod
    def load(cls, path: Any, model: Any, X: Any, y: Any = None, **kwargs: Any) -> Dashboard:
        """Re-open a dashboard saved with :meth:`save` on the same model and data.

        ``kwargs`` go to :func:`mldebug_widgets.findings.load_state` (e.g.
        ``sensitive_features``, ``allow_model_change``).

        Examples
        --------
        >>> import tempfile, pathlib, mldebug_widgets as mdw
        >>> data = mdw.datasets.load_credit(n_rows=2_000)
        >>> model = mdw.datasets.demo_model(data, kind="logistic")
        >>> dash = mdw.Dashboard(model, data.X, data.y, sensitive_features=["SEX"])
        >>> dash.slicer.threshold = 0.3
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.json"
        >>> dash.save(path)
        >>> mdw.Dashboard.load(path, model, data.X, data.y).slicer.threshold
        0.3
        """
        session = load_state(path, model, X, y, **kwargs)
        state = session.widget_state.get("dashboard", {})
        dash = cls(session, bins=state.get("bins"),
                   aggregates_only=state.get("aggregates_only", False))
        dash.apply_state()
        return dash

    def apply_state(self) -> None:
        """Set the panels as :meth:`store_state` kept them in ``session.widget_state``.

        Nothing happens when the session holds no dashboard state (a new session).

        Examples
        --------
        >>> import mldebug_widgets as mdw
        >>> data = mdw.datasets.load_credit(n_rows=2_000)
        >>> model = mdw.datasets.demo_model(data, kind="logistic")
        >>> dash = mdw.Dashboard(model, data.X, data.y, sensitive_features=["SEX"])
        >>> dash.slicer.threshold = 0.3
        >>> _ = dash.store_state()
        >>> again = mdw.Dashboard(dash.session)
        >>> again.slicer.threshold
        0.5
        >>> again.apply_state()
        >>> again.slicer.threshold
        0.3
        """
        state = self.session.widget_state.get("dashboard", {})
        slicer, saved = self.slicer, state.get("slicer")
        if slicer is not None and saved:
            slicer.features_select_.value = tuple(saved["features"])
            reference = saved["reference"]
            slicer.reference = tuple(reference) if isinstance(reference, list) else reference
            slicer.metric = saved["metric"]
            slicer.threshold = saved["threshold"]
            for slider, value in zip(slicer.group_sliders_.children,
                                     saved["group_thresholds"], strict=False):
                slider.value = value
        search, saved = self.search, state.get("search")
        if search is not None and saved:
            search.mode = saved["mode"]
            search.features_select_.value = tuple(saved["features"])
            search.budget_.value, search.resolution_.value = saved["budget"], saved["resolution"]

    @property
    def panels(self) -> dict[str, w.Widget]:
        """The panels on display: name (``explorer``, ``editor``, ``slicer``, ``search``) -> it."""
        return {n: getattr(self, n) for n in TITLES if getattr(self, n) is not None}

    def _section(self, name: str) -> w.VBox:
        panel = getattr(self, name)
        if panel is None:
            note = w.HTML(f"<div style='color:#555'><b>{TITLES[name]}:</b> "
                          f"{html.escape(self.notes[name])}</div>")
            note.add_class("mld-unavailable")
            note.add_class(f"mld-unavailable-{name}")
            return w.VBox([note])
        title = w.HTML(f"<h3 style='margin:8px 0 4px'>{TITLES[name]}</h3>")
        section = w.VBox([title, panel], layout=w.Layout(min_width="0"))
        section.add_class("mld-section")
        return section
