# ruff: noqa: F811  (pytest fixtures imported from tests/snapshots/conftest.py)
"""The Canvas screen's labels show what the core knows: kind, callback role, missing."""

from __future__ import annotations

from console.core.canvas import CanvasNode
from console.ui.screens.canvas import node_label
from tests.snapshots.conftest import fake_queue_depths, make_console, recording  # noqa: F401


def test_missing_members_and_callback_role_are_shown() -> None:
    group = CanvasNode("G", None, "STARTED", None, "group", [], "backend", missing=2)
    assert "group" in node_label(group, None).plain
    assert "+2 not known yet" in node_label(group, None).plain
    cb = CanvasNode("cb", "tasks.xsum", "PENDING", None, role="callback")
    assert node_label(cb, None).plain.startswith("callback tasks.xsum PENDING")
    plain = CanvasNode("t", "tasks.add", "SUCCESS", 0.5)
    assert "not known" not in node_label(plain, None).plain


def test_c_opens_the_canvas_the_first_time(make_console: object) -> None:
    """``c`` on a task before the Canvas screen was ever shown: the screen is created by
    switch_mode and loaded on mount (it crashed with NoMatches '#canvas-bar')."""
    import asyncio

    from textual.widgets import Tree

    from tests.snapshots.events import uid
    from tests.unit.test_ui_console import SIZE, settle

    async def run() -> None:
        app = make_console()  # type: ignore[operator]
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_canvas(uid(912))
            await settle(pilot)
            assert app.screen.uuid == uid(912)
            assert app.screen.query_one(Tree).root.children  # the tree was drawn

    asyncio.run(run())
