"""Entry point of the ``ctl`` console script."""

from __future__ import annotations

import importlib
import sys

from cli.app import app

COMMAND_MODULES = (
    "cli.commands.status",
    "cli.commands.inspect_cmd",
    "cli.commands.result",
    "cli.commands.revoke",
    "cli.commands.purge",
    "cli.commands.beat",
    "cli.commands.events",
    "cli.commands.console_cmd",
    "cli.commands.demo",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main() -> None:
    _register()
    app(prog_name="ctl")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
