"""The compute layer imports without ipywidgets or bqplot; the public door is explicit."""

from __future__ import annotations

import subprocess
import sys

import mldebug_widgets


def test_compute_layer_imports_without_widget_libraries():
    code = (
        "import sys\n"
        "import mldebug_widgets, mldebug_widgets.analysis, mldebug_widgets.session\n"
        "import mldebug_widgets.schema, mldebug_widgets.model, mldebug_widgets.datasets\n"
        "loaded = [m for m in ('ipywidgets', 'bqplot', 'alibi') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names():
    assert sorted(mldebug_widgets.__all__) == mldebug_widgets.__all__
    for name in mldebug_widgets.__all__:
        assert getattr(mldebug_widgets, name) is not None
    assert mldebug_widgets.WhatIfEditor.__module__ == "mldebug_widgets.widgets.whatif"
