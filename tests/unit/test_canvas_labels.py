"""The Canvas screen's labels show what the core knows: kind, callback role, missing."""

from __future__ import annotations

from console.core.canvas import CanvasNode
from console.ui.screens.canvas import node_label


def test_missing_members_and_callback_role_are_shown() -> None:
    group = CanvasNode("G", None, "STARTED", None, "group", [], "backend", missing=2)
    assert "group" in node_label(group, None).plain
    assert "+2 not known yet" in node_label(group, None).plain
    cb = CanvasNode("cb", "tasks.xsum", "PENDING", None, role="callback")
    assert node_label(cb, None).plain.startswith("callback tasks.xsum PENDING")
    plain = CanvasNode("t", "tasks.add", "SUCCESS", 0.5)
    assert "not known" not in node_label(plain, None).plain
