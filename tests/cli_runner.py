"""``invoke(...)``: run the ``ctl`` typer app in-process (typer's CliRunner), commands registered."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner


def ctl_app() -> Any:
    """The typer app with every command module registered (once)."""
    from cli.app import app
    from cli.main import _register

    if not any(c.name == "status" for c in app.registered_commands):
        _register()
    return app


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
    return CliRunner().invoke(ctl_app(), list(args), env=env, input=input)
