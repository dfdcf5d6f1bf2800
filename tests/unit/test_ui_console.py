# ruff: noqa: F811  (pytest fixtures imported from tests/snapshots/conftest.py)
"""Console UI without a broker: navigation, filtering, sorting, read-only, hostile data, first frame.

Uses the snapshot fixtures (replayed recording, FixedClock, FakeRemote).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from rich.segment import Segment
from textual.geometry import Region
from textual.widgets import Static

from console.ui.actions import ACTIONS, ActionRequest
from console.ui.model import T_NAME, T_STATE
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.form import FormScreen
from console.ui.widgets.task_list import TaskList
from tests.snapshots.conftest import fake_queue_depths, make_console, recording  # noqa: F401
from tests.snapshots.events import HOSTILE_ID, HOSTILE_NAME
from tests.snapshots.replies import FakeRemote

SIZE = (120, 40)


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body with asyncio (no async pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def visible_rows(tl: TaskList) -> list[str]:
    return [tl.render_line(y).text for y in range(1, min(tl.matched, tl.size.height - 1) + 1)]


def strips_of(widget: Any) -> list[Any]:
    return widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))


def assert_inert(segments: list[Segment]) -> None:
    for seg in segments:
        style = seg.style
        if style is None:
            continue
        assert not style.link, f"link in {seg.text!r}"
        meta = style.meta or {}
        assert not any(str(k).startswith("@") for k in meta), f"action meta in {seg.text!r}: {meta}"


@sync
async def test_first_frame_and_navigation(make_console: Any) -> None:
    app = make_console()
    t0 = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.first_frame is not None and app.first_frame < 1.0
        assert time.perf_counter() - t0 < 5
        for key, mode in (
            ("2", "tasks"),
            ("3", "active"),
            ("4", "reserved"),
            ("5", "scheduled"),
            ("6", "revoked"),
            ("7", "canvas"),
            ("8", "beat"),
            ("9", "queues"),
            ("1", "workers"),
        ):
            await pilot.press(key)
            await settle(pilot)
            assert app.current_mode == mode
            assert type(app.screen).__name__ != "HelpScreen"
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "workers"


@sync
async def test_tasks_filter_sort_quick(make_console: Any) -> None:
    app = make_console(initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tl = app.screen.query_one(TaskList)
        total = tl.matched
        assert total == len(app.feed.state.tasks) == app.model.total_tasks > 30
        assert len(tl.window.rows) >= min(total, 20)  # the rows on screen (and a margin), not all

        def rows() -> list[Any]:
            return tl.window.rows

        # filter as you type
        await pilot.press("slash", *"pipeline")
        await pilot.pause()
        assert 0 < tl.matched < total
        assert rows() and all("pipeline" in r[T_NAME] for r in rows())
        assert "filter: pipeline" in str(app.screen.query_one("#tasks-bar").render())
        await pilot.press("escape")
        await pilot.pause()
        assert tl.matched == total
        # field filter
        await pilot.press("slash", *"state:failure", "enter")
        await pilot.pause()
        assert [r[T_STATE] for r in rows()] == ["FAILURE"] and tl.matched == 1
        await pilot.press("escape")
        # quick filters
        await pilot.press("F")
        await pilot.pause()
        assert {r[T_STATE] for r in rows()} == {"FAILURE"}
        await pilot.press("f")  # next quick filter: retrying
        await pilot.pause()
        assert {r[T_STATE] for r in rows()} == {"RETRY"}
        app.screen.set_quick("all")
        # sort by name, ascending then descending
        app.screen.set_sort("name", reverse=False)
        await pilot.pause()
        names = [str(r[T_NAME]) for r in rows()]
        assert names == sorted(names, key=str.lower) or names == sorted(names)
        await pilot.press("S")
        await pilot.pause()
        every = [str(app.feed.state.task_row(u)[T_NAME]) for u in app.feed.state.tasks]
        assert str(rows()[0][T_NAME]) == max(every, key=str.lower)
        # the cursor follows its task across re-sorts; down + enter opens the next one
        before = tl.cursor
        await pilot.press("down")
        assert tl.cursor == before + 1
        expected = tl.selected
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "TaskDetailScreen"
        assert app.screen.uuid == expected


@sync
async def test_read_only_refuses_every_action(make_console: Any, fake_queue_depths: None) -> None:
    remote = FakeRemote()
    app = make_console(read_only=True, remote=remote)
    action_keys = ["x", "X", "C", "l", "L", "plus", "minus", "a", "o", "O", "K", "P"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for screen_key in "123456789":
            await pilot.press(screen_key)
            await settle(pilot)
            for key in action_keys:
                await pilot.press(key)
                await pilot.pause()
                assert not isinstance(app.screen, ConfirmScreen | FormScreen), (screen_key, key)
        # the task detail too
        app.open_task(HOSTILE_ID)
        await settle(pilot)
        for key in action_keys:
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen | FormScreen)
        # direct calls (palette path) are refused as well
        for action_id in ACTIONS:
            assert app.request_action(action_id, "x", params={"n": "1"}) is False
        worker = app.run_action_request(ActionRequest("shutdown", "alpha@demo"))
        await worker.wait()
        await settle(pilot)
        assert app.action_log and app.action_log[-1].summary == "refused: read-only"
        # actions are hidden from the footer and palette
        assert app.screen.check_action("do_revoke", ()) is False
        from console.ui.commands import ConsoleCommands

        provider = ConsoleCommands(app.screen)
        assert not [name for name, *_ in provider._commands() if name.startswith("Action:")]
    assert remote.mutating_calls == []


@sync
async def test_read_only_from_environment(
    make_console: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTL_READ_ONLY", "1")
    app = make_console()
    assert app.read_only


@sync
async def test_hostile_data_renders_inert(make_console: Any) -> None:
    app = make_console(initial="tasks")
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        tl = app.screen.query_one(TaskList)
        await pilot.press("slash", *f"id:{HOSTILE_ID}", "enter")  # the filter searches it as shown
        await settle(pilot)
        assert [r[0] for r in tl.window.rows] == [HOSTILE_ID]
        row_strip = tl.render_line(1)
        text = row_strip.text
        assert "[bold red]evil[/]" in text
        assert "\\x1b[31" in text
        assert "\x1b" not in text and "\x07" not in text
        assert "[link=http://evil.example]click me[/link]" in text
        assert_inert(list(row_strip))
        # detail: name, args (OSC 8 hyperlink, bidi override), result ([@click=...], BEL, clear screen)
        app.open_task(HOSTILE_ID)
        await settle(pilot)
        screen = app.screen
        shown = ""
        for static in screen.query(Static):
            for strip in strips_of(static):
                assert_inert(list(strip))
                shown += strip.text + "\n"
        assert HOSTILE_NAME.replace("\x1b", "\\x1b") in shown
        assert "\\x1b]8;;http://evil.example\\x1b\\osc8" in shown
        assert "\\u202egnp.exe" in shown
        assert "[@click=app.quit]quit[/] \\x07\\x1b[2J" in shown
        assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown


@sync
async def test_confirmation_names_the_action_and_no_means_no(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.set_quick("running")  # a finished task has nothing to revoke (no dialog)
        await settle(pilot)
        uid = app.screen.query_one(TaskList).selected
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert uid in app.screen.description and "Revoke" in app.screen.description
        await pilot.press("n")
        await settle(pilot)
        assert remote.mutating_calls == []
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert remote.mutating_calls == [("revoke", ([uid], False, "SIGTERM"))]
        # the answer is reported, including who did not answer
        assert "alpha@demo: ok" in app.action_log[-1].summary
        assert "no reply from bravo@demo" in app.action_log[-1].summary


@sync
async def test_remote_view_names_the_selected_task_from_the_reply(make_console: Any) -> None:
    """Active screen: the task under the cursor is named as its worker reported it (the
    task list holds only its window, so it may not know the task)."""
    app = make_console(initial="active")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.action_refresh()
        await settle(pilot)
        tid, name = app.screen.current_task()
        assert name == "sample_proj.tasks.sleepy", (tid, name)


@sync
async def test_canvas_names_the_selected_node(make_console: Any) -> None:
    from tests.snapshots.events import uid

    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.selected_task = uid(912)  # an upload deep in the pipeline's chord
        await pilot.press("7")
        await settle(pilot)
        tid, name = app.screen.current_task()
        assert tid == uid(912) and name == "sample_proj.pipeline.upload", (tid, name)


@sync
async def test_huge_values_are_capped_in_detail(make_console: Any) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        from console.ui.screens.task_detail import DETAIL_CAP, capped

        text = capped("A" * (DETAIL_CAP * 4))
        assert len(text.plain) < DETAIL_CAP + 200
        assert "more characters not shown" in text.plain


class BusyFeed:
    """A feed with something new on every poll (a busy live cluster), status flapping."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.n = 0

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def poll(self) -> Any:
        from console.core.feed import FeedStatus, StateDelta

        delta = self.inner.poll()
        self.n += 1
        if delta is None:
            rows = list(self.inner.state.tasks)[:50]
            delta = StateDelta(
                tasks=[self.inner.state.task_row(u) for u in rows],
                workers=[self.inner.state.worker_row(h) for h in self.inner.state.workers],
            )
        delta.status = FeedStatus(
            mode=("live", "reconnecting", "disconnected")[self.n % 3], last_event=1.0
        )
        return delta

    @property
    def status(self) -> Any:
        return self.inner.status

    def task_detail(self, uuid: str) -> Any:
        return self.inner.task_detail(uuid)

    def canvas(self, uuid: str) -> Any:
        return self.inner.canvas(uuid)


