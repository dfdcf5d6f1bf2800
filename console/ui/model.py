"""The UI-side model: the workers, the header figures and the *window* of the task list.

Pure Python (no Textual).  The app applies each :class:`StateDelta` here.
The task list itself lives in the feed (a :class:`~console.core.taskview.TaskViewer`
next to the ClusterState, in the intake process for a live cluster): the UI
keeps only :attr:`UIModel.window` -- the rows it shows, the counts -- and asks
for another window (:meth:`UIModel.spec`) when the user filters, sorts or
scrolls.  So a keystroke never waits for 100,000 rows to be merged, sorted or
filtered in the UI process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core.taskview import (  # noqa: F401 - re-exported for the screens
    FIELD_FILTERS,
    QUICK_FILTERS,
    T_ARGS,
    T_HOST,
    T_KWARGS,
    T_NAME,
    T_PARENT,
    T_RECEIVED,
    T_RETRIES,
    T_ROOT,
    T_RUNTIME,
    T_STARTED,
    T_STATE,
    T_TS,
    T_UUID,
    TASK_SORTS,
    TASK_STATES,
    TaskWindow,
    ViewHost,
    ViewSpec,
)

# WorkerRow field positions
(
    W_HOST,
    W_STATUS,
    W_ACTIVE,
    W_PROCESSED,
    W_SUCCEEDED,
    W_FAILED,
    W_RATE,
    W_LOADAVG,
    W_SWVER,
    W_PID,
    W_FREQ,
    W_HEARTBEAT,
    W_POOL,
) = range(13)


def _field(row: Sequence[Any], index: int) -> Any:
    try:
        return row[index]
    except (IndexError, TypeError):
        return None


@dataclass
class TaskView:
    """The current task list parameters."""

    query: str = ""
    quick: str = "all"
    sort: str = "timestamp"
    reverse: bool = True


@dataclass
class UIModel:
    workers: dict[str, Any] = field(default_factory=dict)  # hostname -> WorkerRow
    stats: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0
    rate_history: list[float] = field(default_factory=list)
    status: Any = None  # FeedStatus
    version: int = 0  # bumps on every task change (new window or new rows)
    worker_version: int = 0
    view: TaskView = field(default_factory=TaskView)
    #: the task list as last answered by the feed (rows on screen + margin, counts)
    window: TaskWindow = field(default_factory=TaskWindow)
    #: uuid -> TaskRow for the rows the UI knows: the window's, or every row from a
    #: feed that was never asked for a view
    tasks: dict[str, Any] = field(default_factory=dict)
    #: the task view computed here, for a feed that has no ``request_view`` (plain rows)
    local: ViewHost | None = None
    _seq: int = 0

    def __post_init__(self) -> None:
        self.local = ViewHost(lambda: list(self.tasks.values()))

    # -- applying deltas ----------------------------------------------------
    def apply(self, delta: Any) -> tuple[bool, bool]:
        """Merge one StateDelta; returns (tasks changed, workers changed)."""
        tasks_changed = workers_changed = False
        if getattr(delta, "full", False):
            if self.workers or delta.workers:
                workers_changed = True
            self.workers = {}
        window = from_feed = getattr(delta, "window", None)
        if window is None and (
            delta.tasks or delta.removed or (getattr(delta, "full", False) and self.tasks)
        ):
            # a feed without request_view: plain rows, viewed here
            if getattr(delta, "full", False):
                self.tasks = {}
            for uid in delta.removed or ():
                self.tasks.pop(uid, None)
            for r in delta.tasks or ():
                self.tasks[r[T_UUID]] = r
            tasks_changed = True
            if self.local is not None and self.local.active:
                window = self.local.absorb(delta).window
        if window is not None and window.spec.seq >= self.window.spec.seq:
            self.window = window
            if from_feed is not None:  # the feed keeps the rows: the UI knows the window's
                self.tasks = {r[T_UUID]: r for r in window.rows}
            tasks_changed = True
        for host in getattr(delta, "workers_removed", None) or ():
            if self.workers.pop(host, None) is not None:  # evicted at the worker cap
                workers_changed = True
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
    def spec(self, offset: int = 0, limit: int = 0, cursor: str | None = None) -> ViewSpec:
        """A new request for the current view parameters (numbered: later answers win)."""
        self._seq += 1
        v = self.view
        return ViewSpec(
            query=v.query,
            quick=v.quick,
            sort=v.sort,
            reverse=v.reverse,
            offset=max(0, offset),
            limit=max(0, limit),
            cursor=cursor,
            seq=self._seq,
        )

    def view_locally(self, spec: ViewSpec) -> None:
        """Answer ``spec`` here (a feed without ``request_view``)."""
        if self.local is not None:
            self.window = self.local.request(spec)
            self.version += 1

    def refresh_local(self) -> bool:
        """A throttled re-sort owed by the local view, if due; True when the window changed."""
        if self.local is None or not self.local.due:
            return False
        window = self.local.refresh()
        if window is None:
            return False
        self.window = window
        self.version += 1
        return True

    @property
    def total_tasks(self) -> int:
        """Tasks tracked by the feed."""
        if self.window.spec.seq:
            return self.window.total
        tracked = self.stats.get("tracked_by_state")
        return sum(tracked.values()) if isinstance(tracked, dict) and tracked else len(self.tasks)

    # -- workers ------------------------------------------------------------
    def online_workers(self) -> tuple[int, int]:
        online = sum(1 for w in self.workers.values() if _field(w, W_STATUS) == "online")
        return online, len(self.workers)
