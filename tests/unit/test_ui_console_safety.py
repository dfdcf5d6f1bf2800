# ruff: noqa: F811  (pytest fixtures imported from tests/snapshots/conftest.py)
"""A console safe in a hurried operator's hands (issue 15): nothing crashes, no action
without a visible confirmation, confirmations name the exact target, forms check
before they ask; every value from the cluster is inert in inputs too (issue 16.1).

Runs over the replayed recording of tests/snapshots (FixedClock, FakeRemote).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from textual import events
from textual.widgets import Input

from console.ui.app import CRASH_EXIT, MODE_TITLES
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.form import FormScreen
from console.ui.widgets.task_list import TaskList
from tests.keyfuzz import REPLAY_KEYS, fuzz
from tests.snapshots.conftest import fake_queue_depths, make_console, recording  # noqa: F401
from tests.snapshots.replies import FakeRemote

SIZE = (120, 40)


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def burst(app: Any, keys: str | list[str]) -> None:
    """Keys posted together, as a terminal delivers a paste: no frame in between."""
    for k in keys:
        name = {"/": "slash"}.get(k, k)
        app.post_message(events.Key(name, k if len(k) == 1 else None))


async def shown(pilot: Any) -> None:
    """Wait until the dialog on top was painted (it accepts keys typed from now on)."""
    for _ in range(50):
        await pilot.pause()
        if getattr(pilot.app.screen, "shown_at", None) is not None:
            return
    raise AssertionError("dialog never shown")


# -- 1. nothing crashes ------------------------------------------------------


@sync
async def test_keystroke_fuzzer_every_screen_from_a_fresh_start(
    make_console: Any, fake_queue_depths: Any
) -> None:
    """Seeded random keys (bound keys, letters, digits, Enter/Escape/Tab/arrows, bursts)
    on every screen from a fresh start: no unhandled exception, no display error."""
    remote = FakeRemote()
    failures = []
    for mode in MODE_TITLES:
        result = await fuzz(
            lambda m: make_console(initial=m, remote=remote), mode, seed=15, n_keys=REPLAY_KEYS
        )
        assert len(result.keys) >= REPLAY_KEYS or result.problems, mode
        if result.problems:
            failures.append(str(result))
    assert not failures, "\n".join(failures)


@sync
async def test_canvas_key_on_tasks_before_canvas_was_opened(make_console: Any) -> None:
    """`c` on Tasks on a fresh start crashed with NoMatches '#canvas-bar'."""
    app = make_console(initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        uid = app.screen.query_one(TaskList).selected
        await pilot.press("c")
        await settle(pilot)
        assert app.current_mode == "canvas" and app.screen.uuid == uid
    assert not app.crashed and not any("display error" in m for m in app._reported)


def test_a_crash_exits_non_zero_with_one_line_and_a_report(
    make_console: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.ui.screens.tasks import TasksScreen

    def boom(self: Any) -> None:
        raise RuntimeError("boom from s (password s3cret-pass)")

    monkeypatch.setattr(TasksScreen, "action_sort_next", boom)
    app = make_console(initial="tasks")

    async def auto_pilot(pilot: Any) -> None:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()

    code = app.run(headless=True, size=SIZE, auto_pilot=auto_pilot)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == CRASH_EXIT
    assert len(err) == 1, err
    assert err[0].startswith("ctl console: crashed (RuntimeError: boom from s")
    assert "s3cret-pass" not in err[0]
    path = err[0].rsplit("crash report: ", 1)[1]
    report = open(path, encoding="utf-8").read()
    assert "Traceback" in report and "boom" in report and "s3cret-pass" not in report


# -- 2. no action without a visible confirmation ---------------------------


async def _running(pilot: Any) -> str:
    app = pilot.app
    app.screen.set_quick("running")
    await settle(pilot)
    uid = app.screen.query_one(TaskList).selected
    assert uid
    return str(uid)


@sync
async def test_keys_typed_before_the_dialog_do_not_answer_it(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        uid = await _running(pilot)
        burst(app, "xy")  # x opens the dialog, y was typed before it was shown
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert remote.mutating_calls == []
        await shown(pilot)
        await pilot.press("y")  # typed after it was shown: confirms
        await settle(pilot)
        assert remote.mutating_calls == [("revoke", ([uid], False, "SIGTERM"))]


@sync
async def test_enter_and_escape_mean_no(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _running(pilot)
        for key in ("enter", "escape", "tab,enter"):
            await pilot.press("x")
            await shown(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press(*key.split(","))
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmScreen), key
        assert remote.mutating_calls == []


@sync
async def test_slash_sends_the_rest_of_the_burst_into_the_filter(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _running(pilot)
        burst(app, "/xy")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.screen.query_one("#tasks-filter", Input).value == "xy"
        burst(app, "ss")
        await settle(pilot)
        assert app.screen.query_one("#tasks-filter", Input).value == "xyss"
        burst(app, "/")  # in the filter "/" is a character
        await settle(pilot)
        assert app.screen.query_one("#tasks-filter", Input).value == "xyss/"
        assert app.model.view.sort == "timestamp"  # the sort never changed
    assert remote.mutating_calls == []


@sync
async def test_purge_burst_purges_nothing(make_console: Any, fake_queue_depths: Any) -> None:
    app = make_console(initial="queues")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.action_refresh()
        await settle(pilot)
        burst(app, "Py")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        # the dialog names the queue and the message count shown
        assert "celery" in app.screen.description and "1234" in app.screen.description
        await pilot.press("escape")
        await settle(pilot)
    assert not [a for a in app.action_log if a.action == "purge"]


# -- 3. confirmations name the exact target -------------------------------


@sync
async def test_finished_task_has_nothing_to_revoke(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.set_quick("succeeded")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        notes = [n.message for n in app._notifications]
        assert any("already finished: nothing to revoke" in m for m in notes), notes
    assert remote.mutating_calls == []


@sync
async def test_revoke_dialog_names_id_name_and_state(make_console: Any) -> None:
    app = make_console(initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        uid = await _running(pilot)
        name = app.model.tasks[uid][1]
        await pilot.press("x")
        await shown(pilot)
        text = app.screen.description
        assert uid in text and name in text and "STARTED" in text, text
        await pilot.press("n")


@sync
async def test_terminate_form_and_dialog_say_the_same_signal(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        uid = await _running(pilot)
        await pilot.press("X")
        await shown(pilot)
        assert isinstance(app.screen, FormScreen)
        assert "SIGTERM" not in app.screen.title_text  # the form does not pre-announce a signal
        app.screen.query_one("#field-signal").value = "SIGKILL"
        app.screen.query_one("#ok").press()
        await shown(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "SIGKILL" in app.screen.description and "SIGTERM" not in app.screen.description
        await pilot.press("y")
        await settle(pilot)
    assert remote.mutating_calls == [("revoke", ([uid], True, "SIGKILL"))]


# -- 4. forms check before they ask; 16.1 inert inputs ----------------------


@sync
async def test_forms_validate_as_typed_and_are_not_prefilled(make_console: Any) -> None:
    remote = FakeRemote()
    app = make_console(initial="tasks", remote=remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("L")
        await shown(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        soft = form.query_one("#field-soft", Input)
        hard = form.query_one("#field-hard", Input)
        assert soft.value == "" and hard.value == "" and soft.placeholder and hard.placeholder
        # `L`, Enter, `y` used to set a 120 s hard limit on every worker
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        form.query_one("#field-task_name", Input).value = "sample_proj.tasks.add"
        soft.value, hard.value = "200abc", "100"
        await settle(pilot)
        assert "-invalid" in soft.classes
        assert "number" in str(form.query_one("#error-soft").render())
        form.query_one("#ok").press()
        await settle(pilot)
        assert app.screen is form  # refused before asking
        soft.value = "200"  # soft above hard
        await settle(pilot)
        form.query_one("#ok").press()
        await settle(pilot)
        assert app.screen is form
        assert "soft limit must not be above" in str(form.query_one("#form-error").render())
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("l")
        await shown(pilot)
        rate = app.screen.query_one("#field-rate_limit", Input)
        assert rate.value == "" and rate.placeholder
        for bad in ("200abc", "10/x", "-1/m", "ten"):
            rate.value = bad
            await pilot.pause()
            assert "-invalid" in rate.classes, bad
        for good in ("10/m", "0", "0.5/s", "100"):
            rate.value = good
            await pilot.pause()
            assert "-invalid" not in rate.classes, good
    assert remote.mutating_calls == []


@sync
async def test_cluster_values_in_inputs_are_inert(make_console: Any) -> None:
    """A task name carrying OSC 52 (clipboard) / title escapes reached the Input raw."""
    from console.ui.screens.form import FormScreen

    app = make_console(initial="tasks")
    hostile = "evil\x1b]52;c;ZXZpbA==\x1b\\\x1b]0;pwned\x07\x9b31m\u202e"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(FormScreen(f"title {hostile}", (("task_name", hostile, hostile),)))
        await shown(pilot)
        box = app.screen.query_one("#field-task_name", Input)
        for text in (box.value, box.placeholder, app.screen.title_text):
            assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
            assert "\u202e" not in text


# -- 7. times say their zone; 16.11 the header never shows a stale rate as live


def test_times_are_local_by_default_and_utc_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from console.ui import fmt

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        fmt.set_zone(False)
        assert fmt.clock_time(3600.0) == "06:30:00" and fmt.zone_name(3600.0) == "IST"
        assert fmt.clock_time(3600.0, date=True) == "1970-01-01 06:30:00.000 IST"
        fmt.set_zone(True)
        assert fmt.clock_time(3600.0) == "01:00:00" and fmt.zone_name() == "UTC"
    finally:
        fmt.set_zone(True)
        monkeypatch.delenv("TZ")
        time.tzset()


@sync
async def test_header_names_the_zone(make_console: Any) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert str(app.screen.query_one("#hdr-status").render()).endswith(" UTC")


def test_rate_decays_and_says_no_events_when_nothing_arrives() -> None:
    from console.core.feed import FeedStatus
    from console.ui.widgets.header import rate_text

    def status(mode: str, last: float) -> Any:
        return FeedStatus(mode=mode, last_event=last)

    now = 1000.0
    assert rate_text(461.0, status("live", now - 0.5), now, 2, 2) == "461.0 tasks/s"
    assert rate_text(461.0, status("live", now - 5), now, 2, 2) == "230.5 tasks/s"
    assert rate_text(461.0, status("live", now - 42), now, 2, 2) == "no events for 42 s"
    # every worker gone: no decaying figure, the silence itself
    assert rate_text(461.0, status("live", now - 3), now, 0, 2) == "no events for 3 s"
    assert rate_text(461.0, status("disconnected", now - 3), now, 2, 2) == "no live rate"