@sync
async def test_switching_screens_while_the_feed_is_busy(
    make_console: Any, fake_queue_depths: None
) -> None:
    """Regression: a repaint reaching a screen that is still composing must not kill the console."""
    app = make_console()
    app.feed = BusyFeed(app.feed)
    app.refresh_interval = 0.05
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in "234567891":
            await pilot.press(key)
            await pilot.pause(0.06)
        app.open_task(HOSTILE_ID)
        await pilot.pause(0.1)
        await pilot.press("escape")
        await settle(pilot)
        assert app.is_running
        assert not app._reported, app._reported
        header = app.screen.query_one("#hdr-status", Static)
        assert app.model.status.mode in ("live", "reconnecting", "disconnected")
        rendered = "".join(s.text for s in strips_of(header))
        if app.model.status.mode != "live":
            assert "STALE" in rendered


@sync
async def test_command_palette_has_every_screen_and_action(make_console: Any) -> None:
    from textual.command import CommandPalette

    from console.ui.commands import SCREEN_COMMANDS, ConsoleCommands

    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await pilot.pause()
        commands = {name: cb for name, cb, _ in ConsoleCommands(app.screen)._commands()}
        for _, title, _ in SCREEN_COMMANDS:
            assert f"Screen: {title}" in commands
        for spec in ACTIONS.values():
            assert f"Action: {spec.title}" in commands
        commands["Screen: Beat"]()
        await settle(pilot)
        assert app.current_mode == "beat"
        commands["Tasks: show failed"]()
        await settle(pilot)
        assert app.current_mode == "tasks" and app.model.view.quick == "failed"
        app.screen.set_quick("running")  # a failed task has nothing to revoke (no dialog)
        await settle(pilot)
        commands["Action: Revoke task"]()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Revoke task" in app.screen.description
        await pilot.press("n")
        await settle(pilot)
    assert remote.mutating_calls == []


