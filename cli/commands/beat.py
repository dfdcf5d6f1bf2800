"""``ctl beat``: every beat entry of the -A app, with last/next runs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer


def when(value: datetime | None, today: Any) -> str:
    """``HH:MM:SS`` on ``today`` (a date), else ``YYYY-MM-DD HH:MM:SS``; ``-`` when unknown."""
    if value is None:
        return "-"
    if value.date() == today:
        return value.strftime("%H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("beat")
    def beat(
        ctx: typer.Context,
        schedule_file: Annotated[
            Path | None,
            typer.Option(
                "--schedule-file",
                "-s",
                help="celery beat's schedule file (beat -s FILE); default: the app's "
                "beat_schedule_filename if it sets one (never a file in the current directory "
                "that nobody named).",
                metavar="FILE",
            ),
        ] = None,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json", help="One JSON document: schedule_file, state_readable, entries."
            ),
        ] = False,
    ) -> None:
        """Beat entries of the -A app: name, task, schedule (in words and as written),
        args/kwargs/options, last run and total runs (from the schedule file when readable),
        next run.  Needs -A (exit 2 without it).
        """
        from cli.app import settings_of
        from cli.output import emit_json, guard, out_console, warn_line
        from console.core.beat import read_beat
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.sanitize import inert

        settings = settings_of(ctx)
        with guard(settings):
            if not settings.app_module:
                raise UsageError("beat needs the app module: ctl -A MODULE beat")
            celery_app = settings.app
            report = read_beat(celery_app, str(schedule_file) if schedule_file else None)
            now = celery_app.now().astimezone(celery_app.timezone)
        state = report.state
        entries = report.entries
        if as_json:
            emit_json(
                {
                    "schedule_file": state.path,
                    "state_readable": state.readable,
                    "state_error": state.error,
                    "schedule_file_written_at": state.written_at.isoformat()
                    if state.written_at
                    else None,
                    "timezone": report.timezone,
                    "entries": [e.as_dict() for e in entries],
                }
            )
        else:
            from rich.table import Table

            today = now.date()
            table = Table()
            for col in (
                "name",
                "task",
                "schedule",
                "args / kwargs / options",
                "last run",
                "runs",
                "next run",
            ):
                table.add_column(col, overflow="fold")
            for e in entries:
                extra = json.dumps(
                    {"args": e.args, "kwargs": e.kwargs, "options": e.options},
                    default=str,
                    ensure_ascii=False,
                )
                last = e.last_run_at.astimezone(celery_app.timezone) if e.last_run_at else None
                nxt = e.next_run_at.astimezone(celery_app.timezone) if e.next_run_at else None
                table.add_row(
                    inert(e.name),
                    inert(e.task),
                    inert(e.schedule_words),
                    inert(extra),
                    # (0 runs: celery's stored time is the schedule's start, not a run)
                    "never" if e.total_run_count == 0 else when(last, today),
                    str(e.total_run_count) if e.total_run_count is not None else "-",
                    when(nxt, today) if nxt else "?",
                )
            console = out_console()
            console.print(table)
            summary = (
                f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}; "
                f"times in {report.timezone} (today {today.isoformat()})"
            )
            if state.written_at is not None:
                written = state.written_at.astimezone(celery_app.timezone)
                summary += (
                    f"; schedule file written by beat at {when(written, today)} "
                    "(beat saves it every beat_sync_every runs / 3 min: last runs can lag)"
                )
            console.print(inert(summary))
            if not state.readable:
                warn_line(f"{state.error} (last run / runs unknown)")
        if not entries:
            raise typer.Exit(EXIT_NO_MATCH)
