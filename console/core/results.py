"""Read task results from the result backend without ever hanging.

:func:`read_result` reads what the backend has *now* (an unknown id reads as
``PENDING`` with ``known=False``); :func:`wait_result` polls until the task
is ready or a deadline passes.  Results are plain JSON-able dicts; exceptions
stay in their serialized form (``exc_type`` / ``exc_message``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import ClusterSettings

READY_STATES = {"SUCCESS", "FAILURE", "REVOKED"}
FAILED_STATES = {"FAILURE", "REVOKED"}


def check_task_id(task_id: str) -> str:
    """``task_id`` if usable as a task id, else UsageError (one line, exit 2).

    Celery takes any string as a task id (``apply_async(task_id="nightly-report-1")``),
    so any is accepted here too, except the empty id and ids holding whitespace or
    control characters (C0, DEL, C1), which no shell argument or line of input
    can carry unambiguously.
    """
    import unicodedata

    from .errors import UsageError
    from .sanitize import safe_text

    if not task_id or task_id.isspace():
        raise UsageError("empty task id")
    bad = next(
        (c for c in task_id if c.isspace() or unicodedata.category(c) == "Cc"),
        None,
    )
    if bad is not None:
        what = "whitespace" if bad.isspace() and bad.isprintable() else "a control character"
        raise UsageError(
            f"malformed task id {safe_text(task_id, 80, oneline=True)!r}: contains {what} "
            f"(U+{ord(bad):04X})"
        )
    return task_id


def _node_ids(node: Any) -> tuple[str | None, list[Any]]:
    """Split a serialized result tuple ``[[id, parent], children|None]``."""
    if isinstance(node, list | tuple) and len(node) == 2:
        head, members = node
        if isinstance(head, list | tuple) and head and isinstance(head[0], str):
            return head[0], list(members or [])
        if isinstance(head, str):
            return head, []
    if isinstance(node, str):
        return node, []
    return None, []


def child_ids(children: Any) -> list[dict[str, Any]]:
    """``children`` of a task meta -> ``[{"id": ..., "group": [member ids] | None}]``."""
    out: list[dict[str, Any]] = []
    for child in children or []:
        cid, members = _node_ids(child)
        if cid is None:
            continue
        member_ids = [m for m in (_node_ids(x)[0] for x in members) if m]
        out.append({"id": cid, "group": member_ids or None})
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseException):
        return {
            "exc_type": type(value).__name__,
            "exc_message": [str(a) for a in value.args],
            "exc_module": type(value).__module__,
        }
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def raw_meta(backend: Any, task_id: str) -> dict[str, Any] | None:
    """The stored meta of ``task_id`` (None when the backend has nothing)."""
    getter = getattr(backend, "get", None)
    key_for = getattr(backend, "get_key_for_task", None)
    if callable(getter) and callable(key_for):
        raw = getter(key_for(task_id))
        if raw is None:
            return None
        meta = backend.decode(raw)
        return meta if isinstance(meta, dict) else None
    meta = backend.get_task_meta(task_id)
    if not isinstance(meta, dict) or (
        meta.get("status") == "PENDING" and meta.get("result") is None
    ):
        return None
    return meta


def read_result(settings: ClusterSettings, task_id: str) -> dict[str, Any]:
    """Everything the backend knows about ``task_id``, as a JSON-able dict."""
    backend = settings.app.backend
    meta = raw_meta(backend, task_id)
    known = meta is not None
    meta = meta or {}
    state = str(meta.get("status") or "PENDING")
    date_done = meta.get("date_done")
    parent_id = meta.get("parent_id")
    # a retry is sent by the task itself: the backend then records the task as its
    # own parent, which is no parent link at all
    self_parent = parent_id == task_id
    return {
        "id": task_id,
        "state": state,
        "known": known,
        "ready": state in READY_STATES,
        "result": _jsonable(meta.get("result")),
        "traceback": meta.get("traceback"),
        "name": meta.get("name"),
        "args": _jsonable(meta.get("args")),
        "kwargs": _jsonable(meta.get("kwargs")),
        "worker": meta.get("worker"),
        "retries": meta.get("retries"),
        "queue": meta.get("queue"),
        "date_done": str(date_done) if date_done is not None else None,
        "parent_id": None if self_parent else parent_id,
        "retried_itself": self_parent,
        "group_id": meta.get("group_id"),
        "children": [c for c in child_ids(meta.get("children")) if c["id"] != task_id],
    }


def saved_group_members(backend: Any, group_id: str) -> list[str] | None:
    """Member ids (nested groups flattened) of a group saved in a key/value backend
    (``GroupResult.save()``: ``celery-taskset-meta-ID`` holds ``GroupResult.as_tuple()``).

    Reads the raw record instead of ``restore_group``: the ``AsyncResult`` objects that
    builds unsubscribe from the backend when collected, which on Redis reconnects (and
    retries) long after the command is done.  None when the backend is not a key/value
    store or holds nothing for ``group_id``.
    """
    getter = getattr(backend, "get", None)
    key_for = getattr(backend, "get_key_for_group", None)
    if not (callable(getter) and callable(key_for)):
        return None
    raw = getter(key_for(group_id))
    if raw is None:
        return None
    meta = backend.decode(raw)
    _, stack = _node_ids(meta.get("result") if isinstance(meta, dict) else None)
    out: list[str] = []
    while stack:
        mid, sub = _node_ids(stack.pop(0))
        if sub:  # a nested group
            stack.extend(sub)
        elif mid:
            out.append(mid)
    return out


def wait_result(
    settings: ClusterSettings, task_id: str, timeout: float, interval: float = 0.1
) -> tuple[dict[str, Any], bool]:
    """Poll until ready; returns ``(result, timed_out)``."""
    deadline = time.monotonic() + timeout
    while True:
        info = read_result(settings, task_id)
        if info["ready"]:
            return info, False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return info, True
        time.sleep(min(interval, remaining))
