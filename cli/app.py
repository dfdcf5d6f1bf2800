"""The typer application object and the global (cluster-selection) options.

Command modules under ``cli/commands/`` each define ``register(app)``;
``cli.main`` imports and registers them.  Heavy imports (celery, textual)
happen inside command bodies so ``ctl --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from console.core.settings import ClusterSettings

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 ran, but no worker replied / nothing matched; "
    "2 bad usage or bad input; 3 broker or result backend unreachable; "
    "4 result --wait: task failed or was revoked; 5 result --wait: timed out."
)

# options shared by the broadcast commands (status, inspect)
DestinationOption = Annotated[
    list[str] | None, typer.Option("-d", "--destination", help="Only this worker (repeatable).")
]
ReplyTimeoutOption = Annotated[
    float, typer.Option("--timeout", "-t", help="Seconds to wait for replies.", min=0.01)
]

app = typer.Typer(
    name="ctl",
    help="Operations console and runbook CLI for Celery clusters.\n\n" + EXIT_CODES_HELP,
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def global_options(
    ctx: typer.Context,
    app_module: Annotated[
        str | None,
        typer.Option(
            "-A",
            "--app",
            help="Celery app module to import (for its config and beat schedule).",
            envvar="CELERY_APP",
        ),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker", "-b", help="Broker URL.", envvar="CELERY_BROKER_URL", show_envvar=True
        ),
    ] = None,
    result_backend: Annotated[
        str | None,
        typer.Option(
            "--result-backend",
            help="Result backend URL.",
            envvar="CELERY_RESULT_BACKEND",
            show_envvar=True,
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout", help="Seconds to wait for the broker/backend connection.", min=0.05
        ),
    ] = 1.0,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Refuse destructive actions (also env CTL_READ_ONLY=1)."),
    ] = False,
) -> None:
    """Operations console and runbook CLI for Celery clusters."""
    from cli.output import guard

    with guard():
        ctx.obj = ClusterSettings.resolve(
            app=app_module,
            broker=broker,
            result_backend=result_backend,
            connect_timeout=connect_timeout,
            read_only=True if read_only else None,
        )


def settings_of(ctx: typer.Context) -> ClusterSettings:
    """The ClusterSettings built by the global callback."""
    obj = ctx.find_root().obj
    if not isinstance(obj, ClusterSettings):
        obj = ClusterSettings.resolve()
        ctx.find_root().obj = obj
    return obj
