"""WhatIfEditor: edit any row, see its prediction and its ICE curves change at once.

The panel's state, public actions, the one-predict-call recompute and the session's events
live here; its widgets and their handlers are in ``_whatif_controls``, the rendering of the
prediction, ICE plot, sensitivity bars and history in ``_whatif_views``.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
import traitlets

from .._errors import ModelError, SchemaError
from ..analysis import feature_grids, residuals, what_if
from ..analysis.sensitivity import WhatIfResult
from ..schema import is_missing
from ..session import DebugSession
from ._common import as_session
from ._editors import assign, literal, same
from ._whatif_controls import PRESETS, _Controls
from ._whatif_views import _Views


class WhatIfEditor(_Controls, _Views, w.VBox):
    """Edit any row of the bound data and watch its prediction and sensitivity change.

    One editor per feature (a number box that accepts values beyond the observed range, a
    dropdown for categories, a missing toggle); the prediction with its change from the
    original row; the ICE curve of the shown feature with the original row's curve, the
    partial dependence and the data density behind it; a bar per feature of how far it can
    move the prediction; an edit history and the row as code. One edit is one batched
    predict call. Setting ``session.focus_row`` (from any widget) loads that row.

    Parameters
    ----------
    session : DebugSession or model
        A session from :func:`mldebug_widgets.bind`, or a model (then pass ``X`` and ``y``).
    X, y : optional
        Data to bind when a model is passed.
    resolution : int, default=20
        Grid points per numeric feature.
    margin : float, default=0.1
        Sweep this fraction beyond the observed range.
    include_missing : bool, default=True
        Also sweep a missing value of each feature.
    pd_rows : int, default=200
        Rows (drawn once, seeded) the partial dependence is averaged over.
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    session : DebugSession
        The shared session.
    row : object
        Index label of the loaded row.
    feature : str
        The feature whose ICE curve is shown.
    output : int
        Which output (class) the curves show.
    edited : pandas.DataFrame
        The row as edited (a copy; the bound data is never changed).
    result_ : WhatIfResult or None
        The prediction and ICE curves of ``edited``.
    history : list of dict
        The edits made to this row: feature, old and new value, prediction after.
    editors_ : dict
        Feature -> its editor widget; ``missing_`` holds the missing toggles.
    ice_figure_, sensitivity_figure_ : bqplot.Figure
        The ICE plot and the per-feature range bars.
    prediction_, message_ : ipywidgets.HTML
        The prediction text and the error/warning line.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> editor = mdw.WhatIfEditor(model, data.X, data.y)
    >>> editor.set_value("PAY_0", 3)
    >>> editor.history[-1]["feature"]
    'PAY_0'
    """

    row = traitlets.Any(None, allow_none=True, help="index label of the loaded row")
    feature = traitlets.Unicode(help="feature whose ICE curve is shown")
    output = traitlets.Int(0, help="output (class) shown in the curves")

    def __init__(self, session: Any, X: Any = None, y: Any = None, *, resolution: int = 20,
                 margin: float = 0.1, include_missing: bool = True, pd_rows: int = 200,
                 **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-whatif")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        self.resolution, self.margin, self.include_missing = resolution, margin, include_missing
        self.pd_rows = pd_rows
        self.edited: pd.DataFrame | None = None
        self.result_: WhatIfResult | None = None
        self.history: list[dict] = []
        self._loading = False
        self._marks: dict = {}
        self._build()
        self.session.observe(self._on_focus, "focus_row")
        self.session.observe(self._on_candidate, "candidate")
        self.session.observe(self._render_rules, "rules")
        self.session.observe(self._on_model, "model_version")
        self.session.observe(self._on_schema, "schema")
        if self.session.focus_row is None:
            self.session.focus_row = self.session.X.index[0]
        else:
            self.load(self.session.focus_row)

    @classmethod
    def from_estimator(cls, model: Any, X: Any, y: Any = None, **kwargs: Any) -> WhatIfEditor:
        """Bind ``model`` to ``X`` and ``y`` and open the editor on the new session.

        Examples
        --------
        >>> import pandas as pd
        >>> X = pd.DataFrame({"a": [0.0, 1.0]})
        >>> WhatIfEditor.from_estimator(lambda df: df["a"] * 2, X, task="regression").row
        0
        """
        return cls(model, X, y, **kwargs)

    # -- public actions ------------------------------------------------------------------
    def load(self, label: Any) -> None:
        """Load the bound row ``label`` into the editors (the history starts afresh)."""
        try:
            original = self.session.row(label)
        except KeyError as exc:
            self._show_error(str(exc.args[0]))
            return
        self.row = label
        self._original = original
        self._original_ice = None  # the first what-if of a loaded row is the original's
        self.edited = original.copy()
        self.history = []
        self._sync_editors()
        with self.row_box_.hold_trait_notifications():
            self._loading = True
            self.row_box_.value = str(label)
            self._loading = False
        self._recompute()

    def set_value(self, feature: str, value: Any) -> None:
        """Edit one feature of the loaded row (what typing in its editor does).

        Raises
        ------
        SchemaError
            If the value is not valid for the feature (also shown in the widget).
        """
        spec = self.session.schema[feature]
        try:
            value = spec.validate(value)
        except SchemaError as exc:
            self._show_error(str(exc))
            raise
        old = self.edited[feature].iloc[0]
        if same(old, value):
            return
        self.edited = assign(self.edited, feature, value)
        self._sync_editors([feature])
        self._loading = True  # the plot follows the edit; draw it once, below
        try:
            self.feature = feature
        finally:
            self._loading = False
        if self._recompute():
            self.history.append({"feature": feature, "old": old, "new": value,
                                 "prediction": float(self.result_.prediction[self.output])})
            self._render_history()

    def load_values(self, label: Any, values: dict, *, source: str = "") -> None:
        """Load row ``label`` with ``values`` applied as edits, in one recompute.

        What a proposed synthetic row (``session.propose``, e.g. an adversarial find)
        does: each changed feature enters the history, so undo walks back to the data.
        """
        self.load(label)
        if self.row != label:
            return
        old = {f: self.edited[f].iloc[0] for f in values}
        edited = self.edited
        for feature, value in values.items():
            edited = assign(edited, feature, self.session.schema[feature].validate(value))
        self.edited = edited
        self._sync_editors(list(values))
        if self._recompute():
            prediction = float(self.result_.prediction[self.output])
            for feature, value in values.items():
                if not same(old[feature], value):
                    self.history.append({"feature": feature, "old": old[feature],
                                         "new": value, "prediction": prediction,
                                         "source": source})
            self._render_history()

    def reset(self) -> None:
        """Restore the loaded row's values from the data."""
        if self.row is not None:
            self.load(self.row)

    def undo(self) -> None:
        """Undo the last edit."""
        if not self.history:
            return
        last = self.history.pop()
        self.edited = assign(self.edited, last["feature"], last["old"])
        self._sync_editors([last["feature"]])
        self._recompute()
        self._render_history()

    def step(self, offset: int) -> None:
        """Move to the row ``offset`` positions after the loaded one (wrapping around)."""
        index = self.session.X.index
        position = (self.session.position(self.row) + offset) % len(index)
        self.session.focus_row = index[position]

    def pick(self, preset: str) -> None:
        """Go to a row chosen by a preset: one of ``PRESETS``."""
        s = self.session
        scores = s.predictions()[:, self.output]
        if preset == "highest prediction":
            position = int(np.argmax(scores))
        elif preset == "lowest prediction":
            position = int(np.argmin(scores))
        elif preset == "largest error" and s.y is not None:
            position = int(np.argmax(_errors(s)))
        elif preset == "random":
            position = int(np.random.default_rng().integers(len(s.X)))
        else:
            raise ValueError(f"preset must be one of {PRESETS}; got {preset!r}.")
        s.focus_row = s.X.index[position]

    def row_as_code(self) -> str:
        """Python code that rebuilds the edited row as a one-row DataFrame."""
        body = ",\n".join(f"    {c!r}: [{literal(self.edited[c].iloc[0])}]"
                           for c in self.edited.columns)
        return (f"import numpy as np\nimport pandas as pd\n\nrow = pd.DataFrame({{\n{body},\n}}, "
                f"index=[{literal(self.row)}])\n")

    # -- computing -----------------------------------------------------------------------
    def _recompute(self) -> bool:
        try:
            self.result_ = self._what_if(self.edited)
        except (ModelError, SchemaError, ValueError, TypeError) as exc:
            self._show_error(str(exc))
            return False
        if self._original_ice is None and self.edited.equals(self._original):
            self._original_ice = self.result_.ice
        self.message_.value = self._note
        self._render_prediction()
        self._render_rules()
        self._render_ice()
        self._render_sensitivity()
        self.code_.value = self.row_as_code()
        return True

    def _what_if(self, row: pd.DataFrame) -> WhatIfResult:
        """One predict call; if the model fails on the swept missing values, sweep without."""
        try:
            return what_if(self.session, row, grid=self._grids)
        except ModelError as exc:
            swept_missing = any(is_missing(g[-1]) for g in self._grids.values() if len(g))
            if not swept_missing or row.isna().any(axis=None):
                raise
            self._grids = {f: g[[not is_missing(v) for v in g]] for f, g in self._grids.items()}
            self._note = ("<div class='mld-warning' style='color:#8a5300'>⚠ The model fails on "
                          "missing values, so they are not swept: "
                          f"{html.escape(str(exc))}</div>")
            return what_if(self.session, row, grid=self._grids)

    def _reset_grids(self) -> None:
        self._grids = feature_grids(self.session, resolution=self.resolution,
                                    margin=self.margin, include_missing=self.include_missing)
        self._note = ""

    # -- session events ------------------------------------------------------------------
    def _on_focus(self, change: dict) -> None:
        if change["new"] is not None:
            self.load(change["new"])

    def _on_candidate(self, change: dict) -> None:
        proposal = change["new"]
        if proposal:
            try:
                self.load_values(proposal["base"], proposal["values"],
                                 source=proposal.get("source", ""))
            except SchemaError as exc:
                self._show_error(str(exc))

    def _on_model(self, _change: dict) -> None:
        self._reset_grids()
        self.load(self.row)

    def _on_schema(self, _change: dict) -> None:
        self._build_editors()
        self.load(self.row)


def _errors(session: DebugSession) -> np.ndarray:
    """Size of each row's error: logloss for probabilities, |residual| otherwise."""
    if session.task != "regression" and session.adapter.output_kind == "probability":
        return residuals(session).to_numpy()
    kind = "absolute" if session.task == "regression" else "difference"
    return np.abs(residuals(session, kind).to_numpy())
