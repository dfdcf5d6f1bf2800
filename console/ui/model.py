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
from typing import TYPE_CHECKING, Any

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
    ViewSpec,
)

if TYPE_CHECKING:
    from console.core.feed import FeedStatus, StateDelta

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
    #: the filter input is open: words are about to be typed
    filtering: bool = False


@dataclass
class UIModel:
    workers: dict[str, Any] = field(default_factory=dict)  # hostname -> WorkerRow
    stats: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0
    rate_history: list[float] = field(default_factory=list)
    status: FeedStatus | None = None
    version: int = 0  # bumps on every task change (new window or new rows)
    worker_version: int = 0
    view: TaskView = field(default_factory=TaskView)
    #: the task list as last answered by the feed (rows on screen + margin, counts)
    window: TaskWindow = field(default_factory=TaskWindow)
    #: uuid -> TaskRow for the rows the UI knows: the window's, or the rows of deltas
    #: sent before the feed answered a view
    tasks: dict[str, Any] = field(default_factory=dict)
    _seq: int = 0

    # -- applying deltas ----------------------------------------------------
    def apply(self, delta: StateDelta) -> tuple[bool, bool]:
        """Merge one StateDelta; returns (tasks changed, workers changed)."""
        tasks_changed = workers_changed = False
        if delta.full:
            if self.workers or delta.workers:
                workers_changed = True
            self.workers = {}
        window = delta.window
        if window is None and (delta.tasks or delta.removed or (delta.full and self.tasks)):
            # plain rows (before the feed answered a view): kept until a window comes
            if delta.full:
                self.tasks = {}
            for uid in delta.removed:
                self.tasks.pop(uid, None)
            for r in delta.tasks:
                self.tasks[r.uuid] = r
            tasks_changed = True
        if window is not None and window.spec.seq >= self.window.spec.seq:
            self.window = window
            # the feed keeps the rows: the UI knows the window's
            self.tasks = {r.uuid: r for r in window.rows}
            tasks_changed = True
        for host in delta.workers_removed:
            if self.workers.pop(host, None) is not None:  # evicted at the worker cap
                workers_changed = True
        for row in delta.workers:
            self.workers[row.hostname] = row
            workers_changed = True
        self.stats = dict(delta.stats) or self.stats
        self.rate = float(delta.rate)
        self.rate_history = list(delta.rate_history)
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
            words=v.filtering,
        )

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
