"""``ctl result ID``: what the result backend knows about a task (never hangs)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


def _render(info: dict[str, Any]) -> None:
    from rich.table import Table

    from cli.output import CELL_LIMIT, capped, out_console

    table = Table(show_header=False, box=None)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")

    def fmt(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        return json.dumps(value, default=str, ensure_ascii=False)

    state = info["state"] + (
        "" if info["known"] else "  (no record in the backend: the id may be unknown)"
    )
    rows = [
        ("id", info["id"]),
        ("state", state),
        ("task", info["name"]),
        ("result", fmt(info["result"])),
        ("args", fmt(info["args"])),
        ("kwargs", fmt(info["kwargs"])),
        ("worker", info["worker"]),
        ("retries", fmt(info["retries"])),
        ("date done", info["date_done"]),
        (
            "parent",
            "none (retried: the backend records the task as its own parent)"
            if info.get("retried_itself")
            else info["parent_id"],
        ),
        ("group", info["group_id"]),
    ]
    for child in info["children"]:
        label = child["id"] + (
            " (group: " + ", ".join(child["group"]) + ")" if child["group"] else ""
        )
        rows.append(("child", label))
    for name, value in rows:
        table.add_row(name, capped(value if value is not None else ""))
    console = out_console()
    console.print(table)
    if info.get("traceback"):
        console.print("traceback:")
        console.print(capped(info["traceback"], CELL_LIMIT * 4))


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("result")
    def result(
        ctx: typer.Context,
        task_id: Annotated[str, typer.Argument(metavar="ID", help="Task id.", show_default=False)],
        wait: Annotated[bool, typer.Option("--wait", help="Wait until the task finished.")] = False,
        timeout: Annotated[
            float, typer.Option("--timeout", "-t", help="Seconds to --wait.", min=0.01)
        ] = 10.0,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="One JSON document: id, state, known, ready, result, traceback, name, args, kwargs, worker, retries, date_done, parent_id, group_id, children.",
            ),
        ] = False,
    ) -> None:
        """State, result, traceback, task name, args/kwargs, worker, retries, date done,
        parent and children of a task.

        Reads what the backend has (an unknown id reads as PENDING).  --wait polls until the
        task is ready: exit 4 if it ended FAILURE/REVOKED, 5 on timeout.  With an rpc:// backend
        (results go only to the client that sent the task) it says so in one line, exit 2.
        """
        from cli.app import settings_of
        from cli.output import emit_json, guard, validate_task_id, warn_line
        from console.core.brokers.urls import results_go_to_caller_only
        from console.core.connection import check_backend
        from console.core.errors import (
            EXIT_NO_MATCH,
            EXIT_TASK_FAILED,
            EXIT_WAIT_TIMEOUT,
            UsageError,
        )
        from console.core.results import FAILED_STATES, read_result, wait_result

        settings = settings_of(ctx)
        timed_out = False
        with guard(settings):
            tid = validate_task_id(task_id)
            backend_url = check_backend(settings)
            if results_go_to_caller_only(backend_url):
                # reading would declare a reply queue of our own and find nothing in it
                raise UsageError(
                    "the rpc:// result backend sends each result only to the client that "
                    "sent the task: ctl cannot read it (a redis:// or db+ backend can)"
                )
            if wait:
                info, timed_out = wait_result(settings, tid, timeout)
            else:
                info = read_result(settings, tid)
        if as_json:
            emit_json(info)
        else:
            _render(info)
        if timed_out:
            warn_line(f"task {tid} not finished after {timeout}s (state {info['state']})")
            raise typer.Exit(EXIT_WAIT_TIMEOUT)
        if wait and info["state"] in FAILED_STATES:
            raise typer.Exit(EXIT_TASK_FAILED)
        if not info["known"]:
            warn_line(
                f"no record of {tid} in the result backend: it may be unknown or not started yet"
            )
            raise typer.Exit(EXIT_NO_MATCH)
