"""ClusterState: the event-driven model of a Celery cluster (tasks, workers, stats).

Fed with raw Celery event dicts exactly as they arrive on the wire
(``{"type": "task-succeeded", "uuid": ..., "timestamp": ..., ...}``).  Never
imports Textual; never raises on bad input.

Semantics (compare ``celery.events.state``):

* **Task states** are ordered ``PENDING < RECEIVED < STARTED < REJECTED <
  REVOKED < FAILURE < SUCCESS``.  An event whose state ranks *below* the
  current one happened before it (events arrive out of order across workers
  and connections): it does not change the state, it only fills in fields that
  are still unknown (a late ``task-received`` after ``task-succeeded`` supplies
  name/args/kwargs but the task stays SUCCESS).  ``RETRY`` is special (as in
  Celery): a transition into or out of RETRY is decided by the event
  timestamp instead (RETRY -> RECEIVED -> STARTED again is a real transition;
  a late event of the previous attempt is merged, not applied).
* **Timeline**: the latest timestamp of each kind of event (sent, received,
  started, retried, rejected, revoked, failed, succeeded) is kept on the
  record; ``task_detail()["timeline"]`` lists them sorted by time.  Earlier
  attempts of a retried task are not kept (only the latest of each kind).
* **Workers**: ``online`` / ``late`` / ``offline``.  Any event from a worker
  (heartbeat, online, or a task event it sent) is a sign of life, dated by the
  injected clock at the time it is applied (``local_received`` when the
  intake provides it).  A worker is *offline* after ``worker-offline`` or
  when ``now > last_seen + freq * 2`` (Celery's ``HEARTBEAT_EXPIRE_WINDOW``
  of 200%), *late* when ``now > last_seen + freq + max(0.5, freq / 4)``.
* **Memory is bounded**: at most ``max_tasks`` task records (finished tasks
  evicted first, oldest finish first; only then the oldest unfinished),
  ``max_workers`` workers (when full, the offline worker seen longest ago is
  evicted, ``stats.workers_evicted``; with none offline a new hostname is
  refused, ``stats.workers_refused``; both in O(1) amortised, so a flood of
  forged hostnames cannot stall the intake), ``max_names`` task names in the per-name stats
  (then an ``"(other)"`` bucket), text fields capped at ``max_text`` chars,
  rate windows are fixed-size rings.  Statistics are counted as transitions
  happen, so they survive eviction.
* **Malformed input** (non-dicts, missing/ill-typed ``type``/``uuid``/
  ``hostname``) is counted in ``stats.malformed`` and skipped; ill-typed
  optional fields (a string timestamp, a dict clock, NaN, 1e300 ...) are
  dropped and the rest of the event is applied (``stats.repaired``).  Event
  types we do not know are counted in ``stats.unknown``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

__all__ = [
    "ClusterState",
    "TaskRecord",
    "WorkerRecord",
    "TaskRow",
    "WorkerRow",
    "Stats",
    "STATES",
    "FINAL_STATES",
    "WORKER_STATUSES",
    "HEARTBEAT_EXPIRE_FACTOR",
]

# --------------------------------------------------------------------------- states

PENDING, RECEIVED, STARTED, RETRY, REJECTED, REVOKED, FAILURE, SUCCESS = range(8)
#: state names indexed by state code; the code order is the precedence order
#: (except RETRY, which is ordered by timestamp).
STATES: tuple[str, ...] = (
    "PENDING",
    "RECEIVED",
    "STARTED",
    "RETRY",
    "REJECTED",
    "REVOKED",
    "FAILURE",
    "SUCCESS",
)
STATE_CODE: dict[str, int] = {s: i for i, s in enumerate(STATES)}
FINAL_STATES = frozenset({"REJECTED", "REVOKED", "FAILURE", "SUCCESS"})
_FIRST_FINAL = REJECTED  # codes >= this are final
#: the event (and TaskRecord timestamp attribute) behind each state code
_TIME_ATTR: tuple[str, ...] = (
    "sent",
    "received",
    "started",
    "retried",
    "rejected",
    "revoked",
    "failed",
    "succeeded",
)
_TASK_TYPES: dict[str, int] = {"task-" + a: i for i, a in enumerate(_TIME_ATTR)}
_TASK_CODE = _TASK_TYPES.get
_WORKER_TYPES = ("worker-online", "worker-heartbeat", "worker-offline")
WORKER_STATUSES = ("online", "late", "offline")

#: Celery: a heartbeat expires after ``freq * HEARTBEAT_EXPIRE_WINDOW / 100`` (200%).
HEARTBEAT_EXPIRE_FACTOR = 2.0
DEFAULT_FREQ = 2.0  # celery worker default heartbeat interval

# sanity limits for numbers coming from the wire
_MAX_TS = 1e11  # year 5138: anything larger is garbage
_MAX_CLOCK = 2**62
_MAX_ID = 255  # uuid / hostname / name length
_TRUNC = "…[truncated {} chars]"
_NAN = float("nan")
#: fields a newer backend record overwrites (the outcome); the rest it only fills in
_OUTCOME = frozenset({"result", "exception", "traceback"})


def _num(v: Any) -> float | None:
    """A finite, non-negative, non-absurd float, else None."""
    t = type(v)
    if t is float or t is int:
        if 0 <= v < _MAX_TS:  # NaN fails both comparisons
            num: float = v
            return num
    return None


# --------------------------------------------------------------------------- records

#: what TaskRecord.extra holds, in order (task-sent's ``hostname`` is the client's)
EXTRA_FIELDS = ("queue", "exchange", "routing_key", "sender", "signum", "terminated", "expired")
_SENT_EXTRA = ("queue", "exchange", "routing_key", "hostname")
_REVOKED_EXTRA = ("signum", "terminated", "expired")


def _short(v: Any) -> Any:
    """A short str, a number or a bool from the wire, else None."""
    if type(v) is str:
        return v if len(v) <= _MAX_ID else None
    if type(v) is bool or type(v) is int:
        return v
    return None


def _keep_extra(t: TaskRecord, get: Callable[[str], Any], sent: bool) -> None:
    """task-sent / task-revoked fields into ``t.extra`` (allocated only when present)."""
    names = _SENT_EXTRA if sent else _REVOKED_EXTRA
    values = [_short(get(n)) for n in names]
    if all(v is None for v in values):
        return
    old = list(t.extra) if t.extra is not None else [None] * len(EXTRA_FIELDS)
    start = 0 if sent else len(_SENT_EXTRA)
    for i, v in enumerate(values):
        if v is not None:
            old[start + i] = v
    # most tasks share queue, exchange, routing key and sender: one tuple for all of them
    # (a bounded cache; with task_send_sent_event on every task has these)
    extra = tuple(old)
    shared = _EXTRA_CACHE.get(extra)
    if shared is None:
        if len(_EXTRA_CACHE) >= 4096:
            _EXTRA_CACHE.clear()
        shared = _EXTRA_CACHE[extra] = extra
    t.extra = shared


_EXTRA_CACHE: dict[tuple[Any, ...], tuple[Any, ...]] = {}


class TaskRecord:
    """One task (``__slots__``; ~400 bytes with typical fields)."""

    __slots__ = (
        "uuid",
        "name",
        "state",
        "code",
        "hostname",
        "args",
        "kwargs",
        "result",
        "exception",
        "traceback",
        "runtime",
        "retries",
        "eta",
        "expires",
        "parent_id",
        "root_id",
        "clock",
        "timestamp",
        # timeline: latest timestamp of each kind of event
        "sent",
        "received",
        "started",
        "retried",
        "rejected",
        "revoked",
        "failed",
        "succeeded",
        "extra",
        "_bucket",
    )
    uuid: str
    name: str | None
    state: str
    code: int
    hostname: str | None
    args: str | None
    kwargs: str | None
    result: str | None
    exception: str | None
    traceback: str | None
    runtime: float | None
    retries: int | None
    eta: str | None
    expires: str | None
    parent_id: str | None
    root_id: str | None
    clock: int
    timestamp: float | None
    sent: float | None
    received: float | None
    started: float | None
    retried: float | None
    rejected: float | None
    revoked: float | None
    failed: float | None
    succeeded: float | None
    #: rare fields (task-sent: queue, exchange, routing key, sender; task-revoked: signal,
    #: terminated, expired), None for most tasks: see :data:`EXTRA_FIELDS`
    extra: tuple[Any, ...] | None
    _bucket: list[int] | None

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.name = self.hostname = self.args = self.kwargs = None
        self.result = self.exception = self.traceback = None
        self.runtime = self.retries = self.eta = self.expires = None
        self.parent_id = self.root_id = self.timestamp = None
        self.sent = self.received = self.started = self.retried = None
        self.rejected = self.revoked = self.failed = self.succeeded = None
        self.extra = None
        self.clock = 0
        self.code = PENDING
        self.state = "PENDING"
        self._bucket = None  # the per-name stats row this task is counted in

    @property
    def finished(self) -> bool:
        return self.code >= _FIRST_FINAL

    def timeline(self) -> list[list[Any]]:
        out = []
        for code, attr in enumerate(_TIME_ATTR):
            ts = getattr(self, attr)
            if ts is not None:
                out.append([STATES[code], ts])
        out.sort(key=lambda item: (item[1], STATE_CODE[item[0]]))
        return out

    def __repr__(self) -> str:
        return f"<TaskRecord {self.uuid} {self.name} {self.state}>"


class _Ring:
    """Counts per one-second bucket over the last ``size`` seconds (fixed memory)."""

    __slots__ = ("secs", "counts", "size")

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.secs = [-1] * size
        self.counts = [0] * size

    def add(self, now: float, n: int = 1) -> None:
        s = int(now)
        i = s % self.size
        if self.secs[i] != s:
            self.secs[i] = s
            self.counts[i] = n
        else:
            self.counts[i] += n

    def rate(self, now: float, window: float) -> float:
        if not window or window <= 0:
            return 0.0
        window = min(float(window), float(self.size - 1))
        end = int(now)
        start = end - int(math.ceil(window))
        # only the buckets of the window (~10 of 64): worker_row calls this for every
        # worker in every delta (500 workers at 10 Hz)
        secs, counts, size = self.secs, self.counts, self.size
        total = 0
        for s in range(start + 1, end + 1):
            i = s % size
            if secs[i] == s:
                total += counts[i]
        return total / window

    def history(self, now: float, length: int = 60) -> list[float]:
        end = int(now)
        length = min(length, self.size)
        by_sec = dict(zip(self.secs, self.counts, strict=True))
        return [float(by_sec.get(s, 0)) for s in range(end - length + 1, end + 1)]


class WorkerRecord:
    """One worker, from heartbeats / online / offline and the task events it sends."""

    __slots__ = (
        "hostname",
        "pid",
        "freq",
        "last_heartbeat",
        "last_seen",
        "clock",
        "active",
        "processed",
        "loadavg",
        "sw_ident",
        "sw_ver",
        "sw_sys",
        "offline",
        "succeeded",
        "failed",
        "finished",
        "ring",
        "status",
        "pool_hint",
        "heartbeats",
        "timestamp",
    )
    hostname: str
    pid: int | None
    freq: float
    last_heartbeat: float | None
    last_seen: float | None
    clock: int
    active: int | None
    processed: int | None
    loadavg: tuple[float, ...] | None
    sw_ident: str | None
    sw_ver: str | None
    sw_sys: str | None
    offline: bool
    succeeded: int
    failed: int
    finished: int
    ring: _Ring
    status: str
    pool_hint: str | None
    heartbeats: int
    timestamp: float | None

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.pid = self.last_heartbeat = self.last_seen = self.active = None
        self.processed = self.loadavg = self.sw_ident = self.sw_ver = self.sw_sys = None
        self.pool_hint = self.timestamp = None
        self.freq = DEFAULT_FREQ
        self.clock = 0
        self.offline = False
        self.succeeded = self.failed = self.finished = self.heartbeats = 0
        self.ring = _Ring()
        self.status = "offline"

    def status_at(self, now: float) -> str:
        if self.offline or self.last_seen is None:
            return "offline"
        freq = self.freq or DEFAULT_FREQ
        age = now - self.last_seen
        if age > freq * HEARTBEAT_EXPIRE_FACTOR:
            return "offline"
        if age > freq + max(0.5, freq / 4):
            return "late"
        return "online"

    def __repr__(self) -> str:
        return f"<WorkerRecord {self.hostname} {self.status}>"


class TaskRow(NamedTuple):
    uuid: str
    name: str | None
    state: str
    hostname: str | None
    received: float | None
    started: float | None
    runtime: float | None
    retries: int | None
    args: str | None
    kwargs: str | None
    root_id: str | None
    parent_id: str | None
    timestamp: float | None
    lost: bool = False  # its worker expired while it was unfinished: possibly lost
    backend: bool = False  # some fields came from the result backend (merge_backend)


class WorkerRow(NamedTuple):
    hostname: str
    status: str
    active: int
    processed: int
    succeeded: int
    failed: int
    rate: float
    loadavg: tuple[float, ...] | None
    sw_ver: str | None
    pid: int | None
    freq: float
    last_heartbeat: float | None
    pool_hint: str | None


# --------------------------------------------------------------------------- stats

OTHER_NAME = "(other)"
UNKNOWN_NAME = "(unknown)"


class Stats:
    """Counters maintained as events are applied (they survive eviction).

    * ``by_state``: every task ever seen, by its latest known state (sums to
      ``tasks_seen``); ``tracked_by_state``: the tracked tasks only (sums to
      ``len(state.tasks)``); ``transitions``: how many times tasks entered each
      state (monotonic).
    * ``by_name``: task name -> {state: count} (like ``by_state``); at most
      ``max_names`` names, the rest under ``"(other)"``, tasks whose name is not
      known yet under ``"(unknown)"``.
    """

    __slots__ = (
        "events",
        "task_events",
        "worker_events",
        "malformed",
        "unknown",
        "repaired",
        "evicted",
        "tasks_seen",
        "workers_evicted",
        "workers_refused",
        "_by_state",
        "_tracked",
        "_transitions",
        "_by_name",
        "_task_types",
        "_other_types",
        "max_names",
    )

    def __init__(self, max_names: int = 10_000) -> None:
        self.events = self.task_events = self.worker_events = 0
        self.malformed = self.unknown = self.repaired = self.evicted = 0
        self.tasks_seen = self.workers_evicted = self.workers_refused = 0
        self._by_state = [0] * 8
        self._tracked = [0] * 8
        self._transitions = [0] * 8
        self._by_name: dict[str, list[int]] = {}
        self._task_types = [0] * 8  # valid task events by state code
        self._other_types: dict[str, int] = {}  # worker events by type
        self.max_names = max_names

    @property
    def by_state(self) -> dict[str, int]:
        return dict(zip(STATES, self._by_state, strict=True))

    @property
    def tracked_by_state(self) -> dict[str, int]:
        return dict(zip(STATES, self._tracked, strict=True))

    @property
    def transitions(self) -> dict[str, int]:
        return dict(zip(STATES, self._transitions, strict=True))

    @property
    def by_name(self) -> dict[str, dict[str, int]]:
        return {
            name: {STATES[i]: c for i, c in enumerate(row) if c}
            for name, row in self._by_name.items()
        }

    @property
    def by_type(self) -> dict[str, int]:
        out = {"task-" + a: c for a, c in zip(_TIME_ATTR, self._task_types, strict=True)}
        out.update(self._other_types)
        return out

    @property
    def succeeded(self) -> int:
        return self._by_state[SUCCESS]

    @property
    def failed(self) -> int:
        return self._by_state[FAILURE]

    def as_dict(self, names_limit: int = 200) -> dict[str, Any]:
        """Plain dict (picklable, JSON-able); ``by_name`` limited to the busiest names."""
        rows = self._by_name
        if len(rows) > names_limit:
            top = sorted(rows, key=lambda n: sum(rows[n]), reverse=True)[:names_limit]
        else:
            top = list(rows)
        return {
            "events": self.events,
            "task_events": self.task_events,
            "worker_events": self.worker_events,
            "malformed": self.malformed,
            "unknown": self.unknown,
            "repaired": self.repaired,
            "evicted": self.evicted,
            "workers_evicted": self.workers_evicted,
            "workers_refused": self.workers_refused,
            "tasks_seen": self.tasks_seen,
            "by_state": self.by_state,
            "tracked_by_state": self.tracked_by_state,
            "transitions": self.transitions,
            "by_name": {
                n: {STATES[i]: c for i, c in enumerate(rows[n]) if c} for n in top if any(rows[n])
            },
            "names": len(rows),
            "by_type": self.by_type,
        }

    def _name_row(self, name: str | None) -> list[int]:
        key = UNKNOWN_NAME if name is None else name
        row = self._by_name.get(key)
        if row is None:
            if len(self._by_name) >= self.max_names:
                key = OTHER_NAME
                row = self._by_name.get(key)
                if row is not None:
                    return row
            row = self._by_name[key] = [0] * 8
        return row


# --------------------------------------------------------------------------- the model


def _text(v: Any, cap: int) -> str | None:
    """Event text fields are reprs already; anything else is repr()-ed.  Capped."""
    if v is None:
        return None
    if type(v) is not str:
        try:
            v = repr(v)
        except Exception:
            return "<unrepresentable>"
    text: str = v
    if len(text) > cap:
        return text[:cap] + _TRUNC.format(len(text) - cap)
    return text


class ClusterState:
    """The cluster model.  Not thread-safe: one writer (the feed serialises access)."""

    def __init__(
        self,
        max_tasks: int = 100_000,
        clock: Callable[[], float] = time.time,
        *,
        max_workers: int = 5_000,
        max_names: int = 10_000,
        max_text: int = 65_536,
    ) -> None:
        self.max_tasks = max(1, int(max_tasks))
        self.max_workers = max(1, int(max_workers))
        self.max_text = int(max_text)
        self.clock = clock
        self._tasks: dict[str, TaskRecord] = {}
        self._workers: dict[str, WorkerRecord] = {}
        # parent id -> its only child's id, or an ordered set (dict) of children: most
        # parents have one child (chains), a bare str saves a dict per parent
        self._children: dict[str, str | dict[str, None]] = {}
        self._by_root: dict[str, dict[str, None]] = {}  # root id -> tasks (root_id != own id)
        self._finished_q: deque[str] = deque()  # eviction order, lazily cleaned
        self._open_q: deque[str] = deque()
        self._intern: dict[str, str] = {}
        self.stats = Stats(max_names)
        self._ring = _Ring()
        self._changed: set[str] = set()
        self._lost: set[str] = set()  # unfinished tasks of workers that expired
        #: task id -> (first known from the result backend?, the fields merge_backend filled in)
        self._from_backend: dict[str, tuple[bool, tuple[str, ...]]] = {}
        self._evicted: set[str] = set()
        self._wchanged: set[str] = set()
        self._victims: list[str] = []  # offline workers to evict, oldest last
        self._no_victim_until = 0.0  # no worker can have expired before this time
        #: set when more changes piled up than we keep between two drains
        self.changes_overflowed = False
        self._dispatch: dict[str, Callable[[dict[str, Any], float], None]] = {}
        for type_ in _WORKER_TYPES:
            self._dispatch[type_] = self._worker_event

    # ------------------------------------------------------------------ read API

    @property
    def tasks(self) -> Mapping[str, TaskRecord]:
        return self._tasks

    @property
    def workers(self) -> Mapping[str, WorkerRecord]:
        return self._workers

    def children_of(self, task_id: str) -> list[str]:
        """Tracked children of ``task_id`` (from ``parent_id`` links), in arrival order."""
        kids = self._children.get(task_id)
        if kids is None:
            return []
        return [kids] if type(kids) is str else list(kids)

    def in_root(self, root_id: str) -> list[str]:
        """Tracked tasks whose ``root_id`` is ``root_id`` (excluding the root itself)."""
        return list(self._by_root.get(root_id, ()))

    @property
    def children_index(self) -> dict[str, list[str]]:
        """parent id -> tracked children ids (a copy; for tests and tools)."""
        return {p: [k] if type(k) is str else list(k) for p, k in self._children.items()}

    def _unlink_child(self, parent: str, child: str) -> None:
        children = self._children
        kids = children.get(parent)
        if kids is None:
            return
        if isinstance(kids, str):
            if kids == child:
                del children[parent]
            return
        kids.pop(child, None)
        if len(kids) == 1:
            children[parent] = next(iter(kids))
        elif not kids:
            del children[parent]

    def task_rate(self, window: float = 10.0) -> float:
        """Finished tasks per second over the last ``window`` seconds (max 63)."""
        return self._ring.rate(self.clock(), window)

    def rate_history(self, length: int = 60) -> list[float]:
        """Finished tasks per one-second bucket, oldest first, ending now."""
        return self._ring.history(self.clock(), length)

    def worker_status(self, hostname: str, now: float | None = None) -> str:
        w = self._workers.get(hostname)
        if w is None:
            return "offline"
        return w.status_at(self.clock() if now is None else now)

    def worker_rate(self, hostname: str, window: float = 10.0) -> float:
        w = self._workers.get(hostname)
        return 0.0 if w is None else w.ring.rate(self.clock(), window)

    def drain_changes(self) -> tuple[set[str], set[str], set[str]]:
        """(changed task ids, evicted task ids, changed worker hostnames) since last call."""
        out = (self._changed, self._evicted, self._wchanged)
        self._changed, self._evicted, self._wchanged = set(), set(), set()
        self.changes_overflowed = False
        return out

    def task_row(self, uuid: str) -> TaskRow:
        t = self._tasks[uuid]
        args, kwargs = t.args, t.kwargs
        if args is not None and len(args) > 200:
            args = args[:199] + "…"
        if kwargs is not None and len(kwargs) > 200:
            kwargs = kwargs[:199] + "…"
        return TaskRow(
            t.uuid,
            t.name,
            t.state,
            t.hostname,
            t.received,
            t.started,
            t.runtime,
            t.retries,
            args,
            kwargs,
            t.root_id,
            t.parent_id,
            t.timestamp,
            uuid in self._lost,
            uuid in self._from_backend,
        )

    def worker_row(self, hostname: str) -> WorkerRow:
        w = self._workers[hostname]
        now = self.clock()
        return WorkerRow(
            w.hostname,
            w.status_at(now),
            w.active or 0,
            w.processed or 0,
            w.succeeded,
            w.failed,
            w.ring.rate(now, 10.0),
            w.loadavg,
            w.sw_ver,
            w.pid,
            w.freq,
            w.last_heartbeat,
            w.pool_hint,
        )

    def task_detail(self, uuid: str) -> dict[str, Any] | None:
        t = self._tasks.get(uuid)
        if t is None:
            return None
        d: dict[str, Any] = {
            f: getattr(t, f)
            for f in (
                "uuid",
                "name",
                "state",
                "hostname",
                "args",
                "kwargs",
                "result",
                "exception",
                "traceback",
                "runtime",
                "retries",
                "eta",
                "expires",
                "parent_id",
                "root_id",
                "clock",
                "timestamp",
                *_TIME_ATTR,
            )
        }
        d["worker"] = t.hostname
        if t.extra is not None:
            d.update(zip(EXTRA_FIELDS, t.extra, strict=True))
        d["timeline"] = t.timeline()
        d["children"] = self.children_of(uuid)
        d["finished"] = t.code >= _FIRST_FINAL
        d["lost"] = uuid in self._lost
        created, filled = self._from_backend.get(uuid, (False, ()))
        d["source"] = "backend" if created else "events"  # where the task was first seen
        d["backend_fields"] = list(filled)
        if filled:  # as console/core/detail.py names them: field -> where it came from
            d["sources"] = {("worker" if f == "hostname" else f): "backend" for f in filled}
        if created:  # what the backend did not have (no result_extended: name, args, ...)
            d["missing"] = [f for f in ("name", "hostname", "args", "kwargs") if d[f] is None]
        return d

    def expire_workers(self, now: float | None = None) -> list[str]:
        """Re-evaluate every worker's status at ``now``; returns hostnames whose status changed
        (they are also reported by ``drain_changes``).  Workers whose heartbeats expired
        without a ``worker-offline`` become ``offline``."""
        now = self.clock() if now is None else now
        changed = []
        gone = set()
        for host, w in self._workers.items():
            status = w.status_at(now)
            if status != w.status:
                if status == "offline" and not w.offline:
                    gone.add(host)  # expired without worker-offline (killed, partitioned)
                w.status = status
                changed.append(host)
        self._wchanged.update(changed)
        if gone:
            # its unfinished tasks may never report again: flag them "possibly lost"
            for uuid, t in self._tasks.items():
                if (
                    t.code < _FIRST_FINAL
                    and t.hostname in gone
                    and t.state in ("RECEIVED", "STARTED")
                ):
                    self._lost.add(uuid)
                    self._changed.add(uuid)
        return changed

    # ------------------------------------------------------------------ write API
    # The hot path (_apply, _apply_task, _received_fields, _worker_event) is hand-tuned
    # for CPython: local aliases, ``type(x) is`` checks, no per-field helper calls.
    # Guarded by bench row 4 (tests/perf/bench_state.py: apply_batch events/s and
    # bytes per task) and row 3 (tests/perf/bench_intake.py); measure any change.

    def apply(self, event: dict[str, Any]) -> None:
        """Apply one raw event dict.  Never raises for bad input."""
        self._apply(event, self.clock())

    def apply_batch(self, events: Iterable[dict[str, Any]]) -> None:
        """Apply many events (one clock read for the whole batch)."""
        now = self.clock()
        apply = self._apply
        for event in events:
            apply(event, now)

    def _apply(self, event: Any, now: float) -> None:
        stats = self.stats
        stats.events += 1
        try:
            type_ = event["type"]
            code = _TASK_CODE(type_)  # TypeError when unhashable
        except Exception:  # not a dict, no type, unhashable type
            stats.malformed += 1
            return
        try:
            if code is not None:
                self._apply_task(event, now, code)
                return
            handler = self._dispatch.get(type_)
            if handler is not None:
                handler(event, now)
            elif type(type_) is str and (type_.startswith("task-") or type_.startswith("worker-")):
                stats.unknown += 1
            else:
                stats.malformed += 1
        except Exception:
            stats.malformed += 1

    # ------------------------------------------------------------------ tasks

    def _apply_task(self, event: dict[str, Any], now: float, code: int) -> None:
        stats = self.stats
        get = event.get
        uuid = get("uuid")
        if type(uuid) is not str or not 0 < len(uuid) <= _MAX_ID:
            stats.malformed += 1
            return
        stats.task_events += 1
        stats._task_types[code] += 1
        if self._lost:
            self._lost.discard(uuid)  # it reported again: not lost
        repaired = False
        ts = get("timestamp")
        if ts is not None:
            tt = type(ts)
            if (tt is not float and tt is not int) or not 0 <= ts < _MAX_TS:
                ts = None
                repaired = True
        clock = get("clock")
        if type(clock) is not int or not 0 <= clock < _MAX_CLOCK:
            if clock is not None:
                repaired = True
            clock = 0

        tasks = self._tasks
        t = tasks.get(uuid)
        if t is None:
            if len(tasks) >= self.max_tasks:
                self._evict_one()
            t = TaskRecord(uuid)
            tasks[uuid] = t
            self._open_q.append(uuid)
            stats.tasks_seen += 1
            stats._by_state[PENDING] += 1
            stats._tracked[PENDING] += 1
            t._bucket = row = stats._name_row(None)
            row[PENDING] += 1
            self._evicted.discard(uuid)
        cur = t.code
        if code == RETRY or cur == RETRY:
            # ordered by time: RETRY -> RECEIVED/STARTED again is real; an older
            # event of a previous attempt is only merged
            last = t.timestamp
            newer = (
                ts is None or last is None or ts > last or (ts == last and clock >= t.clock)
            )  # Lamport clock breaks ties
        else:
            newer = code >= cur
        # timeline
        attr = _TIME_ATTR[code]
        if ts is not None:
            old = getattr(t, attr)
            if old is None or ts >= old:
                setattr(t, attr, ts)

        # fields
        hostname = get("hostname")
        if hostname is not None:
            if type(hostname) is str and len(hostname) <= _MAX_ID:
                hostname = self._interned(hostname)
            else:
                hostname = None
                repaired = True
        if code != PENDING and hostname is not None and (newer or t.hostname is None):
            t.hostname = hostname
        if code == PENDING or code == REVOKED:
            _keep_extra(t, get, code == PENDING)
        if (code == RECEIVED or code == PENDING) and t.eta is not None:
            retries = get("retries")
            if (type(retries) is int and t.retries is not None and retries > t.retries) or (
                code == RECEIVED and newer and cur == RETRY
            ):
                # a new attempt of a retried task (its task-received may come before the
                # task-retried of the previous one): its eta is its own, none when the
                # retry had no countdown, never the eta of an earlier attempt
                eta = get("eta")
                t.eta = eta if type(eta) is str and len(eta) <= 64 else None
        if code == RECEIVED or code == PENDING:
            repaired |= self._received_fields(t, get, newer or code == RECEIVED)
        elif code == SUCCESS:
            v = get("result")
            if v is not None and (newer or t.result is None):
                t.result = (
                    v if type(v) is str and len(v) <= self.max_text else _text(v, self.max_text)
                )
            v = get("runtime")
            if v is not None:
                if _num(v) is None:
                    repaired = True
                elif newer or t.runtime is None:
                    t.runtime = v
        elif code == FAILURE or code == RETRY or code == REJECTED or code == REVOKED:
            cap = self.max_text
            v = get("exception")
            if v is not None and (newer or t.exception is None):
                t.exception = v if type(v) is str and len(v) <= cap else _text(v, cap)
            v = get("traceback")
            if v is not None and (newer or t.traceback is None):
                t.traceback = v if type(v) is str and len(v) <= cap else _text(v, cap)
            if code == FAILURE:
                v = get("runtime")
                if v is not None and _num(v) is not None and (newer or t.runtime is None):
                    t.runtime = v
        if clock > t.clock:
            t.clock = clock
        if hostname is not None and code != PENDING:
            # a task event is a sign of life of the worker that sent it
            w = self._workers.get(hostname)
            if w is None:
                w = self._new_worker(hostname)
            if w is not None and not w.offline:
                seen = get("local_received")
                if type(seen) is not float or not -3600 < now - seen < 3600:
                    seen = now
                if w.last_seen is None or seen > w.last_seen:
                    w.last_seen = seen

        if newer:
            if ts is not None:
                t.timestamp = ts
            if code != cur:
                self._transition(t, cur, code, now, hostname)
        if repaired:
            stats.repaired += 1
        self._changed.add(uuid)

    def _received_fields(self, t: TaskRecord, get: Callable[[str], Any], overwrite: bool) -> bool:
        repaired = False
        cap = self.max_text
        v = get("name")
        if v is not None:
            if type(v) is str and 0 < len(v) <= 1024:
                if overwrite or t.name is None:
                    if v != t.name:
                        self._rename(t, self._interned(v))
            else:
                repaired = True
        v = get("args")
        if v is not None and (overwrite or t.args is None):
            t.args = v if type(v) is str and len(v) <= cap else _text(v, cap)
        v = get("kwargs")
        if v is not None and (overwrite or t.kwargs is None):
            t.kwargs = v if type(v) is str and len(v) <= cap else _text(v, cap)
        v = get("retries")
        if v is not None:
            if type(v) is int and 0 <= v < 1 << 31:
                if t.retries is None or v > t.retries:
                    t.retries = v
            else:
                repaired = True
        for key in ("eta", "expires"):
            v = get(key)
            if v is not None and (overwrite or getattr(t, key) is None):
                setattr(t, key, v if type(v) is str and len(v) <= 64 else _text(v, 64))
        v = get("root_id")
        if v is not None:
            if type(v) is str and 0 < len(v) <= _MAX_ID:
                if (overwrite or t.root_id is None) and v != t.root_id:
                    self._set_root(t, t.uuid if v == t.uuid else v)
            else:
                repaired = True
        v = get("parent_id")
        if v is not None:
            if type(v) is str and 0 < len(v) <= _MAX_ID:
                if (overwrite or t.parent_id is None) and v != t.parent_id:
                    self._set_parent(t, v)
            else:
                repaired = True
        return repaired

    def _set_parent(self, t: TaskRecord, parent: str | None) -> None:
        children = self._children
        old = t.parent_id
        if old is not None:
            self._unlink_child(old, t.uuid)
        if parent == t.uuid:  # a task cannot be its own parent
            parent = None
        t.parent_id = parent
        if parent is not None:
            kids = children.get(parent)
            if kids is None:
                children[parent] = t.uuid
            elif isinstance(kids, str):
                if kids != t.uuid:
                    children[parent] = {kids: None, t.uuid: None}
            else:
                kids[t.uuid] = None
            if parent in self._tasks:
                self._changed.add(parent)

    def _set_root(self, t: TaskRecord, root: str | None) -> None:
        by_root = self._by_root
        old = t.root_id
        if old is not None and old != t.uuid:
            members = by_root.get(old)
            if members is not None:
                members.pop(t.uuid, None)
                if not members:
                    del by_root[old]
        t.root_id = root
        if root is not None and root != t.uuid:
            members = by_root.get(root)
            if members is None:
                members = by_root[root] = {}
            members[t.uuid] = None

    def _rename(self, t: TaskRecord, name: str) -> None:
        stats = self.stats
        old_row = t._bucket
        new_row = stats._name_row(name)
        if old_row is not None:
            old_row[t.code] -= 1
        new_row[t.code] += 1
        t._bucket = new_row
        t.name = name

    def _transition(
        self, t: TaskRecord, old: int, new: int, now: float, hostname: str | None
    ) -> None:
        stats = self.stats
        stats._by_state[old] -= 1
        stats._by_state[new] += 1
        stats._tracked[old] -= 1
        stats._tracked[new] += 1
        stats._transitions[new] += 1
        row = t._bucket
        if row is not None:  # set when the record is created
            row[old] -= 1
            row[new] += 1
        t.code = new
        t.state = STATES[new]
        if new >= _FIRST_FINAL:
            if old < _FIRST_FINAL:
                self._finished_q.append(t.uuid)
                self._ring.add(now)
                host = t.hostname
                w = self._workers.get(host) if host is not None else None
                if w is not None:
                    w.ring.add(now)
                    w.finished += 1
                    if new == SUCCESS:
                        w.succeeded += 1
                    elif new == FAILURE:
                        w.failed += 1
                    self._wchanged.add(w.hostname)
        elif old >= _FIRST_FINAL:
            # reopened (e.g. a newer RETRY after a final state): evictable as unfinished
            self._open_q.append(t.uuid)

    # ------------------------------------------------------------------ the result backend

    def merge_backend(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Merge task records read from the result backend (console/core/backfill.py).

        A record is a plain dict: ``uuid``, ``state``, ``done`` (epoch of
        ``date_done``, None for STARTED / RETRY), and when the backend has them
        ``name``, ``hostname``, ``args``, ``kwargs`` (reprs), ``result``,
        ``exception``, ``traceback``, ``retries``, ``parent_id``.  Rules:

        * a task not tracked yet is added in the record's state -- unless the
          state is full: what the backend holds is older than what events
          brought, it never evicts a task;
        * a tracked task takes the record's state only when it ranks higher
          (as an event would) *and* the record is not older than the task's
          latest event: an event never loses to an older backend record, and a
          record without ``done`` never changes a tracked task's state;
        * otherwise the record only fills fields still unknown (the name and
          arguments of a task seen only as ``task-started``).

        No worker is created or counted and no rate changes (these tasks ran
        before); ``stats.transitions`` counts events only.  The fields filled in
        are remembered (``task_detail()["backend_fields"]``, ``TaskRow.backend``).
        Returns how many records changed something.  Never raises for bad input.
        """
        merged = 0
        for rec in records:
            try:
                merged += self._merge_one(rec)
            except Exception:
                self.stats.malformed += 1
        return merged

    def _merge_one(self, rec: Mapping[str, Any]) -> int:
        get = rec.get
        uuid = get("uuid")
        state = get("state")
        if type(uuid) is not str or not 0 < len(uuid) <= _MAX_ID or type(state) is not str:
            return 0
        code = STATE_CODE.get(state)
        if code is None or code == PENDING:
            return 0  # a custom state (PROGRESS, ...): nothing to rank it by
        done = _num(get("done"))
        tasks = self._tasks
        stats = self.stats
        t = tasks.get(uuid)
        created = t is None
        if t is None:
            if len(tasks) >= self.max_tasks:
                return 0
            t = TaskRecord(uuid)
            tasks[uuid] = t
            self._open_q.append(uuid)
            stats.tasks_seen += 1
            stats._by_state[PENDING] += 1
            stats._tracked[PENDING] += 1
            t._bucket = row = stats._name_row(None)
            row[PENDING] += 1
            self._evicted.discard(uuid)
        cur = t.code
        last = t.timestamp
        newer = created or (done is not None and (last is None or done >= last) and code > cur)
        cap = self.max_text
        filled: list[str] = []
        v = get("name")
        if type(v) is str and 0 < len(v) <= 1024 and t.name is None:
            self._rename(t, self._interned(v))
            filled.append("name")
        v = get("hostname")
        if type(v) is str and 0 < len(v) <= _MAX_ID and t.hostname is None:
            t.hostname = self._interned(v)
            filled.append("hostname")
        for key in ("args", "kwargs", "result", "exception", "traceback"):
            v = get(key)
            if type(v) is str and (getattr(t, key) is None or (newer and key in _OUTCOME)):
                setattr(t, key, v if len(v) <= cap else _text(v, cap))
                filled.append(key)
        v = get("retries")
        if type(v) is int and 0 <= v < 1 << 31 and (t.retries is None or v > t.retries):
            t.retries = v
            filled.append("retries")
        v = get("parent_id")
        if type(v) is str and 0 < len(v) <= _MAX_ID and t.parent_id is None and v != uuid:
            self._set_parent(t, v)
            filled.append("parent_id")
        if done is not None:
            attr = _TIME_ATTR[code]
            if getattr(t, attr) is None:
                setattr(t, attr, done)
        if newer:
            if done is not None and (last is None or done > last):
                t.timestamp = done
            if code != cur:
                self._quiet_transition(t, cur, code)
                filled.append("state")
        if not filled:
            return 0
        prev = self._from_backend.get(uuid)
        if prev is not None:
            created = created or prev[0]
            filled = [*prev[1], *(f for f in filled if f not in prev[1])]
        self._from_backend[uuid] = (created, tuple(filled))
        self._changed.add(uuid)
        return 1

    def _quiet_transition(self, t: TaskRecord, old: int, new: int) -> None:
        """A state change known from the backend: counted in by_state, not as a transition."""
        stats = self.stats
        stats._by_state[old] -= 1
        stats._by_state[new] += 1
        stats._tracked[old] -= 1
        stats._tracked[new] += 1
        row = t._bucket
        if row is not None:
            row[old] -= 1
            row[new] += 1
        t.code = new
        t.state = STATES[new]
        if new >= _FIRST_FINAL > old:
            self._finished_q.append(t.uuid)
        elif old >= _FIRST_FINAL > new:
            self._open_q.append(t.uuid)

    # ------------------------------------------------------------------ eviction

    def _evict_one(self) -> None:
        """Evict one task: the oldest finished, else the oldest unfinished.

        The queues are lazy: an entry is stale when its task is gone (or came
        back later), or changed between finished and unfinished since; stale
        entries are skipped here and compacted in ``_remove``.
        """
        tasks = self._tasks
        for q, want_final in ((self._finished_q, True), (self._open_q, False)):
            while q:
                t = tasks.get(q.popleft())
                if t is not None and (t.code >= _FIRST_FINAL) == want_final:
                    self._remove(t)
                    return
        # every queue exhausted (should not happen): rebuild them and retry once
        self._rebuild_queues()  # pragma: no cover - defensive
        for q in (self._finished_q, self._open_q):  # pragma: no cover
            if q:
                self._remove(tasks[q.popleft()])
                return

    def _rebuild_queues(self) -> None:
        tasks = self._tasks
        self._finished_q = deque(u for u, t in tasks.items() if t.code >= _FIRST_FINAL)
        self._open_q = deque(u for u, t in tasks.items() if t.code < _FIRST_FINAL)

    def _remove(self, t: TaskRecord) -> None:
        uuid = t.uuid
        del self._tasks[uuid]
        self._lost.discard(uuid)
        if self._from_backend:
            self._from_backend.pop(uuid, None)
        stats = self.stats
        stats.evicted += 1
        stats._tracked[t.code] -= 1
        if t.parent_id is not None:
            self._unlink_child(t.parent_id, uuid)
        if t.root_id is not None and t.root_id != uuid:
            members = self._by_root.get(t.root_id)
            if members is not None:
                members.pop(uuid, None)
                if not members:
                    del self._by_root[t.root_id]
        self._changed.discard(uuid)
        evicted = self._evicted
        evicted.add(uuid)
        if len(evicted) > max(self.max_tasks, 10_000):
            evicted.clear()
            self.changes_overflowed = True
        # keep the lazy queues from growing without bound
        limit = 2 * self.max_tasks + 1024
        if len(self._finished_q) + len(self._open_q) > limit:
            self._rebuild_queues()

    # ------------------------------------------------------------------ workers

    def _interned(self, s: str) -> str:
        cache = self._intern
        got = cache.get(s)
        if got is None:
            if len(cache) >= 20_000 or len(s) > _MAX_ID:
                return s
            got = cache[s] = s
        return got

    def _new_worker(self, hostname: str) -> WorkerRecord | None:
        workers = self._workers
        if len(workers) >= self.max_workers:
            # evict the offline worker seen longest ago, else refuse the newcomer (counted)
            victim = self._worker_victim()
            if victim is None:
                self.stats.workers_refused += 1
                return None
            del workers[victim]
            self.stats.workers_evicted += 1
            self._wchanged.add(victim)
        w = workers[hostname] = WorkerRecord(hostname)
        self._wchanged.add(hostname)
        return w

    def _worker_victim(self) -> str | None:
        """The offline worker seen longest ago, or None; amortised O(1) under a flood.

        One scan sorts every offline worker into ``_victims`` (the oldest popped
        first) or, when there is none, notes the earliest time an online one can
        expire (``_no_victim_until``): until then a newcomer is refused without a
        scan.  (100,000 forged hostnames used to cost a 5,000-worker scan each.)
        """
        now = self.clock()
        victims = self._victims
        workers = self._workers
        while victims:
            host = victims.pop()
            w = workers.get(host)
            if w is not None and w.status_at(now) == "offline":
                return host
        if now < self._no_victim_until:
            return None
        offline: list[tuple[float, str]] = []
        soonest = math.inf
        for host, w in workers.items():
            if w.status_at(now) == "offline":
                offline.append((w.last_seen if w.last_seen is not None else -1.0, host))
            elif w.last_seen is not None:
                expires = w.last_seen + (w.freq or DEFAULT_FREQ) * HEARTBEAT_EXPIRE_FACTOR
                soonest = min(soonest, expires)
        if not offline:
            self._no_victim_until = soonest
            return None
        offline.sort(reverse=True)
        self._victims = [host for _, host in offline]
        return self._victims.pop()

    def _worker_event(self, event: dict[str, Any], now: float) -> None:
        stats = self.stats
        get = event.get
        hostname = get("hostname")
        if type(hostname) is not str or not 0 < len(hostname) <= _MAX_ID:
            stats.malformed += 1
            return
        type_ = event["type"]
        stats.worker_events += 1
        other = stats._other_types
        other[type_] = other.get(type_, 0) + 1
        hostname = self._interned(hostname)
        w = self._workers.get(hostname)
        if w is None:
            w = self._new_worker(hostname)
            if w is None:
                return
        repaired = False
        ts = get("timestamp")
        if ts is not None and _num(ts) is None:
            ts, repaired = None, True
        received = _num(get("local_received"))
        seen = received if received is not None and abs(received - now) < 3600 else now
        if type_ == "worker-offline":
            w.offline = True
            self._no_victim_until = 0.0  # an eviction candidate now exists
            w.active = 0
        else:
            # an online/heartbeat dated before an offline we already applied is stale
            if w.offline and ts is not None and w.timestamp is not None and ts < w.timestamp:
                stats.repaired += repaired
                return
            w.offline = False
            if w.last_seen is None or seen > w.last_seen:
                w.last_seen = seen
            if w.last_heartbeat is None or seen > w.last_heartbeat:
                w.last_heartbeat = seen
            w.heartbeats += 1
        if ts is not None:
            w.timestamp = ts
        v = get("freq")
        if v is not None:
            if _num(v) is not None and 0 < v <= 3600:
                w.freq = float(v)
            else:
                repaired = True
        for key in ("active", "processed", "pid"):
            v = get(key)
            if v is not None:
                if type(v) is int and 0 <= v < 1 << 62:
                    setattr(w, key, v)
                else:
                    repaired = True
        v = get("clock")
        if type(v) is int and 0 <= v < _MAX_CLOCK:
            w.clock = max(w.clock, v)
        v = get("loadavg")
        if v is not None:
            if type(v) in (list, tuple) and len(v) <= 3 and all(_num(x) is not None for x in v):
                w.loadavg = tuple(float(x) for x in v)
            else:
                repaired = True
        for key in ("sw_ident", "sw_ver", "sw_sys", "pool"):
            v = get(key)
            if v is not None:
                if type(v) is str and len(v) <= 128:
                    setattr(w, "pool_hint" if key == "pool" else key, self._interned(v))
                else:
                    repaired = True
        w.status = w.status_at(now)
        if repaired:
            stats.repaired += 1
        self._wchanged.add(hostname)

    # ------------------------------------------------------------------ misc

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[TaskRecord]:
        return iter(self._tasks.values())

    def check_invariants(self) -> None:
        """Assert the model's internal consistency (tests)."""
        tasks = self._tasks
        assert len(tasks) <= self.max_tasks, (len(tasks), self.max_tasks)
        assert len(self._workers) <= self.max_workers
        stats = self.stats
        assert sum(stats._tracked) == len(tasks), (stats._tracked, len(tasks))
        assert sum(stats._by_state) == stats.tasks_seen
        assert all(c >= 0 for c in stats._by_state)
        assert sum(sum(r) for r in stats._by_name.values()) == stats.tasks_seen
        assert len(stats._by_name) <= stats.max_names + 2
        tracked = [0] * 8
        for uuid, t in tasks.items():
            assert t.uuid == uuid
            assert t.state == STATES[t.code]
            tracked[t.code] += 1
        assert tracked == stats._tracked, (tracked, stats._tracked)
        for parent, kids in self.children_index.items():
            assert kids
            for kid in kids:
                assert kid in tasks and tasks[kid].parent_id == parent, (parent, kid)
        for t in tasks.values():
            if t.parent_id is not None:
                assert t.uuid in self.children_of(t.parent_id)
        for root, members in self._by_root.items():
            for m in members:
                assert m in tasks and tasks[m].root_id == root
        for w in self._workers.values():
            assert w.status_at(self.clock()) in WORKER_STATUSES
