"""Queues: broker queue depths (per priority on Redis), consumers, and the trend ("is the backlog growing?")."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..fmt import cell, clock_time
from ..messages import QueuesLoaded
from ..widgets.spark_text import spark
from ..widgets.table_widths import settle_widths, update_cell_growing
from .base import PolledScreen

HISTORY = 30


def trend(samples: deque[tuple[float, int]]) -> Text:
    """Change per minute over the samples we have: ``▲ +120/min``, ``▼ -30/min``, ``= steady``."""
    if len(samples) < 2:
        return Text("…", style="dim")
    (t0, d0), (t1, d1) = samples[0], samples[-1]
    span = max(t1 - t0, 1e-6)
    per_min = (d1 - d0) / span * 60
    if abs(d1 - d0) == 0:
        return Text("= steady")
    if per_min > 0:
        return Text(f"▲ +{per_min:.0f}/min", style="bold red")
    return Text(f"▼ {per_min:.0f}/min", style="green")


class QueuesScreen(PolledScreen):
    MODE = "queues"
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="queues.refresh"),
        Binding(
            "P", "do_purge", "Purge", id="queues.purge", tooltip="delete every message of the queue"
        ),
    ]
    DEFAULT_CSS = """
    QueuesScreen DataTable { height: 1fr; }
    QueuesScreen #queues-bar { height: 1; background: $boost; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, deque[tuple[float, int]]] = {}
        self.depths: list[Any] = []
        self.answer_at: float | None = None
        self._cells: dict[str, tuple[Any, ...]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(Text("asking the broker …"), id="queues-bar")
        table: DataTable[Any] = DataTable(id="queues-table", cursor_type="row")
        for key, title in (
            ("name", "QUEUE"),
            ("messages", "MESSAGES"),
            ("trend", "TREND"),
            ("spark", "HISTORY"),
            ("prio", "BY PRIORITY"),
            ("consumers", "CONSUMERS"),
            ("workers", "WORKERS"),
        ):
            table.add_column(title, key=key)
        yield table

    def unavailable(self) -> str | None:
        return (
            "queue depths need a broker (not available in replay mode)"
            if self.capp.settings is None
            else None
        )

    def start_poll(self) -> None:
        self._poll(self.capp.settings, self.capp.remote)

    @work(thread=True, exclusive=True, exit_on_error=False, group="queues-poll")
    def _poll(self, settings: Any, remote: Any) -> None:
        try:
            from console.core.queues import queue_depths

            depths, error = queue_depths(settings, rc=remote, timeout=1.0), None
        except Exception as exc:
            depths, error = None, self.capp.error_text(exc)
        self.post_message(QueuesLoaded(depths, error, self.capp.clock()))

    def on_queues_loaded(self, message: QueuesLoaded) -> None:
        self.answered(message.error)
        if message.depths is not None:
            self.answer_at = message.at
            self.depths = list(message.depths)
            for d in self.depths:
                self.history.setdefault(d.name, deque(maxlen=HISTORY)).append(
                    (message.at, int(d.messages))
                )
            self._fill()
        self._update_bar()
        self.schedule_next()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        names = {d.name for d in self.depths}
        for name in list(self._cells):
            if name not in names:
                table.remove_row(name)
                del self._cells[name]
        for d in self.depths:
            hist = self.history.get(d.name, deque())
            prio = " ".join(f"p{k}:{v}" for k, v in sorted(d.by_priority.items())) or "-"
            values = (
                cell(d.name, 60),
                Text(f"{d.messages:,}", justify="right", style="bold" if d.messages else ""),
                trend(hist),
                Text(spark([v for _, v in hist])),
                cell(prio, 60),
                Text(
                    "?" if d.consumers is None else str(d.consumers),
                    style="bold red" if d.consumers == 0 and d.messages else "",
                ),
                cell(", ".join(d.workers) or "-", 120),
            )
            old = self._cells.get(d.name)
            if old is None:
                table.add_row(*values, key=d.name)
            elif old != values:
                for key, new, prev in zip(
                    ("name", "messages", "trend", "spark", "prio", "consumers", "workers"),
                    values,
                    old,
                    strict=True,
                ):
                    if new != prev:
                        update_cell_growing(table, d.name, key, new)
            self._cells[d.name] = values
        settle_widths(table)

    def _update_bar(self) -> None:
        bar = Text(no_wrap=True, overflow="ellipsis")
        total = sum(d.messages for d in self.depths)
        bar.append(f"{len(self.depths)} queue(s), {total:,} message(s) waiting", style="bold")
        if self.answer_at is not None:
            bar.append(f" │ at {clock_time(self.answer_at)}")
        if self.error:
            bar.append(" │ ")
            bar.append(self.error[:300], style="bold red")
        self.query_one("#queues-bar", Static).update(bar)

    def current_queue(self) -> str | None:
        return self.cursor_key()  # rows are keyed by queue name

    def action_do_purge(self) -> None:
        name = self.current_queue()
        depth = next((d for d in self.depths if d.name == name), None)
        # the confirmation names the count shown (and the answer the count deleted)
        count = {"count": str(depth.messages)} if depth is not None else {}
        self.request("purge", name, **count)

    def on_action_result(self, message: Any) -> None:
        self.poll()
