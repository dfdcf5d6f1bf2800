"""A task's detail, whole: what the event stream has, completed from the result backend
and (for a task not finished) the workers.

Blocking (backend and broker reads): the console calls :func:`complete` from a thread
worker, never on the UI thread.  Fields the events carried win; the backend fills
what they lack (``name`` / ``args`` / ``kwargs`` / ``queue`` / ``worker`` /
``retries`` need the app's ``result_extended``), and ``sources`` names, per field,
where a value came from.  ``inspect query_task`` gives a reserved or running task's
exchange and routing key (``delivery_info``).
"""

from __future__ import annotations

import json
import signal
from typing import TYPE_CHECKING, Any

from .results import read_result

if TYPE_CHECKING:
    from .remote import RemoteControl
    from .settings import ClusterSettings

FINISHED = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})
#: fields the backend can fill (the backend's key -> the detail's)
_FROM_BACKEND = {
    "name": "name",
    "args": "args",
    "kwargs": "kwargs",
    "worker": "worker",
    "retries": "retries",
    "queue": "queue",
    "parent_id": "parent_id",
    "traceback": "traceback",
    "date_done": "date_done",
    "group_id": "group_id",
}


def signal_name(signum: Any) -> str | None:
    """``15`` -> ``"SIGTERM"`` (a number Python does not name is shown as the number)."""
    if signum is None or isinstance(signum, bool):
        return None
    try:
        return signal.Signals(int(signum)).name
    except (ValueError, TypeError):
        return str(signum)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def from_backend(detail: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """Fill ``detail``'s missing fields from a :func:`read_result` record; returns their names."""
    filled: list[str] = []
    if not record.get("known"):
        return filled
    for key, target in _FROM_BACKEND.items():
        value = record.get(key)
        if not _empty(value) and _empty(detail.get(target)):
            detail[target] = value if key not in ("args", "kwargs") else _text(value)
            filled.append(target)
    state = record.get("state")
    if _empty(detail.get("state")) or detail.get("state") == "PENDING":
        if state and state != "PENDING":
            detail["state"] = state
            filled.append("state")
    result = record.get("result")
    if state in ("FAILURE", "REVOKED", "RETRY") and isinstance(result, dict):
        if _empty(detail.get("exception")) and "exc_type" in result:
            message = result.get("exc_message")
            if isinstance(message, list | tuple):
                message = ", ".join(map(str, message))
            detail["exception"] = f"{result.get('exc_type')}({message or ''})"
            filled.append("exception")
    elif state == "SUCCESS" and result is not None and _empty(detail.get("result")):
        detail["result"] = _text(result)
        filled.append("result")
    children = [c.get("id") for c in record.get("children") or [] if c.get("id")]
    if children and _empty(detail.get("children")):
        detail["children"] = children
        filled.append("children")
    return filled


def from_workers(detail: dict[str, Any], rc: RemoteControl, uuid: str, timeout: float) -> list[str]:
    """A reserved / running task's delivery info (exchange, routing key) from its worker."""
    res = rc.inspect("query_task", timeout=timeout, ids=[uuid])
    filled: list[str] = []
    for reply in res.replies.values():
        value = reply.get(uuid) if isinstance(reply, dict) else None
        if not isinstance(value, list) or len(value) < 2 or not isinstance(value[1], dict):
            continue
        info = value[1].get("delivery_info")
        if not isinstance(info, dict):
            continue
        for key in ("exchange", "routing_key"):
            if _empty(detail.get(key)) and isinstance(info.get(key), str):
                detail[key] = info[key]
                filled.append(key)
        break
    return filled


def complete(
    detail: dict[str, Any] | None,
    uuid: str,
    *,
    settings: ClusterSettings | None,
    rc: RemoteControl | None,
    timeout: float = 1.0,
    backend: bool = True,
) -> dict[str, Any] | None:
    """``detail`` (None: the events never had this task) completed; None when nobody knows it.

    ``sources`` maps field name -> ``"backend"`` / ``"worker"`` for the fields filled here;
    ``backend_error`` says why the backend could not be read.
    """
    out: dict[str, Any] = dict(detail) if detail is not None else {"uuid": uuid}
    sources: dict[str, str] = dict(out.get("sources") or {})
    if settings is not None and backend:
        try:
            record = read_result(settings, uuid)
        except Exception as exc:  # the backend is down or not configured: say so, go on
            out["backend_error"] = f"{type(exc).__name__}: {exc}"
        else:
            for name in from_backend(out, record):
                sources[name] = "backend"
    if rc is not None and out.get("state") not in FINISHED and out.get("state"):
        try:
            for name in from_workers(out, rc, uuid, timeout):
                sources[name] = "worker"
        except Exception:
            pass
    if detail is None and not sources:
        return None
    out["sources"] = sources
    return out


__all__ = ["complete", "from_backend", "from_workers", "signal_name"]
