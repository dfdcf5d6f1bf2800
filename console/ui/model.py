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

from console.core.sanitize import safe_text

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


FIELD_FILTERS = {"state": T_STATE, "name": T_NAME, "worker": T_HOST, "id": T_UUID, "args": T_ARGS}


def _hay_text(r: Sequence[Any]) -> str:
    """What the filter searches: the text as displayed (control characters escaped), lower case."""
    text = f"{r[T_UUID]} {r[T_NAME]} {r[T_STATE]} {r[T_HOST]} {r[T_ARGS]} {r[T_KWARGS]}"
    if not text.isprintable():
        text = safe_text(text, oneline=True)
    return text.lower()


def _kind(term: str) -> str | None:
    name, sep, _ = term.partition(":")
    return name if sep and name in FIELD_FILTERS else None


def _narrows(old: str, new: str) -> bool:
    """True when every row matching ``new`` also matches ``old`` (only the last term grew)."""
    if not old or not new.startswith(old):
        return False
    a, b = old.split(), new.split()
    if len(a) != len(b) or a[:-1] != b[:-1] or old.endswith(" "):
        return False
    return _kind(a[-1]) == _kind(b[-1])


def _field(row: Sequence[Any], index: int) -> Any:
    try:
        return row[index]
    except (IndexError, TypeError):
        return None


def _sort_key(index: int) -> Callable[[Sequence[Any]], tuple[int, Any, Any]]:
    """None sorts first (ascending); mixed types never raise."""

    def key(row: Sequence[Any]) -> tuple[int, Any, Any]:
        value = row[index] if len(row) > index else None
        if value is None:
            return (0, 0, row[T_UUID])
        if isinstance(value, int | float):
            return (1, value, row[T_UUID])
        return (2, str(value).lower(), row[T_UUID])

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
    _view_cache: tuple[Any, str, list[str]] | None = None
    _sorted_cache: tuple[Any, list[str]] | None = None

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
        tasks = self.tasks
        # new ids enter in id order: ties in any sort then fall back to a deterministic
        # order (the feed builds deltas from sets) without a costly tuple sort key
        incoming = sorted(delta.tasks, key=operator.itemgetter(T_UUID)) if delta.tasks else ()
        for r in incoming:
            uid = r[T_UUID]
            tasks[uid] = r
            # the filter haystack, built here (bounded by the feed rate) rather than on a keystroke
            hay[uid] = _hay_text(r)
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
            text = self._hay[uid] = _hay_text(self.tasks[uid])
        return text

    def sorted_ids(self, allow_stale: bool = False) -> list[str]:
        """Every task id in the current sort order (cached per data version and sort).

        ``allow_stale``: reuse the last sort for the same column/direction even if
        data changed since (a keystroke must not pay for a 100k-row re-sort while
        events pour in; the throttled data refresh re-sorts).  May then hold ids
        evicted since: callers drop ids not in ``tasks``.
        """
        view = self.view
        key = (self.version, view.sort, view.reverse)
        cached = self._sorted_cache
        if cached is not None and (cached[0] == key or (allow_stale and cached[0][1:] == key[1:])):
            return cached[1]
        index = TASK_SORTS.get(view.sort, TASK_SORTS["timestamp"])[1]
        rows = [r for r in self.tasks.values() if r[index] is not None]
        nulls = [r for r in self.tasks.values() if r[index] is None] if len(rows) != len(self.tasks) else []
        try:  # stable: ties keep the (deterministic) arrival order, see apply()
            rows.sort(key=operator.itemgetter(index), reverse=view.reverse)
        except TypeError:  # mixed types
            rows.sort(key=_sort_key(index), reverse=view.reverse)
        ids = [r[T_UUID] for r in rows]
        ids.extend(r[T_UUID] for r in nulls)  # unknown values last, whatever the direction
        self._sorted_cache = (key, ids)
        return ids

    def task_ids(self, allow_stale: bool = False) -> list[str]:
        """Task ids after quick filter and text filter, in sort order.

        Filtering keeps the order of the cached sorted list (no re-sort per
        keystroke), and a query that extends the previous one only filters the
        previous result (typing narrows the set: each keystroke is cheaper).
        With ``allow_stale`` (user-driven refreshes) the last sort is reused even
        if data arrived since; rows are still read fresh, evicted ids dropped.
        """
        view = self.view
        query = view.query.strip().lower()
        sorted_all = self.sorted_ids(allow_stale)
        version = self._sorted_cache[0][0] if self._sorted_cache is not None else self.version
        stale = version != self.version
        key = (version, view.quick, view.sort, view.reverse)
        cached = self._view_cache
        if cached is not None and cached[0] == key and cached[1] == query:
            return cached[2]
        if cached is not None and cached[0] == key and _narrows(cached[1], query):
            base = cached[2]
            if stale:  # ids evicted since that result was cut
                tasks = self.tasks
                base = [u for u in base if u in tasks]
            terms = query.split()[-1:]
        else:
            base = sorted_all
            tasks = self.tasks
            if stale:
                base = [u for u in base if u in tasks]
            states = QUICK_FILTERS.get(view.quick)
            if states is not None:
                base = [u for u in base if tasks[u][T_STATE] in states]
            terms = query.split()

        ids = base
        tasks = self.tasks
        for term in terms:
            field_name, sep, value = term.partition(":")
            if sep and field_name in FIELD_FILTERS:
                index = FIELD_FILTERS[field_name]
                ids = [u for u in ids if value in str(tasks[u][index] or "").lower()]
            else:
                hay = self._hay
                if len(hay) < len(tasks):
                    for u in tasks:
                        if u not in hay:
                            self.haystack(u)
                ids = [u for u in ids if term in hay[u]]
        self._view_cache = (key, query, ids)
        return ids

    # -- workers ------------------------------------------------------------
    def online_workers(self) -> tuple[int, int]:
        online = sum(1 for w in self.workers.values() if _field(w, W_STATUS) == "online")
        return online, len(self.workers)
