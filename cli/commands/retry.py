"""``ctl retry ID...`` and ``ctl send NAME``: re-send a finished task, or send one by name."""

from __future__ import annotations

from typing import Annotated, Any

import typer

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed off a terminal).")]


def _call_text(call: Any) -> str:
    import json

    from console.core.sanitize import safe_text

    args = json.dumps(call.args, default=str, ensure_ascii=False)
    kwargs = json.dumps(call.kwargs, default=str, ensure_ascii=False)
    queue = f" -> queue {call.queue}" if call.queue else ""
    return safe_text(f"{call.name}(*{args}, **{kwargs}){queue}", 300, oneline=True)


def _confirm(question: str, yes: bool) -> bool:
    import sys

    from console.core.errors import UsageError

    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("refusing to send without --yes (stdin is not a terminal)")
    return typer.confirm(question, default=False)


def register(app: typer.Typer) -> None:
    """Register ``retry`` and ``send`` on ``app``."""

    @app.command("retry")
    def retry(
        ctx: typer.Context,
        ids: Annotated[
            list[str] | None, typer.Argument(metavar="ID...", help="Task ids.", show_default=False)
        ] = None,
        stdin: Annotated[
            bool, typer.Option("--stdin", help="Also read ids from stdin, one per line.")
        ] = False,
        yes: YesOption = False,
        timeout: Annotated[
            float, typer.Option("--timeout", "-t", help="Seconds to ask the workers.", min=0.01)
        ] = 1.0,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json", help='One JSON document {"retried": {old: new}, "refused": ...}.'
            ),
        ] = False,
    ) -> None:
        """Re-send finished tasks with their original name, args, kwargs and queue.

        The call is read from the result backend (needs result_extended = True) or from the
        workers; an id whose arguments cannot be recovered exactly, or that has not finished,
        is refused and named.  Prints the new ids.  Refused in read-only mode; asks on a
        terminal, needs --yes off one.  Exit 0 when every id was re-sent, 1 when any was
        refused (the others are still sent), 2 on bad usage, 3 when unreachable.
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
        )
        from console.core.connection import check_backend, check_broker
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.remote import RemoteControl
        from console.core.resend import Call, recover, resend
        from console.core.sanitize import inert

        settings = settings_of(ctx)
        retried: dict[str, str] = {}
        refused: dict[str, str] = {}
        with guard(settings):
            require_writable(settings, "retry")
            raw = list(ids or [])
            if stdin:
                raw.extend(line.strip() for line in sys.stdin if line.strip())
            if not raw:
                raise UsageError("give at least one task id (or --stdin)")
            task_ids = list(dict.fromkeys(validate_task_id(i) for i in raw))
            check_broker(settings)
            if settings.effective_backend_url:
                check_backend(settings)
            rc = RemoteControl(settings)
            calls: dict[str, Call] = {}
            for tid in task_ids:
                found = recover(settings, tid, rc=rc, timeout=timeout)
                if isinstance(found, Call):
                    calls[tid] = found
                else:
                    refused[tid] = found.reason
            if calls:
                lines = "\n".join(f"  {tid}: {_call_text(c)}" for tid, c in calls.items())
                question = f"Re-send {len(calls)} task(s) as new tasks:\n{lines}\nContinue?"
                if not _confirm(question, yes):
                    warn_line("nothing sent")
                    raise typer.Exit(EXIT_NO_MATCH)
            for tid, call in calls.items():
                retried[tid] = resend(settings, call)
        if as_json:
            emit_json({"retried": retried, "refused": refused})
        else:
            console = out_console()
            for old, new in retried.items():
                console.print(inert(f"{old} -> {new}", oneline=True))
        for reason in refused.values():
            warn_line(f"not retried: {reason}")
        if refused:
            raise typer.Exit(EXIT_NO_MATCH)

    @app.command("send")
    def send(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(metavar="NAME", help="Task name.", show_default=False)],
        args: Annotated[
            str | None, typer.Option("--args", "-a", metavar="JSON", help="A JSON array.")
        ] = None,
        kwargs: Annotated[
            str | None, typer.Option("--kwargs", "-k", metavar="JSON", help="A JSON object.")
        ] = None,
        queue: Annotated[
            str | None, typer.Option("--queue", "-Q", metavar="QUEUE", help="Queue to send to.")
        ] = None,
        countdown: Annotated[
            float | None, typer.Option(metavar="SECONDS", min=0, help="Run after this long.")
        ] = None,
        eta: Annotated[
            str | None, typer.Option(metavar="TIME", help="Run at this ISO time (naive = local).")
        ] = None,
        expires: Annotated[
            float | None,
            typer.Option(metavar="SECONDS", min=0.001, help="Discard if not started by then."),
        ] = None,
        force: Annotated[
            bool,
            typer.Option("--force", help="Send even when no live worker has NAME registered."),
        ] = False,
        yes: YesOption = False,
        timeout: Annotated[
            float, typer.Option("--timeout", "-t", help="Seconds to ask the workers.", min=0.01)
        ] = 1.0,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    ) -> None:
        """Send a task by name, with JSON arguments (never pickle).

        Checks first that a live worker has NAME registered (a typo would sit in the queue or
        be dropped by the worker): refused otherwise, unless --force.  Prints the new id.
        Refused in read-only mode; asks on a terminal, needs --yes off one.  Exit 1 when no
        worker has NAME (without --force), 2 on bad usage, 3 when unreachable.
        """
        from datetime import datetime

        from cli.app import settings_of
        from cli.output import emit_json, guard, require_writable, warn_line
        from console.core.connection import check_broker
        from console.core.errors import EXIT_NO_MATCH, UsageError
        from console.core.remote import RemoteControl
        from console.core.resend import Call, parse_json_args, registered_anywhere, resend
        from console.core.worker_control import check_name

        settings = settings_of(ctx)
        with guard(settings):
            require_writable(settings, "send")
            task_name = check_name(name, "task name")
            values, options = parse_json_args(args, kwargs)
            if countdown is not None and eta is not None:
                raise UsageError("give --countdown or --eta, not both")
            when = None
            if eta is not None:
                try:
                    when = datetime.fromisoformat(eta)
                except ValueError:
                    raise UsageError(
                        f"--eta: bad time {eta!r} (ISO, e.g. 2026-12-03T08:00)"
                    ) from None
                if when.tzinfo is None:
                    when = when.astimezone()
            call = Call(task_name, values, options, queue, "command line")
            check_broker(settings)
            if not force:
                known, hosts = registered_anywhere(RemoteControl(settings), task_name, timeout)
                if known is None:
                    warn_line(f"no worker replied within {timeout}s: nobody would run {task_name}"
                              " now (--force sends it anyway)")  # fmt: skip
                    raise typer.Exit(EXIT_NO_MATCH)
                if not known:
                    warn_line(f"no live worker has {task_name} registered (a typo?); "
                              "--force sends it anyway")  # fmt: skip
                    raise typer.Exit(EXIT_NO_MATCH)
            if not _confirm(f"Send {_call_text(call)}?", yes):
                warn_line("nothing sent")
                raise typer.Exit(EXIT_NO_MATCH)
            new_id = resend(settings, call, countdown=countdown, eta=when, expires=expires)
        if as_json:
            emit_json({"id": new_id, **call.as_dict(), "eta": when.isoformat() if when else None,
                       "countdown": countdown, "expires": expires})  # fmt: skip
        else:
            print(new_id)
