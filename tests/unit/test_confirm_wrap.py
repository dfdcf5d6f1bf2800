"""A confirmation names the whole target: ids longer than the dialog wrap, never cut (16.9)."""

from __future__ import annotations

import asyncio

from textual.app import App

from console.ui.screens.confirm import ConfirmScreen

LONG = "nightly-report-2026-12-03-" + "x" * 140 + "-END"


class _Host(App[None]):
    def on_mount(self) -> None:
        self.push_screen(ConfirmScreen("Revoke task", f"Revoke task {LONG} (add, STARTED)."))


def test_a_long_task_id_is_wrapped_whole_in_the_dialog() -> None:
    async def run() -> list[str]:
        app = _Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            widget = app.screen.query_one("#confirm-text")
            return [
                "".join(seg.text for seg in strip)
                for strip in widget.render_lines(widget.region.reset_offset)
            ]

    lines = asyncio.run(run())
    assert len([line for line in lines if line.strip()]) >= 3  # it wrapped
    assert LONG in "".join(line.strip() for line in lines)  # and nothing was cut
    assert all(len(line) <= 80 for line in lines)
