"""AssertionsPanel: business rules over inputs and predictions, checked on the whole data."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..analysis import RuleModel, RuleSyntaxError, check_rules, parse_rules
from ..session import DebugSession
from ._common import as_session

EXAMPLE = ('AGE < 21 and prediction > 0.5 -> flag "young applicant rated high risk"\n'
           'PAY_AMT1 > LIMIT_BAL -> clip 0 0.9')
N_ROWS = 200


class AssertionsPanel(w.VBox):
    """Write model assertions and see where they fire, and what overrides would change.

    Rules are ``condition -> action``, one per line (``#`` comments): conditions over the
    features and ``prediction`` with ``and``, ``or``, ``not``, ``in (...)``, ``is missing``;
    actions ``flag "message"``, ``override <value>``, ``clip <low> <high>``. The text is
    parsed, never evaluated as Python; an error points at the offending token. Checking
    uses the session's cached predictions (no model call). The rules are published as
    ``session.rules``, so the what-if editor checks the edited row as you edit; *Apply as
    model* binds the model wrapped with the rules (a ``RuleModel``) to the session.

    Parameters
    ----------
    session : DebugSession or model
        The bound model and data (or a model with X, y).
    X, y : optional
        Data to bind when a model is passed.
    rules : str, default=""
        Initial rules (default: ``session.rules``).
    **bind_kwargs
        Passed to :func:`mldebug_widgets.bind` when a model is passed.

    Attributes
    ----------
    result_ : AssertionResult or None
        The last check.

    Examples
    --------
    >>> import mldebug_widgets as mdw
    >>> data = mdw.datasets.load_credit(n_rows=2_000)
    >>> model = mdw.datasets.demo_model(data, kind="logistic")
    >>> panel = mdw.AssertionsPanel(model, data.X, data.y)
    >>> panel.set_rules("EDUCATION in (0, 5, 6) -> flag 'undocumented code'")
    >>> int(panel.result_.counts[0]) == int(data.X["EDUCATION"].isin([0, 5, 6]).sum())
    True
    """

    def __init__(self, session: Any, X: Any = None, y: Any = None, *, rules: str = "",
                 **bind_kwargs: Any):
        super().__init__()
        self.add_class("mld-assertions")
        self.session: DebugSession = as_session(session, X, y, **bind_kwargs)
        self.result_: Any = None
        self._original = (self.session.model, self.session.adapter.response_method)
        self.rules_ = w.Textarea(value=rules or self.session.rules, placeholder=EXAMPLE,
                                 continuous_update=False,
                                 layout=w.Layout(width="100%", height="110px"))
        self.rules_.add_class("mld-rules")
        self.rules_.observe(lambda c: self.set_rules(c["new"]), "value")
        self.check_button_ = w.Button(description="Check", icon="check")
        self.check_button_.add_class("mld-check")
        self.check_button_.on_click(lambda _: self.set_rules(self.rules_.value))
        self.apply_button_ = w.Button(description="Apply as model", icon="shield",
                                      tooltip="bind the model wrapped with these rules")
        self.apply_button_.on_click(lambda _: self._guarded(self.apply))
        self.restore_button_ = w.Button(description="Restore model", icon="undo")
        self.restore_button_.on_click(lambda _: self._guarded(self.restore))
        self.message_ = w.HTML()
        self.message_.add_class("mld-message")
        self.summary_ = w.HTML()
        self.summary_.add_class("mld-violations")
        self.rows_ = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.rows_.add_class("mld-violating-rows")
        self.rows_.observe(self._on_row, "value")
        self.children = [
            w.HTML("<b>Model assertions</b> <small>(one rule per line: condition -&gt; flag "
                   "\"text\" | override v | clip lo hi)</small>"),
            self.rules_, w.HBox([self.check_button_, self.apply_button_,
                                 self.restore_button_]),
            self.message_, self.summary_,
            w.HTML("<small>rows where a rule fires (pick one to load it in the what-if "
                   "editor)</small>"), self.rows_]
        self.session.observe(lambda _: self.set_rules(self.rules_.value), "model_version")
        if self.rules_.value.strip():
            self.set_rules(self.rules_.value)

    def set_rules(self, text: str) -> None:
        """Parse and check ``text`` (what typing in the box does); errors are shown."""
        if self.rules_.value != text:
            self.rules_.value = text  # observed: comes back here once
            return
        s = self.session
        if not text.strip():
            self.result_, self.summary_.value, self.rows_.options = None, "", []
            self.message_.value = ""
            s.rules = ""
            return
        try:
            rules = parse_rules(text, features=s.X)
            self.result_ = check_rules(s, rules)
        except (RuleSyntaxError, ValueError, TypeError) as exc:
            self.message_.value = (f"<pre style='color:#b00020;margin:0;font-family:monospace'>"
                                   f"{html.escape(str(exc))}</pre>")
            return
        self.message_.value = ""
        s.rules = text
        self.summary_.value = _summary(self.result_)
        frame = self.result_.by_row().head(N_ROWS)
        self.rows_.options = [(f"{label}: {row['messages'] or _numbers(row['rules'])}", label)
                              for label, row in frame.iterrows()]

    def apply(self) -> None:
        """Bind the original model wrapped with the rules (a ``RuleModel``) to the session."""
        if self.result_ is None:
            raise ValueError("write and check rules first.")
        model, method = self._original
        wrapped = RuleModel(model, list(self.result_.rules)).fit(self.session.X,
                                                                 self.session.y)
        self.session.set_model(wrapped, response_method=method)

    def restore(self) -> None:
        """Bind the model the panel was opened with."""
        model, method = self._original
        self.session.set_model(model, response_method=method)

    def _on_row(self, change: dict) -> None:
        if change["new"] is not None:
            self.session.focus_row = change["new"]

    def _guarded(self, action: Any) -> None:
        try:
            action()
        except (ValueError, TypeError) as exc:
            self.message_.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"


def _numbers(rules: tuple) -> str:
    return "rules " + ", ".join(map(str, rules))


def _summary(result: Any) -> str:
    n = len(result.fired)
    rows = "".join(
        f"<tr><td>{i}</td><td><code>{html.escape(rule.text)}</code></td><td>{rule.action}</td>"
        f"<td class='mld-count'>{int(result.counts[i]):,}</td>"
        f"<td>{result.shares[i]:.1%}</td></tr>" for i, rule in enumerate(result.rules))
    metrics = result.metrics
    table = "" if metrics.empty else (
        "<table class='mld-rule-metrics'><tr><th>metric</th><th>model</th><th>with the rules"
        "</th><th>change</th></tr>" + "".join(
            f"<tr><td>{name}</td><td>{r['before']:.4f}</td><td>{r['after']:.4f}</td>"
            f"<td>{r['change']:+.4f}</td></tr>" for name, r in metrics.iterrows()) + "</table>")
    changed = int(result.changed.sum())
    return (f"<table class='mld-rule-counts'><tr><th>#</th><th>rule</th><th>action</th>"
            f"<th>rows</th><th>share</th></tr>{rows}</table>"
            f"<small>{n:,} rows checked; {changed:,} prediction(s) changed by overrides and "
            f"clips</small>{table}")


def violations_html(fired: list) -> str:
    """Return the what-if editor's line for the rules that fire on the edited row."""
    if not fired:
        return ""
    items = "; ".join(html.escape(r.message or r.text) for r in fired)
    return f"<span class='mld-row-violations' style='color:#b00020'>⚠ rules fire: {items}</span>"
