"""The widgets: thin ipywidgets + bqplot views over a DebugSession."""

from .fairness import FairnessSlicer
from .residuals import ResidualExplorer
from .whatif import WhatIfEditor

__all__ = ["FairnessSlicer", "ResidualExplorer", "WhatIfEditor"]
