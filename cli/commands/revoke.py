"""``ctl revoke ID...``: revoke tasks (optionally their whole canvas with --tree)."""

from __future__ import annotations

import signal as _signal
from typing import Annotated

import typer


def _check_signal(name: str) -> str:
    from console.core.errors import UsageError

    sig = name.strip().upper()
    if not sig.startswith("SIG"):
        sig = "SIG" + sig
    if not hasattr(_signal, sig) or not isinstance(getattr(_signal, sig), _signal.Signals):
        raise UsageError(f"unknown signal {name!r}")
    return sig


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("revoke")
    def revoke(
        ctx: typer.Context,
        ids: Annotated[
            list[str] | None, typer.Argument(metavar="ID...", help="Task ids.", show_default=False)
        ] = None,
        stdin: Annotated[
            bool, typer.Option("--stdin", help="Also read ids from stdin, one per line.")
        ] = False,
        terminate: Annotated[
            bool, typer.Option("--terminate", help="Also kill the task if it is running.")
        ] = False,
        signal: Annotated[
            str, typer.Option("--signal", "-s", help="Signal for --terminate.")
        ] = "SIGTERM",
        tree: Annotated[
            bool,
            typer.Option(
                "--tree", help="Revoke every unfinished task of the id's chain/group/chord."
            ),
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="With --tree: show the canvas and what would be revoked; send nothing.",
            ),
        ] = False,
        timeout: Annotated[
            float,
            typer.Option("--timeout", "-t", help="Seconds to wait for worker replies.", min=0.01),
        ] = 1.0,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="One JSON document: revoked, terminate, signal, replies (and tree with --tree).",
            ),
        ] = False,
    ) -> None:
        """Revoke tasks in one broadcast; lists exactly which ids were revoked.

        Refused (exit 2) in read-only mode.  Exit 2 on a malformed id; exit 1 when no
        worker acknowledged the revoke (it is still recorded by workers that were reachable)
        or, with --tree, an id was found nowhere or nothing was left to revoke.
        """
        import sys

        from cli.app import settings_of
        from cli.output import (
            emit_json,
            guard,
            out_console,
            require_writable,
            validate_task_id,
            warn_line,
            warn_once,
        )
        from console.core.connection import check_broker
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.remote import RemoteControl
        from console.core.sanitize import inert

        settings = settings_of(ctx)
        with guard(settings):
            if dry_run and not tree:
                raise UsageError("--dry-run needs --tree")
            if not dry_run:
                require_writable(settings, "revoke")
            raw = list(ids or [])
            if stdin:
                # one id a line (only "\n" ends a line: other separators stay in the id
                # and are refused as control characters); blank lines are skipped
                raw.extend(line.strip() for line in sys.stdin.read().split("\n") if line.strip())
            if not raw:
                raise UsageError("no task ids given (arguments or --stdin)")
            task_ids = list(dict.fromkeys(validate_task_id(i) for i in raw))
            sig = _check_signal(signal)
            check_broker(settings)
            rc = RemoteControl(settings)
            plan = None
            if tree:
                from console.core.connection import check_backend
                from console.core.revoke_tree import plan_tree

                check_backend(settings)
                plan = plan_tree(settings, task_ids, rc=rc, timeout=timeout)
                revoke_ids = [n.id for n in plan.to_revoke]
                for source in plan.unread:
                    warn_line(f"could not read {source}; the plan may be incomplete")
            else:
                revoke_ids = task_ids
            res = (
                rc.revoke(revoke_ids, terminate=terminate, signal=sig, timeout=timeout)
                if revoke_ids and not dry_run
                else None
            )
        replies = res.replies if res is not None else {}
        if res is not None:
            warn_once(res.note)
        document = {
            "dry_run": dry_run,
            "revoked": [] if dry_run else revoke_ids,
            "terminate": terminate,
            "signal": sig if terminate else None,
            "replies": replies,
        }
        if plan is not None:
            document["tree"] = plan.as_dict()
        if as_json:
            emit_json(document)
        else:
            from rich.table import Table

            console = out_console()
            if plan is not None:
                from console.core.revoke_tree import canvas_lines

                for line in canvas_lines(plan):
                    console.print(inert(line))
                table = Table(title="canvas")
                for col in ("task id", "name", "state", "found in", "action"):
                    table.add_column(col, overflow="fold")
                revoking = set(revoke_ids)
                for node in plan.members:
                    action = (
                        ("terminate" if terminate else "revoke") if node.id in revoking else "-"
                    )
                    table.add_row(
                        inert(node.id),
                        inert(node.name or ""),
                        inert(node.state),
                        inert(", ".join(sorted(node.sources))),
                        action,
                    )
                console.print(table)
            verb = "terminated/revoked" if terminate else "revoked"
            if dry_run:
                verb = "would revoke"
            console.print(f"{verb} {len(revoke_ids)} task(s):")
            for tid in revoke_ids:
                console.print(inert(tid))
            if not dry_run:
                console.print(f"{len(replies)} worker(s) acknowledged")
        if plan is not None and plan.unknown:
            for tid in plan.unknown:
                warn_line(
                    f"{tid}: found nowhere (no queued or reserved message, no worker, "
                    "no result backend record, no saved group)"
                )
            raise typer.Exit(EXIT_NO_MATCH)
        if dry_run:
            return
        if tree and not revoke_ids:
            warn_line("nothing left to revoke: every task of the canvas already finished")
            raise typer.Exit(EXIT_NO_MATCH)
        if res is not None and not replies:
            warn_line("no worker acknowledged the revoke")
            raise typer.Exit(EXIT_NO_MATCH)
