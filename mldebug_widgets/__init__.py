"""mldebug_widgets: Jupyter widgets for debugging machine-learning models.

Bind a model to data once, then open the widgets on the session::

    import mldebug_widgets as mdw
    session = mdw.bind(model, X, y, sensitive_features=["SEX"])
    mdw.WhatIfEditor(session)
"""

from . import analysis, datasets, findings
from ._errors import BindError, ModelError, SchemaError
from .findings import load_state, save_state
from .model import ModelAdapter
from .schema import FeatureSchema, FeatureSpec
from .serve import serve
from .session import DebugSession, bind

__version__ = "0.1.0"

__all__ = [
    "AdversarialSearch",
    "AssertionsPanel",
    "BindError",
    "Dashboard",
    "DebugSession",
    "FairnessSlicer",
    "FeatureSchema",
    "FeatureSpec",
    "ModelAdapter",
    "ModelError",
    "MonitoringPanel",
    "ResidualExplorer",
    "SchemaError",
    "WhatIfEditor",
    "analysis",
    "bind",
    "datasets",
    "findings",
    "load_state",
    "save_state",
    "serve",
]


def __getattr__(name: str):
    # widgets import ipywidgets and bqplot: load them only when asked for
    if name in ("AdversarialSearch", "AssertionsPanel", "Dashboard", "FairnessSlicer",
                "MonitoringPanel", "ResidualExplorer", "WhatIfEditor"):
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'mldebug_widgets' has no attribute {name!r}")
