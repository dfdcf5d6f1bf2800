"""Cluster-access core: settings, remote control, event intake, state, canvas.

Nothing in this package may import Textual (``tests/unit/test_layering.py``).
"""
