"""Deltas: :class:`DeltaBuilder` turns ``state.drain_changes()`` into bounded
StateDeltas; :func:`merge_deltas` folds a newer delta into an older one."""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any

from .api import FeedStatus, StateDelta

if TYPE_CHECKING:
    from ..state import ClusterState


def stats_dict(stats: Any) -> dict[str, Any]:
    """Any ``state.stats`` object as a plain (picklable) dict."""
    if stats is None:
        return {}
    if isinstance(stats, dict):
        return dict(stats)
    for attr in ("as_dict", "to_dict", "_asdict"):
        fn = getattr(stats, attr, None)
        if callable(fn):
            return dict(fn())
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    return dict(getattr(stats, "__dict__", {}))


class DeltaBuilder:
    """Accumulates ``state.drain_changes()`` and cuts bounded StateDeltas."""

    def __init__(self, state: ClusterState, max_rows: int = 20_000) -> None:
        self.state = state
        self.max_rows = max_rows
        self.tasks: set[str] = set()
        self.removed: set[str] = set()
        self.workers: set[str] = set()
        self.first = True
        self.need_full = False

    def collect(self) -> None:
        if self.state.changes_overflowed:
            self.need_full = True  # the state dropped change records: resend everything
        changed, evicted, workers = self.state.drain_changes()
        if evicted:
            self.tasks.difference_update(evicted)
            self.removed.update(evicted)
        if changed:
            self.tasks.update(changed)
            self.removed.difference_update(changed)
        if workers:
            self.workers.update(workers)

    @property
    def dirty(self) -> bool:
        return bool(self.tasks or self.removed or self.workers or self.first or self.need_full)

    def build(
        self,
        status: FeedStatus,
        rate: float,
        rate_history: list[float],
        full: bool = False,
        *,
        rows: bool = True,
    ) -> StateDelta:
        """The changes since the last build.  ``rows=False``: the changed task ids in
        ``changed`` and no TaskRows (a view host that reads the state needs only the ids;
        building rows it drops cost ~10 ms per delta at 20,000 events/s)."""
        self.collect()
        state = self.state
        tasks_map = state.tasks
        full = full or self.first or self.need_full
        self.first = self.need_full = False
        if full:
            self.tasks = set(tasks_map.keys())
            self.removed.clear()
            self.workers = set(state.workers.keys())
        changed: list[str] = []
        task_rows: list[Any] = []
        if not rows:  # no rows travel: no cap
            changed = [u for u in self.tasks if u in tasks_map]
            self.tasks = set()
        else:
            if len(self.tasks) <= self.max_rows:
                ids = self.tasks
                self.tasks = set()
            else:
                ids = set(itertools.islice(self.tasks, self.max_rows))
                self.tasks -= ids
            task_rows = [state.task_row(u) for u in ids if u in tasks_map]
        known = state.workers
        worker_rows = [state.worker_row(h) for h in self.workers if h in known]
        workers_removed = [] if full else [h for h in self.workers if h not in known]
        self.workers = set()
        removed = list(self.removed)
        self.removed = set()
        return StateDelta(
            tasks=task_rows,
            changed=changed,
            removed=removed,
            workers=worker_rows,
            workers_removed=workers_removed,
            stats=stats_dict(state.stats),
            rate=float(rate),
            rate_history=list(rate_history),
            status=status,
            full=full,
        )


def merge_deltas(into: StateDelta | None, delta: StateDelta) -> StateDelta:
    """Merge ``delta`` (newer) into ``into`` (older, may be None)."""
    if into is None or delta.full:
        return delta
    rows = {r[0]: r for r in into.tasks}
    removed = dict.fromkeys(into.removed)
    for uid in delta.removed:
        rows.pop(uid, None)
        removed[uid] = None
    for r in delta.tasks:
        rows[r[0]] = r
        removed.pop(r[0], None)
    workers = {w[0]: w for w in into.workers}
    gone = dict.fromkeys(into.workers_removed)
    for host in delta.workers_removed:
        workers.pop(host, None)
        gone[host] = None
    for w in delta.workers:
        workers[w[0]] = w
        gone.pop(w[0], None)
    return StateDelta(
        tasks=list(rows.values()),
        removed=list(removed),
        workers=list(workers.values()),
        workers_removed=list(gone),
        stats=delta.stats,
        rate=delta.rate,
        rate_history=delta.rate_history,
        status=delta.status,
        full=into.full,
        window=delta.window if delta.window is not None else into.window,
    )
