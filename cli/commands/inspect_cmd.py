"""``ctl inspect WHAT``: ask the workers (same JSON shape as ``celery inspect --json``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.app import DestinationOption, ReplyTimeoutOption

TASK_LIST_METHODS = {"active", "reserved", "scheduled", "query-task", "query_task"}
WHAT_HELP = (
    "active, reserved, scheduled, revoked, stats, registered, active-queues, "
    "query-task ID..., ping, conf, report, clock"
)


def _task_rows(method: str, replies: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(worker, extra, request) for every task in a task-listing reply."""
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for host in sorted(replies):
        reply = replies[host]
        if method in ("query-task", "query_task") and isinstance(reply, dict):
            for tid, value in reply.items():
                state, req = (value + [None, None])[:2] if isinstance(value, list) else ("", value)
                req = req if isinstance(req, dict) else {"id": tid}
                rows.append((host, str(state), req))
        elif isinstance(reply, list):
            for item in reply:
                if not isinstance(item, dict):
                    continue
                if method == "scheduled":
                    req = r if isinstance(r := item.get("request"), dict) else {}
                    rows.append((host, f"eta {item.get('eta', '')}", req))
                else:
                    rows.append((host, "", item))
    return rows


def render_human(method: str, replies: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from cli.output import out_console
    from console.core.sanitize import inert

    console = out_console()
    if method in TASK_LIST_METHODS:
        rows = _task_rows(method, replies)
        table = Table()
        for name in ("worker", "task id", "name", "args", "kwargs", "info"):
            table.add_column(name, overflow="fold")
        for host, extra, req in rows:
            info = extra or (f"started {req.get('time_start')}" if req.get("time_start") else "")
            if req.get("worker_pid"):
                info = (info + f" pid {req.get('worker_pid')}").strip()
            table.add_row(
                inert(host),
                inert(req.get("id")),
                inert(req.get("name") or req.get("type")),
                inert(req.get("args")),
                inert(req.get("kwargs")),
                inert(info),
            )
        if rows:
            console.print(table)
        for host in sorted(replies):
            count = sum(1 for h, _, _ in rows if h == host)
            line = inert(host, oneline=True)
            line.append(f": {count} task(s)")
            console.print(line)
        console.print(f"{len(rows)} task(s) on {len(replies)} worker(s)")
        return
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
        for body_line in str(body).splitlines() or [""]:
            console.print(Text("    ").append_text(inert(body_line)))
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
