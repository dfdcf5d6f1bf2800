"""Re-send a task with its original name, arguments and queue, or send one by name.

:func:`recover` finds what a task was called with, from (in this order):

1. the result backend, when the app stores ``result_extended`` records
   (name, args, kwargs, queue exact, as the worker saw them);
2. the workers (``inspect query_task``: a task still reserved or running);
3. what the events carried (the console passes a task's ``name`` / ``args`` /
   ``kwargs`` as Celery sent them in ``task-received``: ``repr`` text, parsed
   with :func:`ast.literal_eval`, never ``eval``).  Celery cuts long reprs
   (``...``) and some values have no literal form (``datetime``, objects):
   then the arguments cannot be recovered exactly and the id is refused.

A task that has not finished is refused (revoke it first), so a retry never
runs a task twice at the same time.  :func:`resend` sends through Celery's
own ``send_task`` (JSON arguments, the app's serializer), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .literal import literal

if TYPE_CHECKING:
    from .remote import RemoteControl
    from .settings import ClusterSettings

FINISHED = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED", "IGNORED"})


@dataclass(frozen=True)
class Call:
    """What a task was (or will be) sent with."""

    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    source: str = ""  # "backend" | "worker" | "events" | "command line"
    state: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
            "source": self.source,
            "state": self.state,
        }


@dataclass(frozen=True)
class Refusal:
    task_id: str
    reason: str


def literal_arguments(args_repr: Any, kwargs_repr: Any) -> tuple[list[Any], dict[str, Any]]:
    """``repr`` text of args / kwargs (as in events) -> values; ValueError when not exact."""

    def parse(text: Any, kind: type) -> Any:
        if isinstance(text, kind):
            return text
        if not isinstance(text, str):
            raise ValueError(f"no {kind.__name__} text")
        if "..." in text or "\u2026" in text:
            raise ValueError("the arguments were cut by Celery's saferepr (too long)")
        try:
            value = literal(text)
        except ValueError:
            raise ValueError(f"{text[:60]!r} is not a literal (objects, dates, ...)") from None
        if kind is list and isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, kind):
            raise ValueError(f"{kind.__name__} expected, got {type(value).__name__}")
        return value

    return parse(args_repr, list), parse(kwargs_repr, dict)


def _from_backend(settings: ClusterSettings, task_id: str) -> Call | str | None:
    from .results import raw_meta

    meta = raw_meta(settings.app.backend, task_id)
    if meta is None:
        return None
    state = str(meta.get("status") or "")
    name = meta.get("name")
    if not name:
        return (
            f"the backend has {task_id} ({state}) but not its name and arguments "
            "(the app does not set result_extended = True)"
        )
    args, kwargs = meta.get("args"), meta.get("kwargs")
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        return f"the backend record of {task_id} has no usable args/kwargs"
    return Call(str(name), list(args), dict(kwargs), meta.get("queue"), "backend", state)


def _from_workers(rc: RemoteControl, task_id: str, timeout: float) -> Call | None:
    res = rc.inspect("query_task", timeout=timeout, ids=[task_id])
    for reply in res.replies.values():
        if not isinstance(reply, dict) or task_id not in reply:
            continue
        value = reply[task_id]
        state, req = (list(value) + [None, None])[:2] if isinstance(value, list) else (None, None)
        if not isinstance(req, dict):
            continue
        delivery = req.get("delivery_info") or {}
        args, kwargs = req.get("args"), req.get("kwargs")
        if isinstance(args, list | tuple) and isinstance(kwargs, dict):
            return Call(
                str(req.get("name") or req.get("type") or ""),
                list(args),
                dict(kwargs),
                delivery.get("routing_key") if isinstance(delivery, dict) else None,
                "worker",
                {"active": "STARTED", "reserved": "RECEIVED", "scheduled": "RECEIVED"}.get(
                    str(state), str(state or "")
                ),
            )
    return None


def recover(
    settings: ClusterSettings,
    task_id: str,
    *,
    rc: RemoteControl | None = None,
    event_fields: Mapping[str, Any] | None = None,
    timeout: float = 1.0,
) -> Call | Refusal:
    """What ``task_id`` was sent with, or why it cannot be re-sent exactly."""
    why: str | None = None
    found = _from_backend(settings, task_id)
    if isinstance(found, str):
        why, found = found, None
    if found is None and rc is not None:
        found = _from_workers(rc, task_id, timeout)
    if found is None and event_fields and event_fields.get("name"):
        try:
            args, kwargs = literal_arguments(event_fields.get("args"), event_fields.get("kwargs"))
        except ValueError as exc:
            return Refusal(task_id, f"cannot recover the arguments of {task_id} exactly: {exc}")
        state = event_fields.get("state")
        found = Call(
            str(event_fields["name"]),
            args,
            kwargs,
            event_fields.get("queue") or event_fields.get("routing_key"),
            "events",
            str(state) if state else None,
        )
    if found is None:
        return Refusal(
            task_id,
            why
            or f"{task_id} was found nowhere (not in the result backend, on no worker, "
            "not in the events seen)",
        )
    if found.state and found.state not in FINISHED:
        return Refusal(task_id, f"{task_id} is {found.state}: not finished (revoke it first)")
    if not found.name:
        return Refusal(task_id, f"the task name of {task_id} is unknown")
    return found


def parse_json_args(args: str | None, kwargs: str | None) -> tuple[list[Any], dict[str, Any]]:
    """``--args`` / ``--kwargs`` JSON (never pickle) -> values; UsageError on bad input."""
    import json

    def load(text: str | None, kind: type, flag: str) -> Any:
        if text is None or not text.strip():
            return kind()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{flag}: not JSON ({exc.msg} at char {exc.pos})") from None
        if not isinstance(value, kind):
            raise UsageError(f"{flag}: a JSON {'array' if kind is list else 'object'} expected")
        return value

    return load(args, list, "--args"), load(kwargs, dict, "--kwargs")


def resend(
    settings: ClusterSettings,
    call: Call,
    *,
    countdown: float | None = None,
    eta: datetime | None = None,
    expires: float | None = None,
) -> str:
    """Send ``call`` through Celery's ``send_task``; returns the new task id."""
    options: dict[str, Any] = {}
    if call.queue:
        options["queue"] = call.queue
    if countdown is not None:
        options["countdown"] = countdown
    if eta is not None:
        options["eta"] = eta
    if expires is not None:
        options["expires"] = expires
    result = settings.app.send_task(call.name, args=call.args, kwargs=call.kwargs, **options)
    return str(result.id)


def registered_anywhere(
    rc: RemoteControl, name: str, timeout: float = 1.0
) -> tuple[bool | None, list[str]]:
    """(True/False: some worker has ``name`` registered / none has; None: no worker replied)."""
    res = rc.inspect("registered", timeout=timeout)
    if not res.replies:
        return None, []
    hosts = sorted(
        host
        for host, tasks in res.replies.items()
        if isinstance(tasks, Sequence) and any(str(t).split(" ")[0] == name for t in tasks)
    )
    return bool(hosts), hosts
