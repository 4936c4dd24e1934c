"""The widgets: thin ipywidgets + bqplot views over a DebugSession."""

from .whatif import WhatIfEditor

__all__ = ["WhatIfEditor"]