@sync
async def test_ctrl_c_quits(make_console: Any) -> None:
    """Ctrl-C quits (not Textual's "press ctrl+q" notice), even from the tasks filter or a modal."""
    for keys in ((), ("question_mark",), ("2", "slash")):
        app = make_console()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
            await pilot.press("ctrl+c")
            await pilot.pause()
            assert not app.is_running, keys


@pytest.mark.parametrize("how", ["option", "env"])
def test_console_beat_schedule_option_reaches_create_app(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import cli.main
    import console.ui.app as app_mod

    seen: dict[str, Any] = {}

    class _App:
        def run(self) -> int:
            return 0

    def fake_create_app(*args: Any, **kwargs: Any) -> _App:
        seen.update(kwargs)
        return _App()

    monkeypatch.setattr(app_mod, "create_app", fake_create_app)
    monkeypatch.setattr("cli.commands.console_cmd._on_a_terminal", lambda: True)
    cli.main._register()
    argv = ["console", "--replay", "tests/data/demo_events.jsonl.gz"]
    env = {}
    if how == "option":
        argv += ["--beat-schedule", "/var/lib/celerybeat/celerybeat-schedule"]
    else:
        env["CTL_BEAT_SCHEDULE"] = "/var/lib/celerybeat/celerybeat-schedule"
    result = CliRunner().invoke(cli.main.app, argv, env=env)
    assert result.exit_code == 0, result.output
    assert seen["beat_schedule_file"] == "/var/lib/celerybeat/celerybeat-schedule"


@sync
async def test_beat_never_run_entries_show_no_last_run(make_console: Any) -> None:
    """celery stores a new entry's start time as last_run_at; with 0 runs it never ran."""
    import datetime as dt

    from console.core.beat import BeatEntry

    app = make_console(initial="beat")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.state_known = True
        at = dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC)
        new = BeatEntry(
            "new", "proj.add", "interval", "every 10 seconds", {}, last_run_at=at, total_run_count=0
        )
        ran = BeatEntry(
            "ran", "proj.add", "interval", "every 10 seconds", {}, last_run_at=at, total_run_count=3
        )
        assert screen._cells(new)[3].plain == "never"
        assert screen._cells(ran)[3].plain != "never" and screen._cells(ran)[4].plain == "3"
