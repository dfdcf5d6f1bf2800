"""The UI-side model: the latest TaskRow / WorkerRow of everything, merged from StateDeltas.

Pure Python (no Textual).  The app applies each :class:`StateDelta` here by
diff; screens read views from it (filtered / sorted task ids, worker rows)
computed lazily, at most once per change, at the UI's bounded repaint rate.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# TaskRow field positions (docs/ARCHITECTURE.md)
T_UUID, T_NAME, T_STATE, T_HOST, T_RECEIVED, T_STARTED, T_RUNTIME, T_RETRIES, T_ARGS, T_KWARGS, \
    T_ROOT, T_PARENT, T_TS = range(13)
# WorkerRow field positions
W_HOST, W_STATUS, W_ACTIVE, W_PROCESSED, W_SUCCEEDED, W_FAILED, W_RATE, W_LOADAVG, W_SWVER, W_PID, \
    W_FREQ, W_HEARTBEAT, W_POOL = range(13)

TASK_STATES = ("PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED", "REJECTED")
# quick filters: label -> states (None: everything)
QUICK_FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "failed": frozenset({"FAILURE", "REJECTED"}),
    "retrying": frozenset({"RETRY"}),
    "revoked": frozenset({"REVOKED"}),
    "running": frozenset({"STARTED"}),
    "waiting": frozenset({"PENDING", "RECEIVED"}),
    "succeeded": frozenset({"SUCCESS"}),
}

# sortable task columns: key -> (title, field index)
TASK_SORTS: dict[str, tuple[str, int]] = {
    "timestamp": ("updated", T_TS),
    "received": ("received", T_RECEIVED),
    "started": ("started", T_STARTED),
    "runtime": ("runtime", T_RUNTIME),
    "name": ("name", T_NAME),
    "state": ("state", T_STATE),
    "worker": ("worker", T_HOST),
    "retries": ("retries", T_RETRIES),
    "uuid": ("id", T_UUID),
    "args": ("args", T_ARGS),
}


def _field(row: Sequence[Any], index: int) -> Any:
    try:
        return row[index]
    except (IndexError, TypeError):
        return None


def _sort_key(index: int) -> Callable[[Sequence[Any]], tuple[int, Any]]:
    """None sorts first (ascending); mixed types never raise."""

    def key(row: Sequence[Any]) -> tuple[int, Any]:
        value = row[index] if len(row) > index else None
        if value is None:
            return (0, 0)
        if isinstance(value, int | float):
            return (1, value)
        return (2, str(value).lower())

    return key


@dataclass
class TaskView:
    """The current task list parameters."""

    query: str = ""
    quick: str = "all"
    sort: str = "timestamp"
    reverse: bool = True


@dataclass
class UIModel:
    tasks: dict[str, Any] = field(default_factory=dict)  # uuid -> TaskRow
    workers: dict[str, Any] = field(default_factory=dict)  # hostname -> WorkerRow
    stats: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0
    rate_history: list[float] = field(default_factory=list)
    status: Any = None  # FeedStatus
    version: int = 0  # bumps on every task change
    worker_version: int = 0
    view: TaskView = field(default_factory=TaskView)
    _hay: dict[str, str] = field(default_factory=dict)
    _view_cache: tuple[Any, list[str]] | None = None

    # -- applying deltas ----------------------------------------------------
    def apply(self, delta: Any) -> tuple[bool, bool]:
        """Merge one StateDelta; returns (tasks changed, workers changed)."""
        tasks_changed = workers_changed = False
        if getattr(delta, "full", False):
            if self.tasks or delta.tasks:
                tasks_changed = True
            self.tasks = {}
            self._hay = {}
            if self.workers or delta.workers:
                workers_changed = True
            self.workers = {}
        hay = self._hay
        for uid in delta.removed or ():
            if self.tasks.pop(uid, None) is not None:
                tasks_changed = True
            hay.pop(uid, None)
        for row in delta.tasks or ():
            uid = row[T_UUID]
            self.tasks[uid] = row
            hay.pop(uid, None)
            tasks_changed = True
        for row in delta.workers or ():
            self.workers[row[W_HOST]] = row
            workers_changed = True
        self.stats = dict(delta.stats or {}) or self.stats
        self.rate = float(delta.rate or 0.0)
        self.rate_history = list(delta.rate_history or [])
        self.status = delta.status
        if tasks_changed:
            self.version += 1
        if workers_changed:
            self.worker_version += 1
        return tasks_changed, workers_changed

    # -- the task list ------------------------------------------------------
    def haystack(self, uid: str) -> str:
        text = self._hay.get(uid)
        if text is None:
            row = self.tasks[uid]
            text = " ".join(str(_field(row, i) or "") for i in (T_UUID, T_NAME, T_STATE, T_HOST, T_ARGS, T_KWARGS)).lower()
            self._hay[uid] = text
        return text

    def task_ids(self) -> list[str]:
        """Task ids after quick filter, text filter and sort (cached per version/view)."""
        view = self.view
        key = (self.version, view.query, view.quick, view.sort, view.reverse)
        if self._view_cache is not None and self._view_cache[0] == key:
            return self._view_cache[1]
        rows: list[Any] = list(self.tasks.values())
        states = QUICK_FILTERS.get(view.quick)
        if states is not None:
            rows = [r for r in rows if r[T_STATE] in states]
        query = view.query.strip().lower()
        if query:
            for term in query.split():
                if ":" in term and term.split(":", 1)[0] in ("state", "name", "worker", "id"):
                    fname, value = term.split(":", 1)
                    index = {"state": T_STATE, "name": T_NAME, "worker": T_HOST, "id": T_UUID}[fname]
                    rows = [r for r in rows if value in str(_field(r, index) or "").lower()]
                else:
                    hay = self.haystack
                    rows = [r for r in rows if term in hay(r[T_UUID])]
        index = TASK_SORTS.get(view.sort, TASK_SORTS["timestamp"])[1]
        try:
            rows.sort(key=operator.itemgetter(index), reverse=view.reverse)
        except TypeError:  # None or mixed types
            rows.sort(key=_sort_key(index), reverse=view.reverse)
        ids = [r[T_UUID] for r in rows]
        self._view_cache = (key, ids)
        return ids

    # -- workers ------------------------------------------------------------
    def online_workers(self) -> tuple[int, int]:
        online = sum(1 for w in self.workers.values() if _field(w, W_STATUS) == "online")
        return online, len(self.workers)
