"""``ctl beat``: every beat entry of the -A app, with last/next runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("beat")
    def beat(
        ctx: typer.Context,
        schedule_file: Annotated[
            Path,
            typer.Option("--schedule-file", "-s", help="celery beat's schedule (shelve) file."),
        ] = Path("celerybeat-schedule"),
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON document (see docs/CLI.md).")
        ] = False,
    ) -> None:
        """Beat entries of the -A app: name, task, schedule (in words and as written),
        args/kwargs/options, last run and total runs (from --schedule-file when readable),
        next run.  Needs -A (exit 2 without it).
        """
        from cli.app import settings_of
        from cli.output import emit_json, guard, out_console, warn_line
        from console.core.beat import beat_entries
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.sanitize import inert

        settings = settings_of(ctx)
        with guard(settings):
            if not settings.app_module:
                raise UsageError("beat needs the app module: ctl -A MODULE beat")
            entries, state_read = beat_entries(settings.app, str(schedule_file))
        if as_json:
            emit_json(
                {
                    "schedule_file": str(schedule_file),
                    "state_readable": state_read,
                    "entries": [e.as_dict() for e in entries],
                }
            )
        else:
            from rich.table import Table

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
                table.add_row(
                    inert(e.name),
                    inert(e.task),
                    inert(e.schedule_words),
                    inert(extra),
                    # (0 runs: celery's stored time is the schedule's start, not a run)
                    "never"
                    if e.total_run_count == 0
                    else e.last_run_at.isoformat(timespec="seconds")
                    if e.last_run_at
                    else "-",
                    str(e.total_run_count) if e.total_run_count is not None else "-",
                    e.next_run_at.isoformat(timespec="seconds") if e.next_run_at else "?",
                )
            console = out_console()
            console.print(table)
            console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
            if not state_read:
                warn_line(
                    f"schedule state not readable at {schedule_file} (last run / runs unknown)"
                )
        if not entries:
            raise typer.Exit(EXIT_NO_MATCH)
