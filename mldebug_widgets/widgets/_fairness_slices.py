"""The fairness slicer's worst slices: what :class:`FairnessSlicer` inherits to list them.

The slices (up to three predicates, SliceLine's score weighing error against size by
``alpha``) are found in a thread on demand and listed; picking one publishes its rows as
``session.selected_rows``, and a selection made by another widget clears the pick, so picking
the same slice again works. It relies on the slicer it is mixed into: ``session`` and
``_thread``.
"""

from __future__ import annotations

import html
import threading

import ipywidgets as w

from ..analysis import find_slices


class _WorstSlices:
    """The worst slices (``slices_*_`` widgets, ``alpha_``, ``slices_``, ``find_slices``).

    A mixin of :class:`~mldebug_widgets.widgets.fairness.FairnessSlicer`.
    """

    def _build_slices(self) -> None:
        self.slices_button_ = w.Button(description="Find worst slices", icon="search")
        self.slices_button_.on_click(lambda _: self._find_in_thread())
        self.alpha_ = w.FloatSlider(value=0.95, min=0.5, max=1.0, step=0.01,
                                    description="error vs size", readout_format=".2f",
                                    style={"description_width": "90px"},
                                    layout=w.Layout(width="320px"))
        self.alpha_.add_class("mld-slice-alpha")
        self.slices_status_ = w.HTML()
        self.slices_list_ = w.Select(options=[], rows=8, layout=w.Layout(width="100%"))
        self.slices_list_.add_class("mld-slices")
        self.slices_list_.observe(self._on_slice, "value")

    def find_slices(self) -> None:
        """Find the worst slices of the bound data and list them."""
        self.slices_status_.value = "searching…"
        self.slices_ = find_slices(self.session, alpha=self.alpha_.value)
        frame = self.slices_.to_frame()
        self.slices_list_.value = None  # a pick of the new list is always a change
        self.slices_list_.options = [
            (f"error {r.error:.3f} · {int(r.size):,} rows · {r.slice}", i)
            for i, r in enumerate(frame.itertuples())]
        self.slices_status_.value = f"{len(frame)} slices"

    def _on_slice(self, change: dict) -> None:
        if change["new"] is not None and self.slices_ is not None:
            self._published = tuple(self.slices_.rows(change["new"]).tolist())
            self.session.selected_rows = self._published

    def _on_selected(self, change: dict) -> None:
        """Another widget changed the selection: clear the pick, so picking it again works."""
        if change["new"] is not getattr(self, "_published", None):
            self.slices_list_.value = None

    def _find_in_thread(self) -> None:
        self.slices_button_.disabled = True

        def work() -> None:
            try:
                self.find_slices()
            except ValueError as exc:
                self.slices_status_.value = html.escape(str(exc))
            finally:
                self.slices_button_.disabled = False

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()
