"""``ctl control ACTION``: the console's worker controls, for runbooks (named like ``celery control``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.app import DestinationOption, ReplyTimeoutOption

control_app = typer.Typer(
    name="control",
    help=(
        "Change workers: rate and time limits, pool size, autoscale, consumers, pool restart, "
        "shutdown.  Returns as soon as every live worker answered.  Refused in read-only mode.  "
        "Actions that remove capacity (pool-shrink, cancel-consumer, pool-restart, shutdown) "
        "confirm on a terminal; off one they need --yes.  Exit 0 when every worker accepted, "
        "1 when a worker refused or did not reply, 2 on a bad value or read-only mode, "
        "3 when the broker is unreachable."
    ),
    no_args_is_help=True,
)

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="One JSON document: [{worker: reply}], as `celery control --json`."
    ),
]


def _run(
    ctx: typer.Context,
    name: str,
    params: dict[str, Any],
    destination: list[str] | None,
    timeout: float | None,
    yes: bool,
    as_json: bool,
) -> None:
    import sys

    from cli.app import settings_of
    from cli.output import (
        emit_json,
        guard,
        out_console,
        report_unanswered,
        require_writable,
        warn_line,
    )
    from console.core.connection import check_broker
    from console.core.errors import EXIT_NO_MATCH, UsageError
    from console.core.remote import RemoteControl
    from console.core.sanitize import inert, safe_text
    from console.core.worker_control import CONTROL_ACTIONS, describe, refusals, run_control

    settings = settings_of(ctx)
    wait = settings.timeout(timeout)
    action = CONTROL_ACTIONS[name]
    with guard(settings):
        require_writable(settings, f"control {name}")
        arguments = action.build(params)
        targets = list(dict.fromkeys(destination or []))
        if action.destructive and not yes:
            sentence = safe_text(describe(action, arguments, targets), 500, oneline=True)
            if not sys.stdin.isatty():
                raise UsageError(f"{sentence} Refusing without --yes (stdin is not a terminal)")
            if not typer.confirm(f"{sentence} Continue?", default=False):
                warn_line("nothing sent")
                raise typer.Exit(EXIT_NO_MATCH)
        check_broker(settings)
        res = run_control(RemoteControl(settings), action, arguments, targets or None, wait)
    if not action.reply:
        who = ", ".join(targets) if targets else "every worker"
        if as_json:
            emit_json([])
        warn_line(f"{action.method} sent to {who} (no reply is sent; watch it go offline)")
        return
    refused = refusals(res.replies)
    if as_json:
        emit_json([{host: reply} for host, reply in sorted(res.replies.items())])
    else:
        console = out_console()
        for host in sorted(res.replies):
            reply = res.replies[host]
            if host in refused:
                text = f"{host}: refused: {refused[host]}"
            elif isinstance(reply, dict) and "ok" in reply:
                text = f"{host}: ok: {reply['ok']}"
            else:
                text = f"{host}: {reply!r}"
            console.print(inert(text, oneline=True))
    for host, error in sorted(refused.items()):
        hint = ""
        if action.method == "pool_restart" and "not enabled" in error.lower():
            hint = " (the worker needs worker_pool_restarts = True)"
        elif action.method == "autoscale" and "not enabled" in error.lower():
            hint = " (the worker was not started with --autoscale)"
        warn_line(f"{host} refused {name}: {error}{hint}")
    code = report_unanswered(res, wait)
    if refused and not code:
        code = EXIT_NO_MATCH
    if code:
        raise typer.Exit(code)


@control_app.command("rate-limit")
def rate_limit(
    ctx: typer.Context,
    task_name: Annotated[str, typer.Argument(metavar="TASK", show_default=False)],
    rate: Annotated[
        str, typer.Argument(metavar="RATE", help="N/s, N/m or N/h; 0 removes the limit.")
    ],
    destination: DestinationOption = None,
    timeout: ReplyTimeoutOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Set the rate limit of a task type (e.g. 10/m)."""
    _run(ctx, "rate-limit", {"task_name": task_name, "rate_limit": rate}, destination, timeout,
         yes, as_json)  # fmt: skip


@control_app.command("time-limit")
def time_limit(
    ctx: typer.Context,
    task_name: Annotated[str, typer.Argument(metavar="TASK", show_default=False)],
    soft: Annotated[str, typer.Argument(metavar="SOFT", help="Soft limit, seconds.")],
    hard: Annotated[
        str | None, typer.Argument(metavar="HARD", help="Hard limit, seconds (optional).")
    ] = None,
    destination: DestinationOption = None,
    timeout: ReplyTimeoutOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Set the soft (and hard) time limit of a task type."""
    _run(ctx, "time-limit", {"task_name": task_name, "soft": soft, "hard": hard}, destination,
         timeout, yes, as_json)  # fmt: skip


def _pool(name: str, doc: str) -> None:
    def command(
        ctx: typer.Context,
        n: Annotated[str, typer.Argument(metavar="N", help="Processes.")] = "1",
        destination: DestinationOption = None,
        timeout: ReplyTimeoutOption = None,
        yes: YesOption = False,
        as_json: JsonOption = False,
    ) -> None:
        _run(ctx, name, {"n": n}, destination, timeout, yes, as_json)

    command.__doc__ = doc
    control_app.command(name)(command)


_pool("pool-grow", "Add N processes to the pool (default 1).")
_pool("pool-shrink", "Remove N processes from the pool (default 1).")


@control_app.command("autoscale")
def autoscale(
    ctx: typer.Context,
    high: Annotated[str, typer.Argument(metavar="MAX")],
    low: Annotated[str, typer.Argument(metavar="MIN")],
    destination: DestinationOption = None,
    timeout: ReplyTimeoutOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Set autoscale max and min (workers started with --autoscale)."""
    _run(ctx, "autoscale", {"max": high, "min": low}, destination, timeout, yes, as_json)


def _consumer(name: str, doc: str) -> None:
    def command(
        ctx: typer.Context,
        queue: Annotated[str, typer.Argument(metavar="QUEUE", show_default=False)],
        destination: DestinationOption = None,
        timeout: ReplyTimeoutOption = None,
        yes: YesOption = False,
        as_json: JsonOption = False,
    ) -> None:
        _run(ctx, name, {"queue": queue}, destination, timeout, yes, as_json)

    command.__doc__ = doc
    control_app.command(name)(command)


_consumer("add-consumer", "Make workers start consuming from QUEUE.")
_consumer("cancel-consumer", "Make workers stop consuming from QUEUE.")


def _plain(name: str, doc: str) -> None:
    def command(
        ctx: typer.Context,
        destination: DestinationOption = None,
        timeout: ReplyTimeoutOption = None,
        yes: YesOption = False,
        as_json: JsonOption = False,
    ) -> None:
        _run(ctx, name, {}, destination, timeout, yes, as_json)

    command.__doc__ = doc
    control_app.command(name)(command)


_plain("pool-restart", "Restart the pool processes (needs worker_pool_restarts = True).")
_plain("shutdown", "Warm shutdown: running tasks finish first.")


def register(app: typer.Typer) -> None:
    """Register the command group on ``app``."""
    app.add_typer(control_app, name="control")
