"""Snapshot tests of every console screen at 80x24 and 160x48.

Driven by a recorded event stream replayed without a broker (ReplayFeed,
speed 0) with a FixedClock, recorded remote-control replies (FakeRemote) and
fixed queue depths: deterministic.  Update on purpose with
``pytest tests/snapshots --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .events import HOSTILE_ID, uid

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def goto(*keys: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


SCREENS = {
    "workers": ("1",),
    "tasks": ("2",),
    "active": ("3",),
    "reserved": ("4",),
    "scheduled": ("5",),
    "revoked": ("6",),
    "beat": ("8",),
    "queues": ("9",),
    "help": ("question_mark",),
    "task_detail_failed": ("2", "slash", *"always_fails", "enter", "enter"),
    "tasks_filter_failed": ("2", "F"),
    "tasks_sorted_by_name": ("2", "s", "s"),
    "confirm_revoke": ("2", "f", "f", "f", "f", "x"),  # a running task (finished: no dialog)
    "worker_detail": ("1", "enter"),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    screen: str,
    size: tuple[int, int],
    snap_compare: Any,
    make_console: Any,
    fake_queue_depths: None,
) -> None:
    app = make_console()
    assert snap_compare(app, terminal_size=size, run_before=goto(*SCREENS[screen]))


@pytest.mark.parametrize("size", SIZES)
def test_canvas(size: tuple[int, int], snap_compare: Any, make_console: Any) -> None:
    """The chord of sample_proj.pipeline: process_images -> 2 chains -> ..."""
    app = make_console()

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.selected_task = uid(912)  # an upload deep in the canvas
        await pilot.press("7")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_hostile_task_detail(size: tuple[int, int], snap_compare: Any, make_console: Any) -> None:
    """Markup / ANSI / OSC 8 / bidi in name, args and result are shown as literal, escaped text."""
    app = make_console()

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.open_task(HOSTILE_ID)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_replay_without_broker(snap_compare: Any, make_console: Any) -> None:
    """No settings (pure replay): remote-control screens say why they are empty."""
    app = make_console(with_settings=False, remote=None)
    app._remote = None
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto("3"))


DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_events.jsonl.gz"
DEMO_VIEWS = {
    "tasks": ("2",),
    "workers": ("1",),
    "failed": ("2", "F"),
    "hostile_detail": ("2", "slash", *"x1b", "enter", "enter"),
}


@pytest.mark.skipif(not DEMO.exists(), reason="tests/data/demo_events.jsonl.gz not present")
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", list(DEMO_VIEWS))
def test_recorded_demo_stream(
    view: str, size: tuple[int, int], snap_compare: Any, make_console: Any
) -> None:
    """The intake engineer's recording of real sample_proj traffic (incl. a hostile task)."""
    app = make_console(path=DEMO)
    assert snap_compare(app, terminal_size=size, run_before=goto(*DEMO_VIEWS[view]))


@pytest.mark.parametrize("screen", ["tasks", "task_detail_failed"])
def test_monochrome(
    screen: str,
    snap_compare: Any,
    make_console: Any,
    fake_queue_depths: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NO_COLOR: Textual paints in grays; states keep their marks (✓ ✗ ↻ ⊘ ▶), the
    cursor row its reverse shade and bold, tracebacks stay readable."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_console()
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto(*SCREENS[screen]))
