"""Rows never lie (issue 15.5) and the cursor stays with what you see (15.6).

An in-process ClusterState behind a StaticFeed (the feed answers at each poll)
and a FixedClock: every step is deterministic.  Each test fails on the code
before these items: rows said STARTED for a revoked or lost task, an offline
worker kept its active count and rate, running tasks had no runtime (and sorted
last by runtime), the list had no pause, and a late window moved the cursor to
another task (Enter opened it) or off the screen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from textual.widgets import DataTable, Static

from console.core.clock import FixedClock
from console.core.feed import StaticFeed
from console.core.state import ClusterState
from console.core.taskview import TaskWindow
from console.ui.app import create_app
from console.ui.screens.help import HelpScreen
from console.ui.screens.task_detail import TaskDetailScreen
from console.ui.widgets.task_list import TaskList
from tests.snapshots.replies import FakeRemote

T0 = 1_767_225_000.0
HOST = "w1@h"
SIZE = (120, 30)


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def _state(clock: FixedClock, n_waiting: int = 0) -> ClusterState:
    state = ClusterState(clock=clock)
    events: list[dict[str, Any]] = [
        {"type": "worker-online", "hostname": HOST, "timestamp": T0, "freq": 2.0},
        {"type": "task-received", "uuid": "t-done", "name": "job", "hostname": HOST,
         "timestamp": T0 + 0.1},
        {"type": "task-started", "uuid": "t-done", "hostname": HOST, "timestamp": T0 + 0.1},
        {"type": "task-succeeded", "uuid": "t-done", "hostname": HOST, "timestamp": T0 + 0.3,
         "runtime": 0.2},
        {"type": "task-received", "uuid": "t-run", "name": "job", "hostname": HOST,
         "timestamp": T0 + 0.4},
        {"type": "task-started", "uuid": "t-run", "hostname": HOST, "timestamp": T0 + 0.5},
        {"type": "worker-heartbeat", "hostname": HOST, "timestamp": T0 + 0.6, "freq": 2.0,
         "active": 1, "processed": 5},
    ]  # fmt: skip
    for i in range(n_waiting):
        events.append(
            {"type": "task-received", "uuid": f"w-{i:03d}", "name": "wait", "hostname": HOST,
             "timestamp": T0 + 1 + i}
        )  # fmt: skip
    state.apply_batch(events)
    return state


def _app(state: ClusterState, clock: FixedClock, remote: Any = None, initial: str = "tasks"):
    return create_app(
        None,
        StaticFeed(state),
        clock=clock,
        remote=remote,
        poll_interval=0,
        refresh=0.05,
        initial=initial,
        cursor_blink=False,
    )


async def until(pilot: Any, predicate: Callable[[], Any], what: str, tries: int = 60) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


def lines(tl: TaskList) -> list[str]:
    return [tl.render_line(y).text for y in range(1, tl.size.height)]


def line_of(tl: TaskList, uuid: str) -> str:
    """The painted line of a task (the ID column is off at 120 columns: find it by args)."""
    for y in range(1, tl.size.height):
        row = tl.row_at(int(tl.scroll_offset.y) + y - 1)
        if row is not None and row[0] == uuid:
            return tl.render_line(y).text
    raise AssertionError(f"{uuid} not on screen: {lines(tl)}")


def bar(app: Any) -> str:
    return str(app.screen.query_one("#tasks-bar", Static).render())


# -- 15.5 rows never lie -------------------------------------------------------


@sync
async def test_a_revoke_sent_shows_until_the_worker_confirms() -> None:
    clock = FixedClock(T0 + 1)
    state = _state(clock)
    remote = FakeRemote()
    app = _app(state, clock, remote)
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == 2, "both tasks listed")
        app.screen.set_quick("running")
        await until(pilot, lambda: tl.selected == "t-run", "the running task selected")
        await pilot.press("x")
        await until(pilot, lambda: getattr(app.screen, "shown_at", None), "the dialog shown")
        await pilot.press("y")
        await until(pilot, lambda: remote.mutating_calls, "the revoke sent")
        app.screen.set_quick("all")
        await until(pilot, lambda: "revoke sent" in line_of(tl, "t-run"), "marked revoke sent")
        assert "STARTED" not in line_of(tl, "t-run")
        assert "revoke sent" not in line_of(tl, "t-done")  # finished: nothing to revoke
        # the worker's event confirms: the row says so, the mark is gone
        state.apply({"type": "task-revoked", "uuid": "t-run", "timestamp": T0 + 2})
        await until(pilot, lambda: "REVOKED" in line_of(tl, "t-run"), "REVOKED from the event")
        assert "revoke sent" not in line_of(tl, "t-run")


@sync
async def test_tasks_of_an_offline_worker_are_lost_and_it_shows_nothing_current() -> None:
    clock = FixedClock(T0 + 1)
    state = _state(clock)
    clock.advance(30)  # no heartbeat for > 2 x freq: the worker expired
    assert HOST in state.expire_workers()
    app = _app(state, clock, initial="workers")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, "the worker listed")
        row = [str(v) for v in table.get_row(HOST)]
        assert "offline" in row[1]
        assert row[2] == "-", row  # ACT: not "1" as if it were running something now
        assert row[5] == "-", row  # RATE/s
        assert row[3] == "5"  # DONE: its last heartbeat's count (history, labelled in ?)
        await pilot.press("2")
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == 2, "the tasks listed")
        assert "lost?" in line_of(tl, "t-run")
        assert "STARTED" not in line_of(tl, "t-run")
        assert "SUCCESS" in line_of(tl, "t-done")


@sync
async def test_help_says_what_each_worker_column_counts() -> None:
    clock = FixedClock(T0 + 1)
    app = _app(_state(clock), clock, initial="workers")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help open")
        text = str(app.screen.query_one("#help-columns", Static).render())
        assert "heartbeat's 'processed'" in text  # DONE
        assert "saw in events" in text and "need not add up" in text  # OK/FAIL
        assert "revoke sent" in text and "lost?" in text


# -- 15.6 the cursor stays with what you see -----------------------------------


@sync
async def test_running_tasks_show_elapsed_time_and_sort_first_by_runtime() -> None:
    clock = FixedClock(T0 + 100.5)
    state = _state(clock)
    app = _app(state, clock)
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == 2, "both tasks listed")
        assert "1m40s+" in line_of(tl, "t-run")  # started at T0+0.5, still running
        assert "200ms" in line_of(tl, "t-done")
        app.screen.set_sort("runtime", reverse=True)
        await until(pilot, lambda: tl.window.spec.sort == "runtime", "sorted by runtime")
        assert tl.row_at(0)[0] == "t-run"  # the long-running (stuck?) task comes first
        clock.advance(60)
        await until(pilot, lambda: "2m40s+" in line_of(tl, "t-run"), "elapsed time moves on")


@sync
async def test_pause_freezes_the_list_and_counts_what_arrives() -> None:
    clock = FixedClock(T0 + 1)
    state = _state(clock, n_waiting=5)
    app = _app(state, clock)
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == 7, "the tasks listed")
        before = lines(tl)
        await pilot.press("p")
        await until(pilot, lambda: "PAUSED" in bar(app), "PAUSED in the bar")
        for i in range(3):
            state.apply(
                {"type": "task-received", "uuid": f"new-{i}", "name": "new", "hostname": HOST,
                 "timestamp": T0 + 50 + i}
            )  # fmt: skip
        await until(pilot, lambda: "3 new" in bar(app), "new rows counted")
        await pilot.pause(0.3)
        assert lines(tl) == before  # frozen: nothing moved under the cursor
        await pilot.press("p")
        await until(pilot, lambda: tl.matched == 10, "live again")
        assert "PAUSED" not in bar(app)
        assert "new-2" == tl.row_at(0)[0]


@sync
async def test_enter_opens_the_highlighted_task_when_rows_arrive_before_it() -> None:
    clock = FixedClock(T0 + 1)
    state = _state(clock, n_waiting=40)
    app = _app(state, clock)
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == 42, "the tasks listed")
        await pilot.press("down", "down")
        await until(pilot, lambda: tl.window.spec.cursor == tl.selected, "the cursor followed")
        painted = tl.selected
        assert tl.row_at(tl.cursor)[0] == painted  # painted under the cursor
        # rows arrive between painting and Enter, in an answer to a request made before
        # the cursor moved (its spec follows another task): the newest on top
        w = tl.window
        fresh = w.rows[0]._replace(uuid="late-row")
        late = TaskWindow(
            spec=dataclasses.replace(w.spec, cursor=None),
            total=w.total + 1,
            matched=w.matched + 1,
            offset=0,
            rows=[fresh, *w.rows],
            cursor_index=None,
        )
        tl.set_window(late)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TaskDetailScreen), "detail open")
        assert app.selected_task == painted


@sync
async def test_the_cursor_row_stays_on_screen_when_rows_arrive_above() -> None:
    clock = FixedClock(T0 + 1)
    state = _state(clock, n_waiting=60)
    app = _app(state, clock)
    async with app.run_test(size=SIZE) as pilot:
        tl = app.screen.query_one(TaskList)
        await until(pilot, lambda: tl.matched == 62, "the tasks listed")
        height = tl.scrollable_content_region.height - 1
        for _ in range(height - 2):  # near the bottom of the screen
            await pilot.press("down")
        await until(pilot, lambda: tl.window.spec.cursor == tl.selected, "the cursor followed")
        chosen = tl.selected
        for i in range(10):  # ten newer tasks arrive above it
            state.apply(
                {"type": "task-received", "uuid": f"new-{i}", "name": "new", "hostname": HOST,
                 "timestamp": T0 + 100 + i}
            )  # fmt: skip
        await until(pilot, lambda: tl.matched == 72, "the new rows arrived")
        await pilot.pause(0.2)
        assert tl.selected == chosen
        top = int(tl.scroll_offset.y)
        assert top <= tl.cursor < top + height, (top, tl.cursor, height)
        line_of(tl, chosen)  # painted on screen
