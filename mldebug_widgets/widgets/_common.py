"""Helpers shared by the widgets: accepting a session or (model, X, y), naming scores."""

from __future__ import annotations

from typing import Any

from ..session import DebugSession, bind


def as_session(session: Any, X: Any = None, y: Any = None, **bind_kwargs: Any) -> DebugSession:
    """Return ``session`` itself, or bind ``session`` (then a model) to ``X`` and ``y``."""
    if isinstance(session, DebugSession):
        if X is not None or y is not None or bind_kwargs:
            raise TypeError("pass either a DebugSession, or a model with X and y; not both.")
        return session
    if X is None:
        raise TypeError("pass a session from mldebug_widgets.bind(model, X, y), or a model "
                        "with its data: WhatIfEditor(model, X, y).")
    return bind(session, X, y, **bind_kwargs)


def target_name(session: DebugSession) -> str:
    """Return the label column's name, or "y"."""
    name = getattr(session.y, "name", None)
    return "y" if name is None else str(name)


def format_score(session: DebugSession, output: Any) -> str:
    """Label a score: ``P(DEFAULT = 1)``, ``decision score``, ``prediction``."""
    kind = session.adapter.output_kind
    if kind == "probability":
        return f"P({target_name(session)} = {output})"
    if kind == "decision":
        return f"decision score for {output}" if session.task == "multiclass" \
            else "decision score"
    if kind == "label":
        return f"predicted {target_name(session)} = {output}"
    return "prediction"
