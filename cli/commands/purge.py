"""``ctl purge``: show per-queue message counts, then delete the messages."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("purge")
    def purge(
        ctx: typer.Context,
        queue: Annotated[
            list[str] | None, typer.Option("--queue", "-Q", help="Only this queue (repeatable).")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only show what would be purged.")
        ] = False,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
        timeout: Annotated[
            float,
            typer.Option("--timeout", "-t", help="Seconds to wait for consumer info.", min=0.01),
        ] = 1.0,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="One JSON document: dry_run, queues (name, messages, by_priority, consumers), purged, total_purged.",
            ),
        ] = False,
    ) -> None:
        """Delete every waiting message of the queues (priority sub-queues included).

        Shows per-queue counts first.  Asks for confirmation on a terminal; without a
        terminal it refuses unless --yes (exit 2).  Refused in read-only mode (exit 2).
        """
        import sys

        from cli.app import settings_of
        from cli.output import emit_json, guard, out_console, require_writable, warn_line
        from console.core.connection import check_broker
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.queues import purge_queues, queue_depths
        from console.core.sanitize import inert

        settings = settings_of(ctx)
        with guard(settings):
            if not dry_run:
                require_writable(settings, "purge")
            check_broker(settings)
            depths = queue_depths(settings, queues=queue, timeout=timeout)
        console = out_console()
        if not as_json:
            from rich.table import Table

            table = Table()
            for col in ("queue", "messages", "by priority", "consumers"):
                table.add_column(col, overflow="fold")
            for d in depths:
                prio = ", ".join(f"{k}:{v}" for k, v in sorted(d.by_priority.items()))
                table.add_row(
                    inert(d.name),
                    str(d.messages),
                    prio,
                    "?" if d.consumers is None else str(d.consumers),
                )
            console.print(table)
        total = sum(d.messages for d in depths)
        targets = [d.name for d in depths if d.messages]
        removed: dict[str, int] = {}
        if not dry_run and targets:
            if not yes:
                if not sys.stdin.isatty():
                    with guard(settings):
                        raise UsageError("refusing to purge without --yes when not on a terminal")
                if not typer.confirm(
                    f"Purge {total} message(s) from {len(targets)} queue(s)?", err=True
                ):
                    warn_line("aborted")
                    raise typer.Exit(EXIT_NO_MATCH)
            with guard(settings):
                removed = purge_queues(settings, targets)
        document = {
            "dry_run": dry_run,
            "queues": [d.as_dict() for d in depths],
            "purged": removed,
            "total_purged": sum(removed.values()),
        }
        if as_json:
            emit_json(document)
        elif dry_run:
            console.print(f"dry run: would purge {total} message(s) from {len(targets)} queue(s)")
        else:
            console.print(f"purged {sum(removed.values())} message(s) from {len(removed)} queue(s)")
        if not targets:
            warn_line("nothing to purge")
            raise typer.Exit(EXIT_NO_MATCH)
