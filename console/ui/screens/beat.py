"""Beat: every periodic entry, schedule in words, last run, run count, live countdown to the next run."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from console.core.sanitize import safe_text

from ..fmt import cell, clock_time, duration
from ..messages import BeatLoaded
from ..widgets.table_widths import settle_widths
from .base import ConsoleScreen

COLS = (
    ("name", "ENTRY"),
    ("countdown", "NEXT IN"),
    ("next", "NEXT RUN"),
    ("last", "LAST RUN"),
    ("runs", "RUNS"),
    ("schedule", "SCHEDULE"),
    ("task", "TASK"),
)


def _ts(value: Any) -> float | None:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.timestamp()
    return None


class BeatScreen(ConsoleScreen):
    MODE = "beat"
    BINDINGS = [Binding("r", "refresh", "Refresh", id="beat.refresh")]
    DEFAULT_CSS = """
    BeatScreen DataTable { height: 1fr; }
    BeatScreen #beat-bar { height: 1; background: $boost; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Any] = []
        self.state_known = False
        self.error: str | None = None
        self.loaded_at: float | None = None
        self.report: Any = None
        self._loading = False

    def compose_body(self) -> ComposeResult:
        yield Static(Text("reading the beat schedule …"), id="beat-bar")
        table: DataTable[Any] = DataTable(id="beat-table", cursor_type="row")
        for key, title in COLS:
            table.add_column(title, key=key)
        yield table

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    def schedule_file(self) -> str | None:
        """The file named by ``--beat-schedule`` / ``CTL_BEAT_SCHEDULE``, else None.

        None lets the core use the app's own ``beat_schedule_filename`` when the
        app sets one -- never Celery's default in the current directory.
        """
        path = self.capp.beat_schedule_file
        return str(path) if path else None

    def load(self) -> None:
        if self._loading:
            return
        if self.capp.settings is None:
            self.error = "beat entries need the app (-A MODULE); not available in replay mode"
            self._update_bar()
            return
        self._loading = True
        self._load(self.capp.settings, self.schedule_file())

    @work(thread=True, exclusive=True, exit_on_error=False, group="beat")
    def _load(self, settings: Any, schedule_file: str | None) -> None:
        at = self.capp.clock()
        try:
            from console.core.beat import read_beat

            now = _dt.datetime.fromtimestamp(at, tz=_dt.UTC)
            report = read_beat(settings.app, schedule_file, now=now)
            self.post_message(BeatLoaded(report, None, at))
        except Exception as exc:
            self.post_message(BeatLoaded(None, self.capp.error_text(exc), at))

    def on_beat_loaded(self, message: BeatLoaded) -> None:
        self._loading = False
        self.error = message.error
        if message.entries is not None:
            self.report = message.entries
            self.entries = self.report.entries
            self.state_known = self.report.state_readable
            self.loaded_at = message.at
            table = self.query_one(DataTable)
            table.clear()
            for e in self.entries:
                table.add_row(*self._cells(e), key=e.name)
            settle_widths(table)
        self._update_bar()

    def _countdown(self, e: Any) -> Text:
        nxt = _ts(e.next_run_at)
        if nxt is None:
            return Text("?")
        left = nxt - self.capp.clock()
        if left <= 0:
            return Text("due", style="bold yellow")
        return Text(duration(left), style="bold" if left < 60 else "")

    def _cells(self, e: Any) -> tuple[Any, ...]:
        # celery stores a never-run entry's start time as its "last run" (the schedule's
        # reference point); with a run count of 0 it has not run
        last = _ts(e.last_run_at) if e.total_run_count != 0 else None
        return (
            cell(e.name, 60),
            self._countdown(e),
            Text(self._when(_ts(e.next_run_at))),
            Text(self._when(last) if last else ("never" if self.state_known else "unknown")),
            Text(str(e.total_run_count) if e.total_run_count is not None else "-"),
            cell(e.schedule_words, 80),
            cell(e.task, 80),
        )

    def _when(self, ts: float | None) -> str:
        """The clock time, with the date in front when it is not today."""
        if ts is None:
            return "-"
        if clock_time(ts, date=True)[:10] == clock_time(self.capp.clock(), date=True)[:10]:
            return clock_time(ts)
        return clock_time(ts, date=True)[:10] + " " + clock_time(ts)

    def tick(self) -> None:
        """Live countdown (every second while visible); reload once an entry is due."""
        if not self.entries:
            return
        table = self.query_one(DataTable)
        due = False
        for e in self.entries:
            text = self._countdown(e)
            due = due or text.plain == "due"
            try:
                table.update_cell(e.name, "countdown", text)
            except Exception:
                pass
        if due and self.loaded_at is not None and self.capp.clock() - self.loaded_at > 2:
            self.load()

    def _update_bar(self) -> None:
        bar = Text(no_wrap=True, overflow="ellipsis")
        bar.append(
            f"{len(self.entries)} entr{'y' if len(self.entries) == 1 else 'ies'}", style="bold"
        )
        if self.entries and self.report is not None:
            bar.append(" │ crontabs in ")
            bar.append(safe_text(self.report.timezone, 40, oneline=True))
        if self.entries:
            state = self.report.state if self.report is not None else None
            if state is not None and state.readable:
                bar.append(" │ last run / run count from ")
                bar.append(safe_text(state.path, 80, oneline=True))
                if state.written_at is not None:
                    bar.append(f", written by beat {self._when(state.written_at.timestamp())}")
            else:
                bar.append(" │ last run / run count unknown: ")
                bar.append(
                    safe_text(state.error if state is not None else "", 200, oneline=True),
                    style="yellow",
                )
        elif not self.error:
            bar.append(" │ no beat_schedule in this app (start the console with -A MODULE)")
        if self.error:
            bar.append(" │ ")
            bar.append(self.error[:300], style="bold red")
        self.query_one("#beat-bar", Static).update(bar)

    def action_refresh(self) -> None:
        self.load()
