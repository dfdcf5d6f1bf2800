"""Worker control actions, validated before anything is sent: one set for both front ends.

Each action is a :class:`ControlAction` with the arguments Celery's control
command takes (``celery control --help``): values are checked the way the
worker will parse them (a rate limit as :func:`celery.utils.time.rate`,
numbers as numbers, ``soft <= hard``) so that a bad value is refused here,
with one line, instead of after a confirmation.  :func:`run_control` sends
the broadcast through :class:`~console.core.remote.RemoteControl` and
:func:`refusals` names the workers that answered with an error (e.g.
``pool_restart`` without ``worker_pool_restarts``, ``autoscale`` without
``--autoscale``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .remote import BroadcastResult, RemoteControl

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*$")


def check_rate(text: str) -> str:
    """A rate limit as the worker parses it (``10/m``, ``0.5/s``, ``100``; ``0`` = none)."""
    value = str(text).strip()
    m = _RATE.match(value)
    if m is None:
        raise UsageError(
            f"bad rate limit {value[:40]!r}: use N/s, N/m or N/h (e.g. 10/m; 0 removes the limit)"
        )
    return value.replace(" ", "")


def check_seconds(text: str | float, what: str, *, allow_zero: bool = False) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise UsageError(f"{what} must be a number of seconds, not {str(text)[:40]!r}") from None
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{what} must be a positive number of seconds, not {str(text)[:40]!r}")
    return value


def check_count(text: str | int, what: str, *, minimum: int = 1) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise UsageError(f"{what} must be a whole number, not {str(text)[:40]!r}") from None
    if value < minimum:
        raise UsageError(f"{what} must be at least {minimum}, not {value}")
    return value


def check_name(text: str, what: str) -> str:
    value = str(text).strip()
    if not value or not value.isprintable() or any(c.isspace() for c in value):
        raise UsageError(f"{what} must be a non-empty name without spaces")
    return value


def _time_limit(params: Mapping[str, Any]) -> dict[str, Any]:
    soft = check_seconds(params["soft"], "soft limit")
    hard_raw = params.get("hard")
    hard = None if hard_raw in (None, "") else check_seconds(hard_raw, "hard limit")
    if hard is not None and soft > hard:
        raise UsageError(f"soft limit {soft:g}s is above the hard limit {hard:g}s")
    return {"task_name": check_name(params["task_name"], "task name"), "soft": soft, "hard": hard}


def _autoscale(params: Mapping[str, Any]) -> dict[str, Any]:
    high = check_count(params["max"], "max")
    low = check_count(params["min"], "min", minimum=0)
    if low > high:
        raise UsageError(f"min {low} is above max {high}")
    return {"max": high, "min": low}


@dataclass(frozen=True)
class ControlAction:
    name: str  # the CLI's name (celery control's, with dashes)
    method: str  # the remote-control method
    summary: str
    build: Callable[[Mapping[str, Any]], dict[str, Any]]  # params -> broadcast arguments
    destructive: bool
    reply: bool = True
    sentence: str = ""  # what will happen: {workers} and the arguments by name


CONTROL_ACTIONS: dict[str, ControlAction] = {
    a.name: a
    for a in (
        ControlAction(
            "rate-limit",
            "rate_limit",
            "Set the rate limit of a task type (0 removes it).",
            lambda p: {
                "task_name": check_name(p["task_name"], "task name"),
                "rate_limit": check_rate(p["rate_limit"]),
            },
            False,
            sentence="Set the rate limit of {task_name} to {rate_limit} on {workers}.",
        ),
        ControlAction(
            "time-limit",
            "time_limit",
            "Set the soft (and hard) time limit of a task type, in seconds.",
            _time_limit,
            False,
            sentence="Set time limits of {task_name} to soft={soft}s hard={hard}s on {workers}.",
        ),
        ControlAction(
            "pool-grow",
            "pool_grow",
            "Add N processes to the pool.",
            lambda p: {"n": check_count(p.get("n", 1), "N")},
            False,
            sentence="Grow the pool of {workers} by {n} process(es).",
        ),
        ControlAction(
            "pool-shrink",
            "pool_shrink",
            "Remove N processes from the pool.",
            lambda p: {"n": check_count(p.get("n", 1), "N")},
            True,
            sentence="Shrink the pool of {workers} by {n} process(es).",
        ),
        ControlAction(
            "autoscale",
            "autoscale",
            "Set autoscale max and min (workers started with --autoscale).",
            _autoscale,
            False,
            sentence="Set autoscale of {workers} to max={max} min={min}.",
        ),
        ControlAction(
            "add-consumer",
            "add_consumer",
            "Start consuming from QUEUE.",
            lambda p: {"queue": check_name(p["queue"], "queue")},
            False,
            sentence="Make {workers} start consuming from queue {queue}.",
        ),
        ControlAction(
            "cancel-consumer",
            "cancel_consumer",
            "Stop consuming from QUEUE.",
            lambda p: {"queue": check_name(p["queue"], "queue")},
            True,
            sentence="Make {workers} stop consuming from queue {queue}.",
        ),
        ControlAction(
            "pool-restart",
            "pool_restart",
            "Restart the pool processes (needs worker_pool_restarts = True).",
            lambda p: {"reload": False},
            True,
            sentence="Restart the pool processes of {workers} (running tasks are lost).",
        ),
        ControlAction(
            "shutdown",
            "shutdown",
            "Warm shutdown: running tasks finish first.",
            lambda p: {},
            True,
            reply=False,
            sentence="Shut down {workers} (warm shutdown: running tasks finish first).",
        ),
    )
}


def describe(action: ControlAction, arguments: Mapping[str, Any], workers: Sequence[str]) -> str:
    who = ", ".join(workers) if workers else "every worker"
    values = {k: ("none" if v is None else v) for k, v in arguments.items()}
    return action.sentence.format(workers=who, **values)


def run_control(
    rc: RemoteControl,
    action: ControlAction,
    arguments: Mapping[str, Any],
    destination: Sequence[str] | None = None,
    timeout: float = 1.0,
) -> BroadcastResult:
    """Send ``action`` (arguments already built by ``action.build``)."""
    return rc.broadcast(
        action.method,
        dict(arguments),
        destination=destination,
        timeout=timeout,
        reply=action.reply,
    )


def refusals(replies: Mapping[str, Any]) -> dict[str, str]:
    """``{worker: error}`` for the replies that are an error (``{"error": ...}``)."""
    out: dict[str, str] = {}
    for host, reply in replies.items():
        if isinstance(reply, Mapping) and "error" in reply:
            out[host] = str(reply["error"])
    return out
