"""Real placeholders in ``--help``: ``WORKER``, ``SECONDS``, ``URL``, not ``<list[str]>``.

typer shows every parameter's Python type (``<bool>`` after a flag,
``<list[str]>`` after ``-d``).  ``ctl``'s command classes give each parameter
that has no ``metavar`` a placeholder before help is drawn: flags get none,
known option names get a word for what they take, the rest a word for their
type.  Arguments show their name only.  Registered by ``cli.main._register``
on every command and group (so ``CliRunner`` tests see the same help).
"""

from __future__ import annotations

import copy
from typing import Any

import typer
import typer.core
import typer.models

#: parameter name -> placeholder (what the value is, not its Python type)
BY_NAME = {
    "destination": "WORKER",
    "queue": "QUEUE",
    "broker": "URL",
    "result_backend": "URL",
    "app_module": "MODULE",
    "signal": "SIGNAL",
    "context": "NAME",
    "workers": "N",
    "max_tasks": "N",
    "limit": "N",
    "speed": "FACTOR",
}
#: a float option whose name contains one of these takes seconds
SECOND_WORDS = ("timeout", "refresh", "poll", "wait", "interval", "duration", "delay")


def placeholder(param: Any) -> str | None:
    """The placeholder ``param`` should show, or None to leave it as it is."""
    if param.metavar is not None:
        return None
    name = str(param.name or "")
    if param.param_type_name == "argument":
        return "ID" if name == "ids" else name.upper()
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if name in BY_NAME:
        return BY_NAME[name]
    kind = getattr(param.type, "name", "")  # click's type: "float", "integer", "text"...
    if kind.startswith("float"):  # also "float range"
        return "SECONDS" if any(w in name for w in SECOND_WORDS) else "NUMBER"
    if kind.startswith("integer"):
        return "N"
    return name.upper() or "VALUE"


def _no_metavar(*_args: Any, **_kwargs: Any) -> str:
    return ""


def apply(params: list[Any]) -> list[Any]:
    for param in params:
        word = placeholder(param)
        if word is not None:
            param.metavar = word
        if param.param_type_name == "argument" and param.type.get_metavar is not _no_metavar:
            # an argument's name is its placeholder; typer would add "<text>" (its type's
            # metavar): a copy of the type that has none (conversion unchanged)
            plain = copy.copy(param.type)
            plain.get_metavar = _no_metavar
            param.type = plain
    return params


class CtlCommand(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return apply(super().get_params(ctx))


class CtlGroup(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return apply(super().get_params(ctx))


def _unset(value: Any) -> bool:
    """No class chosen, or typer's own (a command that chose a class of its own keeps it)."""
    return (
        value is None
        or isinstance(value, typer.models.DefaultPlaceholder)
        or value in (typer.core.TyperCommand, typer.core.TyperGroup)
    )


def use_ctl_classes(app: typer.Typer) -> None:
    """Every command and group of ``app`` (sub-apps included) uses the ctl classes."""
    if _unset(app.info.cls):
        app.info.cls = CtlGroup
    for info in app.registered_commands:
        if _unset(info.cls):
            info.cls = CtlCommand
    for group in app.registered_groups:
        if _unset(group.cls):
            group.cls = CtlGroup
        if group.typer_instance is not None:
            use_ctl_classes(group.typer_instance)
