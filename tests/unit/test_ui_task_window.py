"""The Tasks screen over a window of a big list: scrolling, jumping, the cursor, live changes.

5,000 tasks in an in-process ClusterState (StaticFeed): the feed answers each
request at the next poll, so every step is deterministic.  The UI must never
hold the whole list: only the window the feed sent.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from console.core.clock import FixedClock
from console.core.feed import StaticFeed
from console.core.state import ClusterState
from console.ui.app import create_app
from console.ui.widgets.task_list import TaskList

N = 5000
SIZE = (150, 30)  # the ID column shows from 140 columns


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def uid(i: int) -> str:
    return f"task-{i:05d}"


def big_state() -> ClusterState:
    state = ClusterState(max_tasks=100_000, clock=FixedClock(2_000_000_000.0))
    for i in range(N):
        state.apply(
            {
                "type": "task-received",
                "uuid": uid(i),
                "hostname": "alpha@h",
                "name": "proj.resize" if i % 10 == 0 else "proj.add",
                "timestamp": 1_000_000.0 + i,
                "args": f"({i},)",
                "kwargs": "{}",
            }
        )
    return state


def app_over(state: ClusterState) -> Any:
    return create_app(
        None,
        StaticFeed(state),
        clock=FixedClock(2_000_000_000.0),
        poll_interval=0,
        refresh=0.1,
        initial="tasks",
        cursor_blink=False,
    )


async def until(pilot: Any, predicate: Callable[[], Any], what: str, tries: int = 50) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


def shown_ids(tl: TaskList) -> list[str]:
    """Task ids on the visible lines, read back from the rendered text."""
    out = []
    for y in range(1, tl.size.height):
        text = tl.render_line(y).text
        out.append(next((w for w in text.split() if w.startswith("task-")), text.strip()))
    return out


@sync
async def test_the_ui_holds_a_window_and_scrolls_through_the_whole_list() -> None:
    state = big_state()
    app = app_over(state)
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == N, "the list counted")
        assert len(app.model.tasks) < 200 and len(tl.window.rows) < 200  # a window, not 5,000 rows
        assert shown_ids(tl)[:3] == [uid(N - 1), uid(N - 2), uid(N - 3)]  # newest first
        # scrolled (mouse wheel, scrollbar): no cursor move, the lines shown still arrive
        tl.scroll_to(y=2000, animate=False)
        await until(
            pilot, lambda: shown_ids(tl)[0] == uid(N - 1 - 2000), "the rows 2000 down drawn"
        )
        assert tl.selected == uid(N - 1)  # the cursor stayed on its task
        # End: the last task, drawn (not a placeholder) once its window arrived
        await pilot.press("end")
        await until(pilot, lambda: tl.selected == uid(0), "the cursor on the oldest task")
        await until(pilot, lambda: uid(0) in shown_ids(tl), "the oldest task drawn")
        assert "…" not in " ".join(shown_ids(tl))
        # page up twice from the end, then home
        for _ in range(2):
            await pilot.press("pageup")
        await pilot.pause(0.1)
        height = tl.scrollable_content_region.height - 2
        await until(pilot, lambda: tl.selected == uid(2 * height), "two pages up")
        await pilot.press("home")
        await until(
            pilot, lambda: tl.selected == uid(N - 1) and shown_ids(tl)[0] == uid(N - 1), "home"
        )


@sync
async def test_filtering_counts_everything_and_the_cursor_follows_its_task() -> None:
    state = big_state()
    app = app_over(state)
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == N, "the list counted")
        await pilot.press("slash", *"resize", "enter")
        await until(pilot, lambda: tl.matched == N // 10, "500 resize tasks matched")
        assert all("proj.resize" in tl.render_line(y).text for y in range(1, 10))
        await pilot.press("down", "down")
        followed = tl.selected
        assert followed == uid(N - 30)
        # live data: a newer resize task arrives above; the cursor stays on its task
        state.apply(
            {
                "type": "task-received",
                "uuid": "task-new",
                "hostname": "alpha@h",
                "name": "proj.resize",
                "timestamp": 9_000_000.0,
                "args": "()",
                "kwargs": "{}",
            }
        )
        await until(pilot, lambda: tl.matched == N // 10 + 1, "the new task counted")
        assert shown_ids(tl)[0] == "task-new"
        assert tl.selected == followed and tl.cursor == 3


class ShortFeed(StaticFeed):
    """Answers every request with fewer rows than the slice asked for (as a feed does
    while a re-sort is held back and the list does not hold the newest tasks yet)."""

    requests = 0

    def request_view(self, spec: Any) -> None:
        ShortFeed.requests += 1
        super().request_view(spec)
        with self._lock:
            w = self._window
            w.rows = w.rows[: len(w.rows) // 2]


@sync
async def test_a_short_answer_is_not_asked_for_again_and_again() -> None:
    """Regression: lines the answer could not fill made the list re-ask on every
    answer; each request held the feed's re-sort back, so nothing ever changed."""
    ShortFeed.requests = 0
    state = big_state()
    app = create_app(
        None,
        ShortFeed(state),
        clock=FixedClock(2_000_000_000.0),
        poll_interval=0,
        refresh=0.05,
        initial="tasks",
        cursor_blink=False,
    )
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == N, "the list counted")
        await pilot.press("end")
        await pilot.pause(0.3)
        settled = ShortFeed.requests
        for i in range(10):  # data keeps arriving: each poll brings a window
            state.apply(
                {
                    "type": "task-received",
                    "uuid": f"more-{i}",
                    "hostname": "alpha@h",
                    "name": "proj.add",
                    "timestamp": 1.0 + i,
                    "args": "()",
                    "kwargs": "{}",
                }
            )
            await pilot.pause(0.06)
        assert ShortFeed.requests - settled <= 2, ShortFeed.requests - settled
