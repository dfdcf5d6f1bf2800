"""``ctl purge``: show the task queues' message counts, then delete exactly what was shown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from console.core.queues import QueueDepth


def _table(depths: list[QueueDepth], sources: dict[str, list[str]]) -> None:
    from rich.table import Table

    from cli.output import out_console
    from console.core.sanitize import inert

    table = Table()
    for col in ("queue", "messages", "by priority", "consumers", "task queue because"):
        table.add_column(col, overflow="fold")
    for d in depths:
        prio = ", ".join(f"{k}:{v}" for k, v in sorted(d.by_priority.items()))
        table.add_row(
            inert(d.name),
            str(d.messages),
            prio,
            "?" if d.consumers is None else str(d.consumers),
            inert("; ".join(sources.get(d.name, []))),
        )
    out_console().print(table)


def _ask(question: str) -> bool:
    """Ask on stderr; EOF or a closed stdin means No."""
    import click

    try:
        return bool(typer.confirm(question, err=True))
    except (click.exceptions.Abort, EOFError):
        return False


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("purge")
    def purge(
        ctx: typer.Context,
        queue: Annotated[
            list[str] | None,
            typer.Option(
                "--queue", "-Q", help="Only this task queue (repeatable, or comma-separated)."
            ),
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
                help="One JSON document: dry_run, queues, listed, purged, total_listed, "
                "total_purged, outcomes, aborted.",
            ),
        ] = False,
    ) -> None:
        """Delete the waiting messages of the task queues (priority sub-queues included).

        The task queues are the ones `celery purge` knows (task_queues / the default
        queue), those named by task_routes and task options, and those the workers consume
        (active_queues); no other key of the broker (e.g. an app's own `dead_letter_queue`
        list) is ever touched.  Shows per-queue counts first, and deletes a queue only if
        its count is still the one shown (else shows the new count and asks again; with
        --yes it reports both).  Exit 1 for a -Q queue that does not exist or when there
        is nothing to purge; 2 without --yes off a terminal, or in read-only mode.
        """
        import sys

        from cli.app import settings_of
        from cli.output import emit_json, guard, out_console, require_writable, warn_line
        from console.core.connection import check_broker
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.purge_plan import plan_purge
        from console.core.queues import (
            consumers_by_queue,
            purge_checked,
            queue_declared,
            queue_depths,
        )
        from console.core.remote import RemoteControl
        from console.core.sanitize import safe_text

        settings = settings_of(ctx)
        requested = [n.strip() for q in queue or [] for n in q.split(",") if n.strip()]
        with guard(settings):
            if not dry_run:
                require_writable(settings, "purge")
            check_broker(settings)
            consumers = consumers_by_queue(RemoteControl(settings), timeout)
            plan = plan_purge(
                settings.app,
                consumers,
                requested=requested or None,
                declared=lambda name: queue_declared(settings, name),
            )
            if not plan.unknown:
                depths = queue_depths(settings, queues=plan.queues, with_consumers=False)
        if plan.unknown:
            for name in plan.unknown:
                warn_line(
                    f"no task queue named {safe_text(name, 120, oneline=True)!r} (not configured, "
                    "routed, consumed by a worker or declared on the broker): nothing purged"
                )
            raise typer.Exit(EXIT_NO_MATCH)
        for d in depths:
            if consumers is not None:
                d.workers = sorted(consumers.get(d.name, []))
                d.consumers = len(d.workers)
        if not as_json:
            _table(depths, plan.sources)
        listed = {d.name: d.messages for d in depths if d.messages}
        outcomes: dict[str, dict[str, Any]] = {}
        aborted = False
        if not dry_run and listed:
            if yes:
                with guard(settings):
                    done = purge_checked(settings, dict.fromkeys(listed))
                for o in done:
                    outcomes[o.name] = {**o.as_dict(), "listed": listed[o.name]}
                    if o.found != listed[o.name]:
                        outcomes[o.name]["changed"] = True
                        warn_line(
                            f"queue {safe_text(o.name, 120, oneline=True)}: purged {o.purged} "
                            f"message(s); {listed[o.name]} when listed"
                        )
            else:
                if not sys.stdin.isatty():
                    with guard(settings):
                        raise UsageError("refusing to purge without --yes when not on a terminal")
                pending: dict[str, int | None] = dict(listed)
                while pending:
                    total = sum(n or 0 for n in pending.values())
                    if not _ask(f"Purge {total} message(s) from {len(pending)} queue(s)?"):
                        aborted = True
                        break
                    with guard(settings):
                        done = purge_checked(settings, pending)
                    pending = {}
                    for o in done:
                        record = outcomes.setdefault(o.name, {**o.as_dict(), "purged": 0})
                        record.update(found=o.found, purged=record["purged"] + o.purged)
                        if o.changed:
                            record["changed"] = True
                            warn_line(
                                f"queue {safe_text(o.name, 120, oneline=True)} now holds "
                                f"{o.found} message(s), not the {o.expected} shown: not purged"
                            )
                            if o.found:
                                pending[o.name] = o.found
        purged = {name: r["purged"] for name, r in outcomes.items()}
        total_listed = sum(listed.values())
        document = {
            "dry_run": dry_run,
            "queues": [{**d.as_dict(), "sources": plan.sources.get(d.name, [])} for d in depths],
            "listed": listed,
            "purged": purged,
            "total_listed": total_listed,
            "total_purged": sum(purged.values()),
            "outcomes": list(outcomes.values()),
            "aborted": aborted,
        }
        console = out_console()
        if as_json:
            emit_json(document)
        elif dry_run:
            console.print(
                f"dry run: would purge {total_listed} message(s) from {len(listed)} queue(s)"
            )
        elif listed and not aborted:  # nothing waiting / No at the prompt: no "purged 0" line
            console.print(
                f"purged {sum(purged.values())} message(s) from "
                f"{sum(1 for n in purged.values() if n)} queue(s)"
                + (f" ({total_listed} when listed)" if sum(purged.values()) != total_listed else "")
            )
        if aborted:
            warn_line("aborted")
            raise typer.Exit(EXIT_NO_MATCH)
        if not listed:
            warn_line("nothing to purge")
            raise typer.Exit(EXIT_NO_MATCH)
