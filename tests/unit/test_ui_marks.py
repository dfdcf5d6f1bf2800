# ruff: noqa: F811  (pytest fixtures imported from tests/snapshots/conftest.py)
"""Marks, bulk actions and the filter language on the Tasks screen (replay + FakeRemote).

Each test fails on the code before issue 13: Space/``*`` marked nothing, ``x`` revoked
only the row under the cursor, a bad filter silently matched nothing, ``r`` did nothing.
"""

from __future__ import annotations

from typing import Any

from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.task_list import TaskList
from tests.snapshots.conftest import fake_queue_depths, make_console, recording  # noqa: F401
from tests.snapshots.replies import FakeRemote
from tests.unit.test_ui_console import SIZE, settle, sync


def bar(app: Any) -> str:
    return str(app.screen.query_one("#tasks-bar").render())


@sync
async def test_space_marks_and_revoke_acts_on_every_marked_task(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tl = app.screen.query_one(TaskList)
        first = [tl.row_at(i)[0] for i in range(3)]
        await pilot.press("space", "space", "space")
        await pilot.pause()
        assert app.screen.marks.ids() == first
        assert "3 marked" in bar(app)
        assert tl.render_line(1).text.startswith("*")  # the mark is visible without colour
        await pilot.press("space")  # the 4th row
        await pilot.press("up", "space")  # ... and off again
        await pilot.pause()
        assert app.screen.marks.ids() == first
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        text = app.screen.description
        assert "3 tasks" in text and first[0] in text and first[2] in text
        await pilot.press("y")
        await settle(pilot)
        revokes = [c for c in remote.calls if c[0] == "revoke"]
        assert revokes == [("revoke", (first, False, "SIGTERM"))]
        await pilot.press("escape")  # clears the marks, not the filter
        await pilot.pause()
        assert not app.screen.marks and "marked" not in bar(app)


@sync
async def test_star_marks_every_task_matching_the_filter(make_console: Any) -> None:
    app = make_console(initial="tasks", remote=FakeRemote())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        feed_state = app.feed.state
        want = {u for u in feed_state.tasks if "pipeline" in str(feed_state.task_row(u)[1])}
        await pilot.press("slash", *"name:pipeline", "enter", "asterisk")
        await settle(pilot)
        assert set(app.screen.marks.ids()) == want and len(want) > 3
        assert f"{len(want)} marked" in bar(app)
        assert app.screen.query_one(TaskList).window.spec.limit < 200  # back to a screenful


@sync
async def test_a_bad_filter_is_shown_in_the_bar(make_console: Any) -> None:
    app = make_console(initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"result:3", "enter")
        await settle(pilot)
        assert "the live task list has no result" in bar(app)
        await pilot.press("escape")
        await pilot.press("slash", *"colour:red -state:success", "enter")
        await settle(pilot)
        assert "unknown field 'colour'" in bar(app)
        await pilot.press("escape")
        await pilot.press("slash", *"-state:success|failure", "enter")
        await settle(pilot)
        tl = app.screen.query_one(TaskList)
        assert tl.matched and {r[2] for r in tl.window.rows}.isdisjoint({"SUCCESS", "FAILURE"})


@sync
async def test_retry_and_marks_are_refused_read_only(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "x", "r", "X")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert remote.mutating_calls == []
