"""What happened before the console connected: workers' queues and the result backend.

Celery's event queue keeps nothing for a late subscriber, so a console that
starts (or reconnects after a gap) knows only what arrives next.  Two public
sources tell it the past; both are read-only and run off the UI thread (in the
intake process, a thread next to the event loop: console/core/feed.py):

* **remote control** -- ``inspect stats``, ``active``, ``reserved`` and
  ``scheduled`` of every worker, turned into synthetic events
  (:func:`inspect_events`, each marked ``"ctl_resync": True``) applied like
  real ones;
* **the result backend** -- the newest ``limit`` stored results
  (console/core/history.py's readers: Redis ``SCAN`` + ``MGET``, the database
  backend's table), turned into plain records (:func:`backend_records`) that
  :meth:`console.core.state.ClusterState.merge_backend` merges with the same
  precedence as events: an event never loses to an older backend record.

Nothing here writes to the broker or the backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .history import History, HistoryQuery, list_history

if TYPE_CHECKING:
    from .settings import ClusterSettings

__all__ = [
    "DEFAULT_HISTORY",
    "backend_records",
    "inspect_events",
    "record_of",
]

DEFAULT_HISTORY = 10_000  # newest results loaded from the backend (0: none)
CHUNK = 250  # records merged at a time in the intake loop (~2-4 ms)


def _replies(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    replies = getattr(obj, "replies", obj)
    if isinstance(replies, list):  # celery's inspect() on old versions
        merged: dict[str, Any] = {}
        for item in replies:
            merged.update(item)
        return merged
    return dict(replies or {})


def _repr_args(value: Any) -> str:
    """Arguments as events carry them: ``repr`` of a tuple / dict."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        value = tuple(value)
    try:
        return repr(value)
    except Exception:
        return "?"


def _received(task: Mapping[str, Any], host: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "task-received",
        "uuid": task["id"],
        "hostname": host,
        "name": task.get("name"),
        "args": _repr_args(task.get("args")),
        "kwargs": _repr_args(task.get("kwargs")),
        "ctl_resync": True,
    }
    event.update(extra)
    return event


def _requests(replies: Mapping[str, Any], host: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """(request, eta) of one worker's ``reserved`` / ``scheduled`` reply."""
    items = replies.get(host)
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        request = item.get("request") if "request" in item else item  # scheduled wraps it
        if isinstance(request, dict) and isinstance(request.get("id"), str) and request["id"]:
            yield request, item.get("eta") if request is not item else None


def inspect_events(
    settings: ClusterSettings, now: Callable[[], float] = time.time, timeout: float = 1.0
) -> list[dict[str, Any]]:
    """Synthetic events for live workers and the tasks they hold right now.

    ``inspect stats`` and ``active`` give worker heartbeats and started tasks
    (``task-received`` + ``task-started`` at ``time_start``); ``reserved`` and
    ``scheduled`` (ETA / countdown) give ``task-received`` without a
    timestamp (the worker does not say when it got them), ``eta`` set.
    """
    from .remote import RemoteControl

    rc = RemoteControl(settings)

    def inspect(method: str) -> dict[str, Any]:
        return _replies(rc.inspect(method, timeout=timeout))

    stats = inspect("stats")
    active = inspect("active")
    reserved = inspect("reserved")
    scheduled = inspect("scheduled")
    ts = now()
    events: list[dict[str, Any]] = []
    for host in sorted(set(stats) | set(active) | set(reserved) | set(scheduled)):
        st = stats.get(host) or {}
        tasks = active.get(host) or []
        total = st.get("total") if isinstance(st, dict) else None
        processed = sum(total.values()) if isinstance(total, dict) else None
        hb: dict[str, Any] = {
            "type": "worker-heartbeat",
            "hostname": host,
            "timestamp": ts,
            "freq": 2.0,
            "active": len(tasks) if isinstance(tasks, list) else 0,
            "ctl_resync": True,
        }
        if processed is not None:
            hb["processed"] = processed
        if isinstance(st, dict):
            if st.get("pid") is not None:
                hb["pid"] = st.get("pid")
            rusage = st.get("rusage")
            if isinstance(rusage, dict) and "loadavg" in rusage:
                hb["loadavg"] = rusage["loadavg"]
        events.append(hb)
        for task in tasks if isinstance(tasks, list) else []:
            if not isinstance(task, dict) or not task.get("id"):
                continue
            started = task.get("time_start") or ts
            events.append(_received(task, host, timestamp=started))
            events.append(
                {
                    "type": "task-started",
                    "uuid": task["id"],
                    "hostname": host,
                    "ctl_resync": True,
                    "timestamp": started,
                    "pid": task.get("worker_pid"),
                }
            )
        for request, _ in _requests(reserved, host):
            events.append(_received(request, host))
        for request, eta in _requests(scheduled, host):
            extra = {"eta": eta} if isinstance(eta, str) else {}
            events.append(_received(request, host, **extra))
    return events


# -- the result backend ------------------------------------------------------------
def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _repr_args(value)


def _result(value: Any) -> str | None:
    """A result as ``task-succeeded`` carries it: its ``repr``."""
    try:
        return None if value is None else repr(value)
    except Exception:
        return "?"


def _done(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def record_of(task: Mapping[str, Any]) -> dict[str, Any]:
    """The plain record ``ClusterState.merge_backend`` takes, from one ``ctl tasks`` record.

    Fields the backend does not have (no ``result_extended``: name, worker,
    args) stay None -- the state fills only what it has, and says so.
    """
    exc = task.get("exception")
    exception = None
    if isinstance(exc, Mapping):
        exception = f"{exc.get('type')}({exc.get('message')!r})"
    state = task.get("state")
    return {
        "uuid": task.get("id"),
        "state": state,
        "done": _done(task.get("date_done")),
        "name": task.get("name"),
        "hostname": task.get("worker"),
        "args": _text(task.get("args")) if task.get("args") is not None else None,
        "kwargs": _text(task.get("kwargs")) if task.get("kwargs") is not None else None,
        "result": _result(task.get("result")) if state == "SUCCESS" else None,
        "exception": exception,
        "traceback": _text(task.get("traceback")),
        "retries": task.get("retries"),
        "parent_id": task.get("parent_id"),
    }


def backend_records(
    settings: ClusterSettings,
    limit: int = DEFAULT_HISTORY,
    progress: Callable[[History], None] | None = None,
    budget: float = 20.0,
) -> tuple[list[dict[str, Any]], History]:
    """The newest ``limit`` results of the backend as merge records, newest first.

    ``progress`` is called from the reading thread every thousand records
    read (``History.scanned`` of ``History.total``).  Raises what
    :func:`console.core.history.list_history` raises: UnlistableBackend
    (``rpc://``, no backend), BackendUnreachable.
    """
    hist = list_history(
        settings, HistoryQuery(limit=max(1, limit), budget=budget), progress=progress
    )
    return [record_of(t) for t in hist.tasks], hist
