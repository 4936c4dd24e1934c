"""The fairness slicer's remediation: what :class:`FairnessSlicer` inherits to act on a plan.

The optimiser (per-group thresholds that meet an objective at the best accuracy, searched on
the slicer's threshold sweep) and the three model changes: apply the thresholds as a
post-processor, refit a clone of the original model with reweighing, restore the original
model. Each change re-binds the session's model; the slicer keeps the previous table and shows
it before/after. It relies on the slicer it is mixed into: ``session``, ``sweep_``,
``groups_``, ``group_thresholds``, ``features``, ``favourable``, ``reference``, ``tradeoff``,
``_original``, ``_bins``, ``_guarded``, ``_set_group_thresholds`` and ``_worst_air``.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..analysis import optimise_thresholds, reweighed_refit, threshold_classifier
from ..analysis.fair_thresholds import OBJECTIVES


class _Remediation:
    """The optimiser and the model changes (``objective_``, ``*_button_``, ``plan_note_``).

    A mixin of :class:`~mldebug_widgets.widgets.fairness.FairnessSlicer`.
    """

    def _build_remediation(self) -> None:
        self.objective_ = w.Dropdown(options=[(o.replace("_", " "), o) for o in OBJECTIVES],
                                     value="air", description="optimise for",
                                     layout=w.Layout(width="300px"))
        self.optimise_button_ = w.Button(description="Optimise thresholds", icon="magic")
        self.optimise_button_.on_click(lambda _: self._guarded(self.optimise))
        self.plan_note_ = w.HTML()
        self.plan_note_.add_class("mld-plan")
        self.apply_button_ = w.Button(description="Apply as post-processor", icon="check")
        self.apply_button_.on_click(lambda _: self._guarded(self.apply_thresholds))
        self.refit_button_ = w.Button(description="Refit with reweighing", icon="balance-scale")
        self.refit_button_.on_click(lambda _: self._guarded(self.refit_reweighed))
        self.restore_button_ = w.Button(description="Restore original model", icon="undo")
        self.restore_button_.on_click(lambda _: self._guarded(self.restore))
        self.before_after_ = w.HTML()
        self.before_after_.add_class("mld-before-after")

    def optimise(self) -> None:
        """Set every group's threshold to the most accurate plan that meets the objective."""
        plan = optimise_thresholds(self.session, self.objective_.value, sweep=self.sweep_,
                                   favourable=self.favourable, reference=self.reference)
        self.plan_ = plan
        self._set_group_thresholds(list(plan.thresholds.values()))
        met = "met" if plan.feasible else "not reachable on the grid (best single threshold)"
        self.plan_note_.value = (f"<small>{html.escape(plan.objective.replace('_', ' '))}: "
                                 f"{met}; overall accuracy {plan.accuracy:.4f}</small>")
        self.tradeoff.mark(self.tradeoff.plan, self._worst_air(plan.table), plan.accuracy)

    def export(self, *, reject_band: float = 0.0, favoured_groups: Any = ()) -> Any:
        """Return the current per-group thresholds as a fitted ``GroupThresholdClassifier``.

        Re-bind it with ``response_method="predict"`` (what :meth:`apply_thresholds` does)
        to see its decisions; its group metrics equal this table's.
        """
        thresholds = dict(zip(self.groups_, self.group_thresholds, strict=True))
        return threshold_classifier(self.session, thresholds, sensitive_features=self.features,
                                    bins=self._bins(), reject_band=reject_band,
                                    favoured_groups=favoured_groups)

    def apply_thresholds(self) -> None:
        """Bind the exported post-processor as the session's model (before/after shown)."""
        if self.session.adapter.output_kind == "label":
            raise ValueError("the session's model already outputs decisions (a post-processor "
                             "is bound); restore the original model first.")
        clf = self.export()
        self._next_label = "per-group thresholds as a post-processor"
        self.session.set_model(clf, response_method="predict")

    def refit_reweighed(self) -> None:
        """Bind a clone of the original model refitted with reweighing weights."""
        model, method = self._original
        refit = reweighed_refit(self.session, model=model, sensitive_features=self.features,
                                bins=self._bins())
        self._next_label = "reweighed refit"
        self.session.set_model(refit, response_method=method)

    def restore(self) -> None:
        """Bind the model the slicer was opened with."""
        model, method = self._original
        self._next_label = "original model restored"
        self.session.set_model(model, response_method=method)
