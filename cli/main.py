"""Entry point of the ``ctl`` console script."""

from __future__ import annotations

import importlib
import sys

from cli.app import app

COMMAND_MODULES = (
    "cli.commands.status",
    "cli.commands.inspect_cmd",
    "cli.commands.result",
    "cli.commands.tasks",
    "cli.commands.revoke",
    "cli.commands.control",
    "cli.commands.retry",
    "cli.commands.purge",
    "cli.commands.beat",
    "cli.commands.events",
    "cli.commands.contexts",
    "cli.commands.console_cmd",
    "cli.commands.demo",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main(argv: list[str] | None = None) -> None:
    """Run ``ctl``; usage errors become one ``ctl: error:`` line and exit 2."""
    import typer
    from typer._click import exceptions as cexc  # typer (pinned) vendors click
    from typer._click import utils as cutils

    _register()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="ctl", standalone_mode=False)
    except cexc.NoArgsIsHelpError as exc:
        cutils.echo(exc.ctx.get_help() if exc.ctx else "Try 'ctl --help'.")
        sys.exit(0)
    except cexc.UsageError as exc:
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx else ""
        print(f"ctl: error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(2)
    except cexc.ClickException as exc:
        print(f"ctl: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code or 2)
    except typer.Abort:
        print("ctl: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
