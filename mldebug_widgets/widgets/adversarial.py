"""AdversarialSearch: grid and evolutionary searches, minimal flips and random attacks."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets

from ..analysis import Constraints, evolve_search, grid_search
from ..analysis.attack import random_attack
from ..analysis.flip import minimal_flip
from ..session import DebugSession
from . import _adversarial_views as views
from ._common import as_session
from ._editors import parse_label, same

MODES = ("grid", "maximise", "minimise", "flip", "disagree", "attack")
MODE_LABELS = {"grid": "grid search", "maximise": "maximise", "minimise": "minimise",
               "flip": "minimal flip", "disagree": "disagree with benchmark",
               "attack": "random attack"}
N_SHOWN = 10
ERROR, WARNING = views.ERROR, views.WARNING


class AdversarialSearch(w.VBox):
    """Search for rows that evoke strange or striking predictions, under constraints.

    The prototype is ``session.focus_row`` (or a row typed in). Modes: a grid search over
    1-4 features (its 2-D surface as a heat map; click a cell to send that row to the
    what-if editor), an evolutionary search that maximises or minimises the prediction or
    the disagreement with a benchmark model, the smallest change that flips the decision,
    and a random attack of independently drawn rows with injected missing values, unseen
    categories and extreme magnitudes. Immutable features (the schema's, e.g. SEX and AGE,
    plus any you lock) never change; ranges can be narrowed. Searches run in a thread with
    a progress bar and Stop, and never block the kernel; errors are shown in the status
    line, never raised.

    Parameters
    ----------
    session : DebugSession or model
        The bound model and data (or a model with X, y).
    X, y : optional
        Data to bind when a model is passed.
    benchmark : fitted model or DebugSession, default=None
        For "disagree"; default a regularised linear benchmark fitted on the session's data.
    random_state : int, default=0
        Seed of the random searches (reproducible runs).
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    prototype : object
        Index label of the prototype row (follows ``session.focus_row``).
    mode : str
        One of ``MODES``.
    progress : float
        Fraction done of the running search (0 to 1).
    running : bool
        Whether a search is running.
    result_ : object
        The last result (``GridResult``, ``SearchResult``, ``FlipResult`` or ``AttackResult``).
    found_ : pandas.DataFrame
        The found rows on display (full rows, best first).

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> panel = mdw.AdversarialSearch(model, data.X, data.y, schema=mdw.datasets.CREDIT_SCHEMA)
    >>> panel.features_select_.value = ("PAY_AMT1", "PAY_AMT2")
    >>> panel.run(wait=True)
    >>> panel.progress, len(panel.found_) > 0
    (1.0, True)
    """

    prototype = traitlets.Any(None, allow_none=True, help="index label of the prototype row")
    mode = traitlets.Enum(MODES, default_value="grid", help="what to search for")
    progress = traitlets.Float(0.0, help="fraction done of the running search")
    running = traitlets.Bool(False, help="whether a search is running")

    def __init__(self, session: Any, X: Any = None, y: Any = None, *, benchmark: Any = None,
                 random_state: int = 0, **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-adversarial")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        self.benchmark, self.random_state = benchmark, random_state
        self.result_: Any = None
        self.found_ = pd.DataFrame()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._run: dict = {}  # mode and prototype of the last run (the user may change both)
        self._build()
        self.session.observe(self._on_focus, "focus_row")
        self.session.observe(lambda _: self._clear(), "model_version")
        s = self.session
        self.prototype = s.focus_row if s.focus_row is not None else s.X.index[0]

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        s = self.session
        small = w.Layout(width="200px")
        self.row_box_ = w.Text(description="prototype", continuous_update=False,
                               layout=w.Layout(width="220px"))
        self.row_box_.observe(self._on_row_box, "value")
        self.mode_ = w.Dropdown(options=[(MODE_LABELS[m], m) for m in MODES], value="grid",
                                description="search")
        self.mode_.add_class("mld-mode")
        traitlets.link((self.mode_, "value"), (self, "mode"))
        names = list(s.output_names)
        self.output_ = w.Dropdown(options=[(str(c), c) for c in names], value=names[0],
                                  description="class", layout=w.Layout(
                                      display="" if len(names) > 1 else "none"))
        mutable = [f for f in s.features if s.schema[f].mutable]
        self.features_select_ = w.SelectMultiple(options=list(s.features),
                                                 value=tuple(mutable[:2]), rows=6,
                                                 description="features")
        self.features_select_.add_class("mld-search-features")
        self.budget_ = w.BoundedIntText(value=5_000, min=0, max=10_000_000, step=500,
                                        description="budget", layout=small)
        self.resolution_ = w.BoundedIntText(value=10, min=2, max=100, description="resolution",
                                            layout=small)
        self.margin_ = w.BoundedFloatText(value=0.1, min=0.0, max=10.0, step=0.05,
                                          description="margin", layout=small)
        self.missing_ = w.Checkbox(value=False, description="may set missing values",
                                   indent=False)
        self.constraints_editor = views.ConstraintsEditor(s)
        self.constraints_ = self.constraints_editor.widget
        self.run_button_ = w.Button(description="Run", icon="play", button_style="primary")
        self.run_button_.add_class("mld-run")
        self.run_button_.on_click(lambda _: self.run())
        self.stop_button_ = w.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button_.add_class("mld-stop")
        self.stop_button_.on_click(lambda _: self.stop())
        self.progress_ = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                         layout=w.Layout(width="240px"))
        self.progress_.add_class("mld-progress")
        traitlets.dlink((self, "progress"), (self.progress_, "value"))
        self.status_ = w.HTML()
        self.status_.add_class("mld-status")
        self.heatmap = views.SurfaceMap(self._on_cell)
        self.heatmap_ = self.heatmap.figure
        self.aggregate_ = w.Dropdown(options=["max", "mean", "min"], value="max",
                                     description="over others")
        self.aggregate_.observe(lambda _: self._draw_surface(), "value")
        self.found_html_ = w.HTML()
        self.found_html_.add_class("mld-found")
        self.found_select_ = w.Dropdown(options=[], description="row")
        self.send_button_ = w.Button(description="Send to what-if editor", icon="share")
        self.send_button_.add_class("mld-send")
        self.send_button_.on_click(lambda _: self.send_to_whatif(self.found_select_.value))
        self.histogram = views.PredictionHistogram()
        self.report_ = w.HTML()
        self.report_.add_class("mld-attack-report")
        self.results_ = w.VBox()
        self.children = [
            w.HBox([self.row_box_, self.mode_, self.output_]),
            w.HBox([self.features_select_, w.VBox([self.budget_, self.resolution_,
                                                   self.margin_, self.missing_])]),
            self.constraints_,
            w.HBox([self.run_button_, self.stop_button_, self.progress_, self.status_]),
            self.results_]

    # -- public actions ------------------------------------------------------------------
    def constraints(self) -> Constraints:
        """Return the constraints set in the panel (locks, ranges, margin, missing values).

        Raises
        ------
        ValueError
            If a range in the constraints editor is empty (min > max).
        """
        locked, ranges = self.constraints_editor.values()
        return Constraints.from_session(
            self.session, immutable=locked, ranges=ranges, margin=self.margin_.value,
            allow_missing=self.missing_.value)

    @property
    def locks_(self) -> dict[str, w.Checkbox]:
        """Feature → the constraints editor's lock checkbox."""
        return self.constraints_editor.locks

    @property
    def ranges_(self) -> dict[str, tuple[w.FloatText, w.FloatText]]:
        """Numeric feature → the constraints editor's (min, max) boxes."""
        return self.constraints_editor.ranges

    def run(self, *, wait: bool = False) -> None:
        """Start the chosen search in a thread (``wait=True``: return when it ends)."""
        if self.running:
            return
        self._cancel.clear()
        self._clear()
        self._run = {"mode": self.mode, "base": self.prototype}
        self.progress, self.running = 0.0, True
        self.run_button_.disabled, self.stop_button_.disabled = True, False
        self.status_.value = f"running {MODE_LABELS[self.mode]}…"
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()

    def stop(self) -> None:
        """Ask the running search to stop; it returns what it found so far."""
        if self.running:
            self._cancel.set()
            self.status_.value = "stopping…"

    def send_to_whatif(self, position: int | None) -> None:
        """Send found row ``position`` to the what-if editor.

        Sets ``session.focus_row`` to the prototype and proposes the found values as edits
        of it (``session.propose``): a what-if editor on the session loads them.
        """
        if self.result_ is None or position is None or not 0 <= position < len(self.found_):
            self.status_.value = "run a search and pick a found row first"
            return
        row = self.found_.iloc[int(position)]
        original = self.session.row(self._run["base"]).iloc[0]
        values = {f: row[f] for f in self.session.features if not same(row[f], original[f])}
        self._propose(values, f"{MODE_LABELS[self._run['mode']]} #{int(position)}")

    # -- running -------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            self.result_ = self._search()
            note = self._show()
            stopped = bool(getattr(self.result_, "cancelled", False))
            if not stopped:
                self.progress = 1.0
            self.status_.value = (f"{'stopped' if stopped else 'done'}: "
                                  f"{self.result_.n_queries:,} model queries{note}")
        except Exception as exc:  # shown, never lost in the thread
            self.status_.value = ERROR.format(html.escape(f"{type(exc).__name__}: {exc}"))
        finally:
            self.running = False
            self.run_button_.disabled, self.stop_button_.disabled = False, True

    def _search(self) -> Any:
        s, mode, base = self.session, self._run["mode"], self._run["base"]
        common = {"progress": self._report, "cancel": self._cancel}
        budget = int(self.budget_.value)
        if budget < 1:
            raise ValueError(f"the budget is {budget} model queries; set it to at least 1 "
                             "(e.g. 5000).")
        features = list(self.features_select_.value)
        output = self.output_.value if len(s.output_names) > 1 else None
        if mode == "attack":
            return random_attack(s, n_rows=budget, margin=self.margin_.value,
                                 features=features or None, output=output,
                                 random_state=self.random_state, **common)
        constraints = self.constraints()
        locked = [f for f in features or s.features if f in constraints.immutable]
        free = [f for f in features or s.features if f not in constraints.immutable]
        if not free:
            raise ValueError(f"every {'chosen ' if features else ''}feature is locked "
                             f"({', '.join(locked)}): untick one in the constraints editor, "
                             "or choose a feature that is not locked.")
        if mode == "grid":
            if not 1 <= len(features) <= 4:
                raise ValueError(f"a grid search takes 1 to 4 features; {len(features)} are "
                                 "chosen. Choose fewer (or use maximise / minimise).")
            if locked:
                raise ValueError(f"{', '.join(locked)} locked in the constraints editor: "
                                 "untick it there or choose another feature to grid.")
            return grid_search(s, base, features, resolution=self.resolution_.value,
                               constraints=constraints, output=output, budget=budget,
                               **common)
        if mode == "flip":
            return minimal_flip(s, [base], constraints=constraints, features=free,
                                budget=budget, random_state=self.random_state, **common)
        benchmark = self._benchmark() if mode == "disagree" else None
        return evolve_search(s, base, objective=mode, output=output, features=free,
                             benchmark=benchmark, constraints=constraints, budget=budget,
                             n_best=N_SHOWN, random_state=self.random_state, **common)

    def _report(self, fraction: float) -> None:
        self.progress = float(fraction)

    def _benchmark(self) -> Any:
        if self.benchmark is None:
            from ..analysis import benchmark
            self.benchmark = benchmark(self.session).estimator
        return self.benchmark

    # -- showing -------------------------------------------------------------------------
    def _show(self) -> str:
        """Show the result; return notes for the status line."""
        r, s, mode = self.result_, self.session, self._run["mode"]
        prototype = s.row(self._run["base"])
        try:
            out = list(s.output_names).index(self.output_.value)
            score = float(s.predict(prototype, check_finite=False)[0, out])
        except Exception:  # a model that fails on the prototype: the finds still show
            score = np.nan
        children: list = []
        note = ""
        extra = ["prediction"]
        if mode == "attack":
            self.found_ = r.frame.nlargest(N_SHOWN, "prediction")[s.features + ["prediction"]]
            self.histogram.draw(r.frame["prediction"].to_numpy(dtype=np.float64),
                                r.frame["patterns"].map(
                                    lambda p: any(x.endswith(" missing") for x in p)).to_numpy())
            self.report_.value = views.attack_report(r)
            children = [self.report_, self.histogram.figure]
        elif mode == "grid":
            self.found_ = r.best(N_SHOWN, maximise=self.aggregate_.value != "min")
            if len(r.grid) >= 2:
                self._draw_surface()
                children = [self.aggregate_, self.heatmap_]
        elif mode == "flip":
            table = r.to_frame().set_index("row")
            found = r.counterfactuals
            self.found_ = found.assign(**{c: table.loc[found.index, s_].to_numpy()
                                          for c, s_ in (("prediction", "new_score"),
                                                        ("distance", "distance"))})
            extra = ["prediction", "distance"]
            if not len(found):
                note = "; " + WARNING.format(f"no flip found ({table['status'].iloc[0]}): "
                                             "free more features or raise the budget")
        else:
            self.found_ = r.rows
            extra = [c for c in ("prediction", "benchmark", "objective", "distance")
                     if c in r.rows]
            if not len(r.rows):
                note = "; " + WARNING.format("no row with a finite prediction was found")
        shown = views.changed_features(self.found_, prototype)
        self.found_html_.value = views.found_table(self.found_, prototype, shown, extra,
                                                   {"prediction": score, "distance": 0.0})
        self.found_select_.options = [(str(i), i) for i in range(len(self.found_))]
        self.found_select_.value = 0 if len(self.found_) else None
        self.results_.children = [*children, self.found_html_,
                                  w.HBox([self.found_select_, self.send_button_])]
        return note + views.problems(self.result_)

    def _draw_surface(self) -> None:
        r = self.result_
        if self._run.get("mode") != "grid" or r is None or len(r.grid) < 2:
            return
        f1, f2 = list(r.grid)[:2]
        agg = self.aggregate_.value
        self.heatmap.draw(r.surface(f1, f2, agg=agg), np.asarray(r.grid[f1]),
                          np.asarray(r.grid[f2]), f1, f2,
                          f"{agg} prediction over the other searched features")

    def _on_cell(self, row: int, column: int) -> None:
        """Send the grid row at a heat-map cell (best over the other features) to what-if."""
        r = self.result_
        if r is None or self._run.get("mode") != "grid" or len(r.grid) < 2:
            return
        try:
            names = list(r.grid)
            cell = np.asarray(r.values[row, column], dtype=np.float64).ravel()
            if not np.isfinite(cell).any():
                self.status_.value = "no finite prediction in that cell"
                return
            pick = np.nanargmin if self.aggregate_.value == "min" else np.nanargmax
            rest = np.unravel_index(int(pick(cell)), r.values.shape[2:])
            values = {f: r.grid[f][i] for f, i in zip(names, (row, column, *rest),
                                                     strict=True)}
            self._propose(values, f"grid search cell ({row}, {column})")
        except Exception as exc:  # a front-end event: shown, not lost in the kernel log
            self.status_.value = ERROR.format(html.escape(f"{type(exc).__name__}: {exc}"))

    def _propose(self, values: dict, source: str) -> None:
        s, base = self.session, self._run["base"]
        s.focus_row = base  # the what-if editor loads the prototype ...
        s.propose(base, values, source=source)  # ... and applies the found values as edits
        changed = ", ".join(map(str, values)) or "no change"
        self.status_.value = html.escape(f"sent to the what-if editor: row {base} with "
                                         f"{changed}")

    def _on_focus(self, change: dict) -> None:
        if change["new"] is not None and not self.running:
            self.prototype = change["new"]

    @traitlets.observe("prototype")
    def _on_prototype(self, change: dict) -> None:
        self.row_box_.value = str(change["new"])
        self._clear()

    def _on_row_box(self, change: dict) -> None:
        label = parse_label(self.session.X.index, change["new"].strip())
        if label == self.prototype:
            return
        if self.running:
            self.status_.value = "a search is running: wait for it (or Stop) to change the row"
            self.row_box_.value = str(self.prototype)
            return
        try:
            self.session.position(label)
        except KeyError as exc:
            self.status_.value = ERROR.format(html.escape(str(exc.args[0])))
            return
        self.prototype = label

    def _clear(self) -> None:
        self.result_, self.found_ = None, pd.DataFrame()
        self.results_.children = []
