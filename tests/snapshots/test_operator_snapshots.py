"""Snapshots of issue 13's UI states (replay, FixedClock, FakeRemote: deterministic).

Marked rows and the count in the bar, the bulk confirmation (count and first ids),
a filter error in the bar, the filter grammar at the end of ``?``.  Update on purpose
with ``--snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_console_snapshots import SIZES, goto

STATES = {
    "tasks_marked": ("2", "space", "space", "down", "space"),
    "confirm_bulk_revoke": ("2", "space", "space", "space", "x"),
    "tasks_filter_error": ("2", "slash", *"colour:red", "enter"),
    "tasks_filter_negated": ("2", "slash", *"-state:success|failure", "enter"),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", list(STATES))
def test_operator_state(
    state: str, size: tuple[int, int], snap_compare: Any, make_console: Any
) -> None:
    app = make_console()
    assert snap_compare(app, terminal_size=size, run_before=goto(*STATES[state]))
