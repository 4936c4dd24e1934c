"""MonitoringPanel: drift of every feature and of the prediction, and anomalous current rows."""

from __future__ import annotations

import html
from typing import Any

import bqplot as bq
import ipywidgets as w
import numpy as np
import pandas as pd

from ..analysis import anomalies, drift
from ..session import DebugSession
from . import _plots
from ._common import as_session

BAND_COLOURS = {"stable": "", "moderate": "background:#fff3cd",
                "significant": "background:#f8d7da;font-weight:bold"}
N_ANOMALIES = 10


class MonitoringPanel(w.VBox):
    """Compare a current batch with the bound (reference) data: drift and anomalies.

    The drift table has one row per feature and one for the prediction: PSI with its band
    (< 0.1 stable, 0.1-0.25 moderate, > 0.25 significant), a KS or chi-square test with a
    Bonferroni-corrected p-value, and the missing-rate and mean shifts; flagged rows are
    drift. Pick a row to see the reference and current shares of its PSI bins. The
    anomalies list holds the current rows an IsolationForest fitted on the reference finds
    most unusual; "send to what-if" loads one into the what-if editor (as edits of the
    focused row, since current rows are not in the bound data).

    Parameters
    ----------
    session : DebugSession or model
        The bound model and the reference data (or a model with X, y).
    current : pandas.DataFrame
        The current batch, with the reference's columns.
    X, y : optional
        Reference data to bind when a model is passed.
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    drift_ : DriftResult
        The drift of every feature and of the prediction.
    anomalies_ : AnomalyResult
        The anomaly scores of the current rows.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> current = mdw.datasets.load_credit(n_rows=2_000, batch="current")
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> panel = mdw.MonitoringPanel(model, current.X, data.X, data.y,
    ...                             schema=mdw.datasets.CREDIT_SCHEMA)
    >>> sorted(f for f in panel.drift_.flagged if f != "prediction")
    ['AGE', 'LIMIT_BAL', 'PAY_0']
    """

    def __init__(self, session: Any, current: pd.DataFrame, X: Any = None, y: Any = None,
                 **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-monitoring")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        if not isinstance(current, pd.DataFrame):
            raise TypeError("current must be a DataFrame with the reference's columns, e.g. "
                            "mdw.datasets.load_credit(batch='current').X.")
        self.current = current.copy()
        self._build()
        self.session.observe(lambda _: self.refresh(), "model_version")
        self.refresh()

    def _build(self) -> None:
        self.summary_ = w.HTML()
        self.summary_.add_class("mld-drift-summary")
        self.table_ = w.HTML()
        self.table_.add_class("mld-drift-table")
        self.feature_ = w.Dropdown(description="bins of", options=[])
        self.feature_.observe(lambda _: self._draw_bins(), "value")
        # grouped Bars compute no y domain in bqplot's JS (bqplot#1646): set max ourselves
        x, y = bq.OrdinalScale(), bq.LinearScale(min=0, max=1)
        self._share_scale = y
        self.reference_bars_ = bq.Bars(x=[], y=[], scales={"x": x, "y": y}, type="grouped",
                                       colors=[_plots.ORIGINAL, _plots.MARKER],
                                       labels=["reference", "current"], display_legend=True)
        self.bins_figure_ = bq.Figure(
            marks=[self.reference_bars_], axes=[
                bq.Axis(scale=x, tick_rotate=-30, tick_style={"font-size": "9px"}),
                bq.Axis(scale=y, side="left", label="share", tick_format=".0%")],
            title="", animation_duration=0, legend_location="top-right",
            fig_margin=dict(top=40, bottom=70, left=60, right=20),
            layout=w.Layout(width="100%", max_width="720px", height="300px"))
        self.bins_figure_.add_class("mld-drift-bins")
        self.anomalies_html_ = w.HTML()
        self.anomalies_html_.add_class("mld-anomalies")
        self.anomaly_select_ = w.Dropdown(description="row", options=[])
        self.send_button_ = w.Button(description="Send to what-if editor", icon="share")
        self.send_button_.on_click(lambda _: self.send_to_whatif(self.anomaly_select_.value))
        self.message_ = w.HTML()
        self.message_.add_class("mld-message")
        self.children = [self.summary_, self.table_, self.feature_, self.bins_figure_,
                         w.HTML("<b>Most anomalous current rows</b> (IsolationForest fitted "
                                "on the reference)"), self.anomalies_html_,
                         w.HBox([self.anomaly_select_, self.send_button_]), self.message_]

    def refresh(self) -> None:
        """Recompute the drift and the anomalies (after a model change, or a new batch)."""
        s = self.session
        try:
            self.drift_ = drift(current=self.current, session=s)
            self.anomalies_ = anomalies(current=self.current, session=s)
        except (ValueError, TypeError, KeyError) as exc:
            self.message_.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
            return
        self.summary_.value = html.escape(self.drift_.summary())
        self.table_.value = _drift_table(self.drift_.to_frame())
        flagged = self.drift_.flagged
        names = list(self.drift_.to_frame().index)
        self.feature_.options = names
        self.feature_.value = flagged[0] if flagged else names[0]
        top = self.anomalies_.top(N_ANOMALIES)
        self.anomalies_html_.value = _anomaly_table(top, s.features)
        self.anomaly_select_.options = [(str(label), label) for label in top.index]
        self.message_.value = ""

    def send_to_whatif(self, label: Any) -> None:
        """Load current row ``label`` into the what-if editor (``session.propose``)."""
        if label is None:
            self.message_.value = "pick an anomalous row first"
            return
        s = self.session
        base = s.focus_row if s.focus_row is not None else s.X.index[0]
        values = {f: v for f, v in self.anomalies_.row_values(label).items() if f in s.features}
        s.propose(base, values, source=f"current row {label}")

    def _draw_bins(self) -> None:
        name = self.feature_.value
        if name is None:
            return
        bins = self.drift_.histogram(name)
        labels = [str(b) for b in bins.index]
        top = float(np.nanmax(bins[["reference", "current"]].to_numpy(dtype=np.float64)))
        self._share_scale.max = min(1.0, 1.1 * top) if top > 0 else 1.0
        with self.reference_bars_.hold_sync():
            self.reference_bars_.x = labels
            self.reference_bars_.y = np.vstack([bins["reference"].to_numpy(dtype=np.float64),
                                                bins["current"].to_numpy(dtype=np.float64)])
        row = self.drift_.table.loc[name]
        self.bins_figure_.title = f"{name}: PSI {row['psi']:.3f} ({row['band']})"


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return html.escape(value)
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "NaN"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else ""
    return f"{value:.3g}"


def _drift_table(frame: pd.DataFrame) -> str:
    columns = ["psi", "band", "test", "p_adjusted", "missing_change", "mean_shift", "flagged"]
    head = "".join(f"<th>{c}</th>" for c in ["feature", *columns])
    rows = "".join(
        f"<tr style='{_colour(r)}'><td>{html.escape(str(name))}</td>"
        + "".join(f"<td>{_fmt(r[c])}</td>" for c in columns) + "</tr>"
        for name, r in frame.iterrows())
    return (f"<table class='mld-drift-rows'><tr>{head}</tr>{rows}</table>"
            "<small>PSI bands: &lt; 0.1 stable, 0.1–0.25 moderate, &gt; 0.25 significant; "
            "p-values Bonferroni-corrected across rows</small>")


def _colour(row: pd.Series) -> str:
    """Return the PSI band's colour (a row flagged by its test alone: the moderate one)."""
    colour = BAND_COLOURS.get(row["band"], "")
    return colour or (BAND_COLOURS["moderate"] if bool(row["flagged"]) else "")


def _anomaly_table(top: pd.DataFrame, features: list[str]) -> str:
    shown = ["anomaly_score", *features[:8]]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["row", *shown])
    rows = "".join(f"<tr><td>{html.escape(str(label))}</td>"
                   + "".join(f"<td>{_fmt(r[c])}</td>" for c in shown) + "</tr>"
                   for label, r in top.iterrows())
    return f"<table class='mld-anomaly-rows'><tr>{head}</tr>{rows}</table>"
