"""``ctl status``: which workers answer a ping, and how fast."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import DestinationOption, ReplyTimeoutOption


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("status")
    def status(
        ctx: typer.Context,
        destination: DestinationOption = None,
        timeout: ReplyTimeoutOption = None,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help='One JSON document: {worker: {"ok": "pong"}} (as `celery status --json`).',
            ),
        ] = False,
    ) -> None:
        """Workers that answer a ping, with reply latency, and a summary line.

        Returns as soon as every live worker answered (not after the whole timeout).
        Exit 1 when no worker (or not every --destination) replied; 3 when the broker is unreachable.
        """
        from cli.app import settings_of
        from cli.output import capped, emit_json, guard, out_console, report_unanswered
        from console.core.connection import check_broker
        from console.core.remote import RemoteControl
        from console.core.sanitize import inert

        settings = settings_of(ctx)
        timeout = settings.timeout(timeout)
        with guard(settings):
            check_broker(settings)
            res = RemoteControl(settings).inspect("ping", destination=destination, timeout=timeout)
        if as_json:
            emit_json(res.replies)
        else:
            from rich.table import Table

            table = Table(title=None, show_lines=False)
            table.add_column("worker", overflow="fold")
            table.add_column("reply", overflow="fold")
            table.add_column("latency ms", justify="right")
            for host in sorted(res.replies):
                reply = res.replies[host]
                text = reply.get("ok", reply) if isinstance(reply, dict) else reply
                table.add_row(
                    inert(host, 300), capped(text), f"{res.latency.get(host, 0.0) * 1000:.1f}"
                )
            console = out_console()
            if res.replies:
                console.print(table)
            n = len(res.replies)
            summary = f"{n} node{'s' if n != 1 else ''} online"
            if res.expected is not None and res.expected > n:
                summary += f", {res.expected - n} did not reply"
            console.print(summary + f" ({res.elapsed * 1000:.0f} ms)")
        code = report_unanswered(res, timeout)
        if code:
            raise typer.Exit(code)
