"""The widgets: thin ipywidgets + bqplot views over a DebugSession."""

from .residuals import ResidualExplorer
from .whatif import WhatIfEditor

__all__ = ["ResidualExplorer", "WhatIfEditor"]
