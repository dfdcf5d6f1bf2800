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
    from cli.placeholders import use_ctl_classes

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    use_ctl_classes(app)


def _usage_hint(exc: BaseException) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    return f" (try '{path} --help')" if path else ""


def main(argv: list[str] | None = None) -> None:
    """Run ``ctl``; usage errors become one ``ctl: error:`` line and exit 2.

    Ctrl-C anywhere, and Ctrl-C / Ctrl-D at a prompt, print ``ctl: aborted``
    and exit 130.  A reader that goes away (``ctl ... | head``) ends ``ctl``
    quietly with exit 0.  Off a terminal, human output carries no trailing spaces.
    """
    import os

    import typer

    from cli.output import OutputClosed, TidyStdout, silence_stdout

    args = list(sys.argv[1:] if argv is None else argv)
    if sys.stdin is None:  # fd 0 closed (`ctl ... <&-`): every prompt reads as No
        sys.stdin = open(os.devnull)
    if not args:
        args = ["--help"]
    if sys.stdout is not None and not isinstance(sys.stdout, TidyStdout):
        sys.stdout = TidyStdout(sys.stdout, strip=not sys.stdout.isatty())
    _register()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="ctl", standalone_mode=False)
    except OutputClosed:
        silence_stdout()
        sys.exit(0)
    except typer.Abort:
        print("ctl: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("ctl: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # typer's usage errors (exit code 2) and the like
        exit_code = int(getattr(exc, "exit_code", 2) or 2)
        hint = _usage_hint(exc) if exit_code == 2 else ""
        print(f"ctl: error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(exit_code)
    if code == 130:  # typer turns KeyboardInterrupt into Exit(130)
        print("ctl: aborted", file=sys.stderr)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OutputClosed:
        silence_stdout()
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
