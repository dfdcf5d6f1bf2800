"""``ctl tasks``: the newest stored tasks that match, from the result backend."""

from __future__ import annotations

from typing import Annotated, Any

import typer

HELP = """Tasks from the result backend, newest first by date done.

Lists what the backend still holds: results that expired (the app's
result_expires, 1 day by default) are gone, and a task that has not
finished has no record yet (use the console or `ctl inspect active` for
those).  Args, kwargs, name, worker and queue are stored only when the app
sets result_extended=True.  Reads Redis (SCAN + MGET, never KEYS, never a
write) and database backends (db+sqlite://, db+postgresql://, ...); other
backends exit 2.  A Redis scan reads every key up to --scan-limit or
--budget and says when it stopped early.

Exit 0 when something matched, 1 when nothing did, 2 for bad usage or a
backend that cannot be listed, 3 when the backend is unreachable.
"""


def _when(iso: str | None) -> str:
    from datetime import datetime

    if not iso:
        return ""
    when = datetime.fromisoformat(iso).astimezone()
    now = datetime.now().astimezone()
    if when.date() == now.date():
        return when.strftime("%H:%M:%S")
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any, width: int = 60) -> str:
    import json

    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _render(hist: Any) -> None:
    from rich.table import Table

    from cli.output import out_console
    from console.core.sanitize import inert

    table = Table(box=None, pad_edge=False)
    for title in ("DONE", "STATE", "NAME", "ID", "WORKER", "RETRIES", "RESULT", "ARGS"):
        table.add_column(title, no_wrap=title in ("DONE", "STATE", "ID"))
    for rec in hist.tasks:
        exc = rec["exception"]
        outcome = f"{exc['type']}: {exc['message']}" if exc else _cell(rec["result"])
        args = _cell([rec["args"], rec["kwargs"]]) if rec["args"] or rec["kwargs"] else ""
        cells = [
            _when(rec["date_done"]),
            rec["state"] or "",
            rec["name"] or "",
            rec["id"] or "",
            rec["worker"] or "",
            "" if rec["retries"] is None else str(rec["retries"]),
            _cell(outcome),
            args,
        ]
        table.add_row(*(inert(c) for c in cells))
    out_console().print(table)


def _summary(hist: Any) -> str:
    shown = len(hist.tasks)
    total = f" of ~{hist.total:,}" if hist.total is not None else ""
    unit = "records" if "db+" in hist.backend or "sql" in hist.backend else "keys"
    line = f"{shown} shown of {hist.matched:,} matching; read {hist.scanned:,}{total} {unit}"
    if hist.stopped:
        flag = "--scan-limit" if hist.stopped == "scan limit" else "--budget"
        line += f"; stopped at the {hist.stopped}: older tasks may be missing (raise {flag})"
    return line


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("tasks", help=HELP)
    def tasks(
        ctx: typer.Context,
        state: Annotated[
            list[str] | None,
            typer.Option(
                "--state",
                "-s",
                metavar="STATE",
                help="Only this state (repeatable, or comma-separated): SUCCESS, FAILURE, ...",
            ),
        ] = None,
        name: Annotated[
            str | None,
            typer.Option("--name", "-n", metavar="GLOB", help="Task name, * and ? as wildcards."),
        ] = None,
        worker: Annotated[
            str | None,
            typer.Option("--worker", "-w", metavar="GLOB", help="Worker hostname (wildcards)."),
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(metavar="WHEN", help="Done at or after: 10m, 1h30m, 2d or an ISO time."),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(metavar="WHEN", help="Done at or before (same forms as --since)."),
        ] = None,
        limit: Annotated[int, typer.Option("--limit", "-l", min=1, help="Rows to show.")] = 50,
        filter_text: Annotated[
            str | None,
            typer.Option(
                "--filter",
                "-f",
                metavar="EXPR",
                help="The console's filter language, e.g. 'exc:timeout -name:*.ping'.",
            ),
        ] = None,
        scan_limit: Annotated[
            int, typer.Option(min=1, metavar="N", help="Read at most N stored results.")
        ] = 200_000,
        budget: Annotated[
            float, typer.Option(min=0.1, metavar="SECONDS", help="Stop reading after this long.")
        ] = 20.0,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="One JSON document: tasks, matched, scanned, total, complete, stopped, backend.",
            ),
        ] = False,
    ) -> None:
        import time

        from cli.app import settings_of
        from cli.output import emit_json, guard, warn_line
        from console.core.connection import check_backend
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.filterlang import compile_filter, parse_time
        from console.core.history import HistoryQuery, iter_states, list_history

        settings = settings_of(ctx)
        with guard(settings):
            now = time.time()
            bounds: dict[str, float | None] = {}
            for label, text in (("since", since), ("until", until)):
                try:
                    bounds[label] = parse_time(text, now) if text else None
                except ValueError as exc:
                    raise UsageError(f"--{label}: {exc}") from None
            query = HistoryQuery(
                states=iter_states(state) if state else None,
                name=name,
                worker=worker,
                since=bounds["since"],
                until=bounds["until"],
                limit=limit,
                scan_limit=scan_limit,
                budget=budget,
                filter=compile_filter(filter_text, now) if filter_text else None,
            )
            check_backend(settings)
            hist = list_history(settings, query)
        if as_json:
            emit_json(hist.as_dict())
        else:
            if hist.tasks:
                _render(hist)
            warn_line(_summary(hist))
        if not hist.tasks:
            if not as_json:
                warn_line("no stored task matched")
            raise typer.Exit(EXIT_NO_MATCH)
