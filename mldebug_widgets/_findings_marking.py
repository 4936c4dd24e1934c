"""Marking findings: the ``add_*`` methods :class:`~mldebug_widgets.findings.Findings` inherits.

``_Marking`` holds one method per kind of finding (an edited row, a row found by a search, a
brushed cohort, a slice, per-group thresholds) and the helpers they measure with: each call
checks its input against the bound data, measures the numbers then (prediction, cohort or
slice error, group metrics at the thresholds) and appends a :class:`Finding` stamped with the
model version, the output names and the time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import _findings_values as V
from ._findings_measure import group_air, rows_summary, score_row
from ._findings_record import Finding, _as_mapping, _same, _typed
from .analysis._fairness_groups import group_edges
from .analysis.fair_thresholds import ThresholdPlan
from .analysis.slices import SliceResult


class _Marking:
    """The ``add_*`` methods of :class:`~mldebug_widgets.findings.Findings`.

    A mixin: the class it is mixed into provides ``self.session`` and ``self.add(finding)``.
    """

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

