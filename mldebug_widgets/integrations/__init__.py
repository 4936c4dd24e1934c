"""Optional integrations with other libraries, imported only when used.

``mldebug_widgets.integrations.alibi``: alibi's ALE and Anchors (the ``alibi`` extra).
"""
