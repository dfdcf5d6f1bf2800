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
    "4 result --wait: task failed or was revoked; 5 result --wait: timed out; "
    "6 a local file could not be written or read; 70 the console crashed (report named); "
    "130 aborted (Ctrl-C, Ctrl-D at a prompt)."
)

# options shared by the broadcast commands (status, inspect)
DestinationOption = Annotated[
    list[str] | None, typer.Option("-d", "--destination", help="Only this worker (repeatable).")
]
ReplyTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        "-t",
        help="Seconds to wait for replies (default 1, or the context's timeout).",
        min=0.01,
        show_default=False,
    ),
]

app = typer.Typer(
    name="ctl",
    help="Operations console and runbook CLI for Celery clusters.\n\n" + EXIT_CODES_HELP,
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("celery-ops-console")
        except PackageNotFoundError:
            number = "unknown"
        typer.echo(f"ctl {number}")
        raise typer.Exit(0)


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
        float | None,
        typer.Option(
            "--connect-timeout",
            help="Seconds to wait for the broker/backend connection (default 1).",
            min=0.05,
            show_default=False,
        ),
    ] = None,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Refuse destructive actions (also env CTL_READ_ONLY=1)."),
    ] = False,
    broker_api: Annotated[
        str | None,
        typer.Option(
            "--broker-api",
            metavar="URL",
            help="RabbitMQ management API (default http://<broker host>:15672/api/, "
            "broker credentials): lets status/inspect/revoke return early.",
            envvar="CTL_BROKER_API",
            show_envvar=True,
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            "-c",
            metavar="NAME",
            help="A named cluster from the config file (`ctl contexts` lists them).",
            envvar="CTL_CONTEXT",
            show_envvar=True,
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print ctl's version and exit.", is_eager=True, callback=_show_version
        ),
    ] = False,
) -> None:
    """Operations console and runbook CLI for Celery clusters."""
    from cli.output import guard, warn_line

    def flag(name: str, value: str | None) -> str | None:
        # a value typer took from the environment is left to resolve(), which knows
        # the precedence of the environment over a context (and says so)
        source = ctx.get_parameter_source(name)
        return None if getattr(source, "name", "") == "ENVIRONMENT" else value

    with guard():
        ctx.obj = ClusterSettings.resolve(
            app=flag("app_module", app_module),
            broker=flag("broker", broker),
            result_backend=flag("result_backend", result_backend),
            connect_timeout=connect_timeout,
            read_only=True if read_only else None,
            context=flag("context", context),
            broker_api=flag("broker_api", broker_api),
        )
    for note in ctx.obj.overridden:
        warn_line(note)


def settings_of(ctx: typer.Context) -> ClusterSettings:
    """The ClusterSettings built by the global callback."""
    obj = ctx.find_root().obj
    if not isinstance(obj, ClusterSettings):
        obj = ClusterSettings.resolve()
        ctx.find_root().obj = obj
    return obj
