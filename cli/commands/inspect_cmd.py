"""``ctl inspect WHAT``: ask the workers (same JSON shape as ``celery inspect --json``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.app import DestinationOption, ReplyTimeoutOption

WHAT_HELP = (
    "active, reserved, scheduled, revoked, stats, registered, active-queues, "
    "query-task ID..., ping, conf, report, clock"
)


def render_human(method: str, replies: dict[str, Any]) -> None:
    from rich.text import Text

    from cli.inspect_tables import TABLE_METHODS, TASK_LIST_METHODS, render_table, render_tasks
    from cli.output import CELL_LIMIT, capped, out_console
    from console.core.sanitize import inert

    if method in TASK_LIST_METHODS:
        render_tasks(method, replies)
        return
    if method in TABLE_METHODS:
        render_table(method, replies)
        console = out_console()
    else:
        console = out_console()
        for host in sorted(replies):
            reply = replies[host]
            header = Text("-> ", style="bold")
            header.append_text(inert(host, oneline=True))
            console.print(header)
            if isinstance(reply, dict) and set(reply) == {"ok"}:
                body = reply["ok"]
            elif method == "report" and isinstance(reply, dict) and "ok" in reply:
                body = reply["ok"]
            else:
                body = json.dumps(reply, indent=2, sort_keys=True, default=str, ensure_ascii=False)
            for body_line in capped(body, CELL_LIMIT * 4).split("\n") or [Text("")]:
                console.print(Text("    ").append_text(body_line))
    console.print(f"{len(replies)} node{'s' if len(replies) != 1 else ''} online.")


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("inspect")
    def inspect(
        ctx: typer.Context,
        what: Annotated[str, typer.Argument(help=WHAT_HELP, show_default=False)],
        ids: Annotated[
            list[str] | None, typer.Argument(help="Task ids (query-task only).", show_default=False)
        ] = None,
        destination: DestinationOption = None,
        timeout: ReplyTimeoutOption = None,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json", help="One JSON document {worker: reply}, as `celery inspect --json`."
            ),
        ] = False,
    ) -> None:
        """Inspect workers: WHAT is one of active, reserved, scheduled, revoked, stats,
        registered, active-queues, query-task ID..., ping, conf, report, clock.

        Returns as soon as every live worker answered.  Exit 1 when no worker (or not every
        --destination) replied, 2 on an unknown WHAT or malformed id, 3 when the broker is unreachable.
        """
        from cli.app import settings_of
        from cli.output import emit_json, guard, report_unanswered, validate_task_id
        from console.core.connection import check_broker
        from console.core.errors import UsageError
        from console.core.remote import INSPECT_METHODS, RemoteControl

        settings = settings_of(ctx)
        timeout = settings.timeout(timeout)
        with guard(settings):
            method = what.strip().lower()
            if method not in INSPECT_METHODS:
                raise UsageError(f"unknown inspect method {what!r}; choose from: {WHAT_HELP}")
            arguments: dict[str, Any] = {}
            if method in ("query-task", "query_task"):
                if not ids:
                    raise UsageError("query-task needs at least one task id")
                arguments["ids"] = [validate_task_id(i) for i in ids]
            elif ids:
                raise UsageError(f"inspect {method} takes no extra arguments")
            if method == "conf":
                arguments["with_defaults"] = False
            check_broker(settings)
            res = RemoteControl(settings).inspect(
                method, destination=destination, timeout=timeout, **arguments
            )
        if as_json:
            emit_json(res.replies)
        elif res.replies:
            render_human(method, res.replies)
        code = report_unanswered(res, timeout)
        if code:
            raise typer.Exit(code)
