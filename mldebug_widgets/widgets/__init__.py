"""The widgets: thin ipywidgets + bqplot views over a DebugSession."""

from .adversarial import AdversarialSearch
from .assertions import AssertionsPanel
from .dashboard import Dashboard
from .fairness import FairnessSlicer
from .monitoring import MonitoringPanel
from .residuals import ResidualExplorer
from .whatif import WhatIfEditor

__all__ = ["AdversarialSearch", "AssertionsPanel", "Dashboard", "FairnessSlicer",
           "MonitoringPanel", "ResidualExplorer", "WhatIfEditor"]
