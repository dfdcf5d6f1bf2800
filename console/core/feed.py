"""Feeds: what the UI consumes (see docs/ARCHITECTURE.md, "Feed").

* :class:`LiveFeed` -- event intake + :class:`ClusterState` run in a separate
  process (multiprocessing, ``spawn``); the UI process receives compact,
  coalesced :class:`StateDelta` updates at most ``rate_hz`` times a second
  through a pipe.  A receiver thread in the UI process merges them as they
  arrive, so :meth:`LiveFeed.poll` is a non-blocking swap and the intake
  process never blocks on a UI that does not poll.  ``task_detail`` and
  ``canvas`` are request/response round trips with a short timeout.
* :class:`ReplayFeed` -- a recording replayed into an in-process
  ClusterState, in (scaled) real time in a thread, or all at once and
  deterministically with :meth:`ReplayFeed.load_all` (snapshot tests).
* :class:`StaticFeed` -- an existing in-process ClusterState (tests).

Once the UI calls ``request_view`` (console/core/taskview.py), the task list
is filtered, sorted and cut next to the state -- in the intake process for a
LiveFeed -- and deltas carry that window instead of task rows.

Memory is bounded everywhere: pending changes are sets of task ids that
exist in the state (itself bounded by ``max_tasks``), deltas carry at most
``max_rows`` task rows (the rest follow in the next delta), the UI-side
merge falls back to a full snapshot when it grows past ``2 * max_tasks``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import math
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import system_clock

__all__ = [
    "FeedStatus",
    "LiveFeed",
    "RateHistory",
    "ReplayFeed",
    "StateDelta",
    "StaticFeed",
    "resync_events",
]

FINISHED = frozenset({"task-succeeded", "task-failed", "task-revoked", "task-rejected"})


@dataclass(frozen=True)
class FeedStatus:
    mode: str = "disconnected"  # live | reconnecting | disconnected | replay | replay-done
    last_event: float | None = None
    gaps: int = 0
    message: str = ""
    loading: str = ""  # progress line while the past loads (console/core/backfill.py)


@dataclass
class StateDelta:
    tasks: list[Any] = field(default_factory=list)  # TaskRow
    removed: list[str] = field(default_factory=list)
    workers: list[Any] = field(default_factory=list)  # WorkerRow
    #: hostnames the state no longer holds (evicted at the worker cap): the UI drops them
    workers_removed: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0
    rate_history: list[float] = field(default_factory=list)
    status: FeedStatus = field(default_factory=FeedStatus)
    full: bool = False
    # once the UI asked for a task view (request_view): the window on it, instead of task rows
    window: Any = None  # console.core.taskview.TaskWindow


# ---------------------------------------------------------------------------
# helpers shared by every feed


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


class RateHistory:
    """Finished tasks per second, by event timestamp (bounded, deterministic)."""

    def __init__(self, length: int = 60) -> None:
        self.length = length
        self._buckets: collections.OrderedDict[int, int] = collections.OrderedDict()
        self.latest: float | None = None

    def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        buckets = self._buckets
        for ev in events:
            if ev.get("type") in FINISHED:
                ts = ev.get("timestamp")
                if isinstance(ts, int | float) and math.isfinite(ts):
                    sec = int(ts)
                    buckets[sec] = buckets.get(sec, 0) + 1
                    if self.latest is None or ts > self.latest:
                        self.latest = float(ts)
        if len(buckets) > self.length * 4:
            keep = sorted(buckets)[-self.length * 2 :]
            self._buckets = collections.OrderedDict((k, buckets[k]) for k in keep)

    def history(self, now: float | None = None) -> list[float]:
        """The last ``length`` one-second buckets, oldest first, ending at ``now``."""
        end = int(now if now is not None else (self.latest or 0.0))
        if not self._buckets and now is None:
            return []
        return [float(self._buckets.get(sec, 0)) for sec in range(end - self.length + 1, end + 1)]

    def rate(self, now: float | None = None, window: int = 10) -> float:
        hist = self.history(now)[-window:]
        return sum(hist) / window if hist else 0.0


class _DeltaBuilder:
    """Accumulates ``state.drain_changes()`` and cuts bounded StateDeltas."""

    def __init__(self, state: Any, max_rows: int = 20_000) -> None:
        self.state = state
        self.max_rows = max_rows
        self.tasks: set[str] = set()
        self.removed: set[str] = set()
        self.workers: set[str] = set()
        self.first = True
        self.need_full = False

    def collect(self) -> None:
        if getattr(self.state, "changes_overflowed", False):
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
        self, status: FeedStatus, rate: float, rate_history: list[float], full: bool = False
    ) -> StateDelta:
        self.collect()
        state = self.state
        tasks_map = state.tasks
        full = full or self.first or self.need_full
        self.first = self.need_full = False
        if full:
            self.tasks = set(tasks_map.keys())
            self.removed.clear()
            self.workers = set(state.workers.keys())
        if len(self.tasks) <= self.max_rows:
            ids = self.tasks
            self.tasks = set()
        else:
            ids = set(itertools.islice(self.tasks, self.max_rows))
            self.tasks -= ids
        rows = [state.task_row(u) for u in ids if u in tasks_map]
        known = state.workers
        worker_rows = [state.worker_row(h) for h in self.workers if h in known]
        workers_removed = [] if full else [h for h in self.workers if h not in known]
        self.workers = set()
        removed = list(self.removed)
        self.removed = set()
        return StateDelta(
            tasks=rows,
            removed=removed,
            workers=worker_rows,
            workers_removed=workers_removed,
            stats=stats_dict(state.stats),
            rate=float(rate),
            rate_history=list(rate_history),
            status=status,
            full=full,
        )


def _merge(into: StateDelta | None, delta: StateDelta) -> StateDelta:
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


def _apply_safely(state: Any, batch: list[dict[str, Any]]) -> int:
    """``state.apply_batch(batch)``; if it raises, apply one by one and skip the culprits.

    Returns how many events were skipped (a bad event must never kill intake).
    """
    try:
        state.apply_batch(batch)
        return 0
    except Exception:
        skipped = 0
        for ev in batch:
            try:
                state.apply(ev)
            except Exception:
                skipped += 1
        return skipped


def _new_state(max_tasks: int, clock: Callable[[], float]) -> Any:
    from .state import ClusterState

    return ClusterState(max_tasks=max_tasks, clock=clock)


def _view_host(state: Any, hold: float = 0.0, quick: bool = False) -> Any:
    """``hold``: after a user request, no re-sort for that long; ``quick``: answer a new
    word filter with a first screenful, then the full list (the intake process: the
    next keystroke must not queue behind a 100k-row sort)."""
    from .taskview import ViewHost

    return ViewHost(lambda: [state.task_row(u) for u in list(state.tasks)], hold=hold, quick=quick)


#: seconds of result-backend reads a console canvas request may spend (the intake loop
#: waits for them; events queue up in the connection meanwhile, none is lost)
CANVAS_BACKEND_BUDGET_S = 0.5


def _canvas(state: Any, uuid: str, backend: Any = None, settings: Any = None) -> Any:
    from .canvas import canvas_tree, read_waiting  # waiting canvases: queued messages, workers

    cluster = read_waiting(settings) if settings is not None else None
    return canvas_tree(
        state, uuid, backend=backend, budget=CANVAS_BACKEND_BUDGET_S, cluster=cluster
    )


# ---------------------------------------------------------------------------
# resync through remote control


def resync_events(
    settings: Any, now: Callable[[], float] = time.time, timeout: float = 1.0
) -> list[dict[str, Any]]:
    """Synthetic events for live workers and their active, reserved and scheduled tasks
    (on start and after a gap): :func:`console.core.backfill.inspect_events`."""
    from .backfill import inspect_events

    return inspect_events(settings, now=now, timeout=timeout)


# ---------------------------------------------------------------------------
# the intake process


def _intake_main(config: dict[str, Any], up: Any, down: Any) -> None:  # pragma: no cover - child
    """Entry point of the intake process (runs until told to stop or orphaned)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the UI process
    parent = os.getppid()
    try:
        loop = _IntakeLoop(config, up, down)
        from .intake import tune_gc

        tune_gc()
        loop.run(parent)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass
    except BaseException as exc:
        with contextlib.suppress(Exception):
            up.send(("fatal", f"{type(exc).__name__}: {exc}"))
        raise


class _IntakeLoop:
    def __init__(self, config: dict[str, Any], up: Any, down: Any) -> None:
        from .intake import make_source
        from .settings import ClusterSettings

        self.config = config
        self.up = up
        self.down = down
        self.settings = ClusterSettings(
            broker_url=config.get("broker_url"),
            result_backend=config.get("result_backend"),
            app_module=config.get("app_module"),
            connect_timeout=config.get("connect_timeout", 1.0),
            read_only=True,
        )
        self.app = self.settings.app
        self.state = _new_state(config.get("max_tasks", 100_000), time.time)
        options = {
            "connect_timeout": self.settings.connect_timeout,
            **config.get("source_options", {}),  # e.g. an AMQP queue cap (max_queued)
        }
        kind = config.get("source", "auto")
        if kind == "auto":  # the broker's adapter picks its event source
            from .brokers import adapter_for

            self.source = adapter_for(self.settings).event_source(self.app, **options)
        else:
            self.source = make_source(self.app, url=config.get("broker_url"), kind=kind, **options)
        self.builder = _DeltaBuilder(self.state, max_rows=config.get("max_rows", 20_000))
        self.view = _view_host(self.state, hold=config.get("view_hold", 0.5), quick=True)
        self.recorder = None
        if config.get("record"):
            from .recording import Recorder

            self.recorder = Recorder(
                config["record"], secrets=[config.get("broker_url"), config.get("result_backend")]
            )
        self.resync_out: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
        self.resync_thread: threading.Thread | None = None
        self.resync_message = ""
        self.resync_wanted: str | None = None
        # the newest results of the backend, merged a chunk per loop turn (backfill.py)
        self.backfill_out: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
        self.loading = (
            "history: starting"
            if config.get("history") and config.get("initial_resync", True)
            else ""
        )
        self.applied = 0
        self.skipped = 0
        # requests from the UI, read by a thread that wakes the event wait: a keystroke's
        # view request is served at once, not after the next event (or a 50 ms timeout)
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._rate_mark = (time.monotonic(), 0)
        self._intake_rate = 0.0

    def status(self) -> FeedStatus:
        st = self.source.status
        mode = st.mode if st.mode in ("live", "reconnecting", "disconnected") else "disconnected"
        message = st.message
        if self.resync_message and mode == "live":
            message = f"{message}; {self.resync_message}" if message else self.resync_message
        return FeedStatus(
            mode=mode, last_event=st.last_event, gaps=st.gaps, message=message, loading=self.loading
        )

    def _resync(self, reason: str) -> None:
        if self.resync_thread is not None and self.resync_thread.is_alive():
            self.resync_wanted = reason  # run again once the current one is done
            return
        self.resync_wanted = None

        def work() -> None:
            # the backend is read next to the inspects (they wait up to a timeout each)
            backfill = threading.Thread(target=self._backfill, name="backfill", daemon=True)
            backfill.start()
            try:
                events = resync_events(
                    self.settings, timeout=self.config.get("resync_timeout", 1.0)
                )
                self.resync_out.put(events)
                hosts = sum(1 for e in events if e["type"] == "worker-heartbeat")
                tasks = sum(1 for e in events if e["type"] == "task-started")
                self.resync_message = (
                    f"resynced after {reason}: {hosts} workers, {tasks} active tasks"
                )
            except Exception as exc:
                self.resync_message = self.settings.scrub(
                    f"resync failed: {type(exc).__name__}: {exc}"
                )
            backfill.join()

        self.resync_thread = threading.Thread(target=work, name="resync", daemon=True)
        self.resync_thread.start()

    def _backfill(self) -> None:
        """Resync thread: the newest ``history`` results of the backend into ``backfill_out``."""
        limit = int(self.config.get("history", 0) or 0)
        if limit <= 0 or not self.settings.effective_backend_url:
            self.loading = ""
            return
        from .backfill import CHUNK, backend_records

        def progress(hist: Any) -> None:
            total = f" of ~{hist.total:,}" if hist.total else ""
            self.loading = f"history: read {hist.scanned:,}{total} results"
            time.sleep(0.001)  # hand the GIL to the event loop (a keystroke's view request)

        self.loading = "history: reading the result backend"
        try:
            records, hist = backend_records(self.settings, limit, progress=progress)
        except Exception as exc:
            # stays in the header (the resync's own message would overwrite a status note):
            # an operator must see why the console has no past, e.g. an rpc:// backend
            self.loading = self.settings.scrub(f"history not loaded: {exc}")
            return
        for i in range(0, len(records), CHUNK):
            self.backfill_out.put(records[i : i + CHUNK])
        self.backfill_out.put([])  # the end: clears the progress line
        more = f" (stopped at {hist.stopped})" if hist.stopped else ""
        self.loading = f"history: merging {len(records):,} results{more}"

    def _merge_backfill(self, budget: float = 0.005) -> None:
        """Main loop: chunks of backend records for about ``budget`` seconds (a request
        or the next events wait for one chunk at most: ~250 records, a few ms)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < budget:
            try:
                chunk = self.backfill_out.get_nowait()
            except queue.Empty:
                return
            if chunk:
                self.state.merge_backend(chunk)
            else:
                self.loading = ""

    def send_delta(self, full: bool = False) -> None:
        state = self.state
        delta = self.view.absorb(
            self.builder.build(
                self.status(), state.task_rate(10.0), state.rate_history(60), full=full
            )
        )
        mono = time.monotonic()
        elapsed = mono - self._rate_mark[0]
        if elapsed >= 1.0:
            self._intake_rate = (self.applied - self._rate_mark[1]) / elapsed
            self._rate_mark = (mono, self.applied)
        st = self.source.status
        delta.stats["intake"] = {
            "events": self.applied,
            "events_per_s": round(self._intake_rate, 1),
            "malformed": st.malformed,
            "rejected": self.skipped,
            "reconnects": st.reconnects,
            "gaps": st.gaps,
            "dropped": st.dropped,  # messages the broker dropped before intake read them
        }
        self.up.send(("delta", delta))

    def handle(self, msg: tuple[Any, ...]) -> bool:
        kind = msg[0]
        if kind == "stop":
            return False
        if kind == "full":
            self.send_delta(full=True)
        elif kind == "view":
            self.up.send(("window", self.view.request(msg[1])))
            # after a quick first answer: the complete list (unless the user typed on:
            # the next request answers that, and a data tick completes it anyway)
            full = self.view.finish() if self.inbox.empty() else None
            if full is not None:
                self.up.send(("window", full))
        elif kind in ("task_detail", "canvas"):
            req_id, uuid = msg[1], msg[2]
            try:
                value = (
                    self.state.task_detail(uuid)
                    if kind == "task_detail"
                    else _canvas(self.state, uuid, self.app.backend, self.settings)
                )
            except Exception:
                value = None
            self.up.send(("reply", req_id, value))
        return True

    def _read_requests(self) -> None:
        """Thread: UI requests into ``inbox``, waking the main loop's event wait."""
        while True:
            try:
                msg = self.down.recv()
            except (EOFError, OSError):
                msg = ("stop",)  # the UI process is gone
            self.inbox.put(msg)
            wake = getattr(self.source, "wake", None)
            if wake is not None:
                wake()
            if msg[0] == "stop":
                return

    def _handle_inbox(self) -> bool:
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return True
            if not self.handle(msg):
                return False

    def run(self, parent: int) -> None:
        source, state = self.source, self.state
        source.start(require_connection=False)
        threading.Thread(target=self._read_requests, name="ui-requests", daemon=True).start()
        if self.config.get("initial_resync", True):
            self._resync("start")
        period = 1.0 / max(0.1, float(self.config.get("rate_hz", 10)))
        next_tick = time.monotonic()
        next_second = next_tick + 1.0
        last_status: FeedStatus | None = None
        try:
            while True:
                now = time.monotonic()
                if not self._handle_inbox():
                    return
                # bounded bites (~1,000 events, a few ms to apply): a UI request waits for
                # at most one of them, not for a backlog of 10,000
                batch = source.read_batch(
                    timeout=max(0.0, min(0.05, next_tick - now)), max_events=1000
                )
                if not self._handle_inbox():  # woken for a request: serve it before the batch
                    return
                if batch:
                    self.skipped += _apply_safely(state, batch)
                    self.applied += len(batch)
                    if self.recorder is not None:
                        self.recorder.write_batch(batch)
                if source.take_gap():
                    self._resync("gap")
                elif self.resync_wanted and not self.resync_thread.is_alive():  # type: ignore[union-attr]
                    self._resync(self.resync_wanted)
                while True:
                    try:
                        synthetic = self.resync_out.get_nowait()
                    except queue.Empty:
                        break
                    self.skipped += _apply_safely(state, synthetic)
                self._merge_backfill()
                if not self._handle_inbox():
                    return
                now = time.monotonic()
                if now >= next_second:
                    next_second = now + 1.0
                    state.expire_workers()
                    if os.getppid() != parent:
                        return  # orphaned
                if now >= next_tick:
                    next_tick = now + period
                    status = self.status()
                    self.builder.collect()
                    if self.builder.dirty or status != last_status or self.view.due:
                        self.send_delta()
                        last_status = status
        finally:
            source.close()
            if self.recorder is not None:
                self.recorder.close()


# ---------------------------------------------------------------------------
# LiveFeed (UI side)


class LiveFeed:
    """Intake + ClusterState in a subprocess; coalesced deltas for the UI."""

    def __init__(
        self,
        settings: Any,
        max_tasks: int = 100_000,
        rate_hz: float = 10,
        *,
        source: str = "auto",
        record: str | os.PathLike[str] | None = None,
        request_timeout: float = 1.0,
        max_rows: int = 20_000,
        initial_resync: bool = True,
        history: int | None = None,
    ) -> None:
        self.settings = settings
        self.max_tasks = max_tasks
        self.rate_hz = rate_hz
        self.request_timeout = request_timeout
        self.config = {
            "broker_url": settings.effective_broker_url,
            "result_backend": settings.effective_backend_url,
            "app_module": settings.app_module,
            "connect_timeout": settings.connect_timeout,
            "max_tasks": max_tasks,
            "rate_hz": rate_hz,
            "source": source,
            "record": str(record) if record else None,
            "max_rows": max_rows,
            "initial_resync": initial_resync,
            # newest backend results loaded on start / resync (None: the settings' --history)
            "history": getattr(settings, "history", 0) if history is None else history,
        }
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process with threads
        self._proc: Any = None
        self._up: Any = None
        self._down: Any = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: StateDelta | None = None
        self._status = FeedStatus(
            mode="reconnecting",
            message="starting the intake process",
            loading="history: starting"
            if self.config["history"] and self.config["initial_resync"]
            else "",
        )
        self._replies: dict[int, list[Any]] = {}
        self._waiters: dict[int, threading.Event] = {}
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._meta = StateDelta()  # the latest delta's stats / rate (window-only deltas carry them)
        #: called from the receiver thread when a window asked for by request_view arrives
        self.on_window: Callable[[], None] | None = None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        if self._proc is not None:
            return
        up_r, up_w = self._ctx.Pipe(duplex=False)
        down_r, down_w = self._ctx.Pipe(duplex=False)
        self._proc = self._ctx.Process(
            target=_intake_main, args=(self.config, up_w, down_r), name="ctl-intake", daemon=True
        )
        # A TUI (Textual) replaces sys.stdout/stderr with capture objects whose
        # fileno() is unusable; spawn hands sys.stderr's fd to the child and
        # fails with "bad value(s) in fds_to_keep".  Start with the real stdio.
        saved = sys.stdout, sys.stderr
        try:
            if sys.__stdout__ is not None:
                sys.stdout = sys.__stdout__
            if sys.__stderr__ is not None:
                sys.stderr = sys.__stderr__
            self._proc.start()
        finally:
            sys.stdout, sys.stderr = saved
        up_w.close()
        down_r.close()
        self._up, self._down = up_r, down_w
        self._thread = threading.Thread(target=self._receive, name="feed-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        if self._proc is None:
            return
        with contextlib.suppress(OSError, ValueError), self._send_lock:
            self._down.send(("stop",))
        self._proc.join(3)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2)
        for conn in (self._up, self._down):
            with contextlib.suppress(OSError):
                conn.close()
        if self._thread is not None:
            self._thread.join(2)
        self._proc = None

    def __enter__(self) -> LiveFeed:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    # -- receiving ----------------------------------------------------------
    def _receive(self) -> None:
        up = self._up
        while True:
            try:
                msg = up.recv()
            except (EOFError, OSError):
                break
            kind = msg[0]
            if kind == "delta":
                self._on_delta(msg[1])
            elif kind == "window":
                with self._lock:
                    meta = self._meta
                    self._pending = _merge(
                        self._pending,
                        StateDelta(
                            window=msg[1],
                            stats=meta.stats,
                            rate=meta.rate,
                            rate_history=meta.rate_history,
                            status=self._status,
                        ),
                    )
                callback = self.on_window
                if callback is not None:
                    with contextlib.suppress(Exception):
                        callback()
            elif kind == "reply":
                req_id, value = msg[1], msg[2]
                with self._lock:
                    waiter = self._waiters.pop(req_id, None)
                    if waiter is not None:
                        self._replies[req_id] = [value]
                if waiter is not None:
                    waiter.set()
            elif kind == "fatal":
                with self._lock:
                    self._status = FeedStatus(
                        mode="disconnected",
                        gaps=self._status.gaps,
                        message=f"intake process failed: {msg[1]}",
                    )
        if not self._stopping:
            code = self._proc.exitcode if self._proc is not None else None
            with self._lock:
                st = self._status
                if "failed" not in st.message:
                    st = FeedStatus(
                        mode="disconnected",
                        last_event=st.last_event,
                        gaps=st.gaps,
                        message=f"intake process exited (code {code})",
                    )
                self._status = st
                self._pending = _merge(self._pending, StateDelta(status=st))

    def _on_delta(self, delta: StateDelta) -> None:
        request_full = False
        with self._lock:
            self._status = delta.status
            self._meta = delta
            self._pending = _merge(self._pending, delta)
            size = len(self._pending.tasks) + len(self._pending.removed)
            if size > 2 * self.max_tasks + 1000:
                self._pending = None  # the UI is not polling: drop, ask for a snapshot later
                request_full = True
        if request_full:
            self._request(("full",))

    def _request(self, msg: tuple[Any, ...]) -> None:
        if self._down is None:
            return
        with contextlib.suppress(OSError, ValueError), self._send_lock:
            self._down.send(msg)

    # -- the Feed API -------------------------------------------------------
    def poll(self) -> StateDelta | None:
        with self._lock:
            delta, self._pending = self._pending, None
        return delta

    @property
    def status(self) -> FeedStatus:
        return self._status

    def request_view(self, spec: Any) -> None:
        """Ask for the task view ``spec`` (a ViewSpec); the window arrives in a later
        poll() (``on_window`` is called when it does).  From then on deltas carry
        windows instead of task rows."""
        self._request(("view", spec))

    def _roundtrip(self, kind: str, uuid: str, timeout: float | None) -> Any:
        if not self.alive:
            return None
        req_id = next(self._ids)
        waiter = threading.Event()
        with self._lock:
            self._waiters[req_id] = waiter
        self._request((kind, req_id, uuid))
        if not waiter.wait(self.request_timeout if timeout is None else timeout):
            with self._lock:
                self._waiters.pop(req_id, None)
            return None
        with self._lock:
            return self._replies.pop(req_id, [None])[0]

    def task_detail(self, uuid: str, timeout: float | None = None) -> dict[str, Any] | None:
        value = self._roundtrip("task_detail", uuid, timeout)
        return value if isinstance(value, dict) else None

    def canvas(self, uuid: str, timeout: float | None = None) -> Any:
        """The canvas tree, built in the intake process from its events and the result
        backend (backend reads bounded by CANVAS_BACKEND_BUDGET_S)."""
        wait = self.request_timeout + 2 * CANVAS_BACKEND_BUDGET_S if timeout is None else timeout
        return self._roundtrip("canvas", uuid, wait)


# ---------------------------------------------------------------------------
# in-process feeds


class _LocalFeed:
    """A feed over an in-process ClusterState (guarded by a lock)."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._lock = threading.RLock()
        self._builder = _DeltaBuilder(state, max_rows=10**9)
        self.history = RateHistory(60)
        self.view = _view_host(state)
        self._window: Any = None  # answer to request_view, for the next poll
        self.on_window: Callable[[], None] | None = None

    def _status(self) -> FeedStatus:
        raise NotImplementedError

    def _rate(self) -> float:
        return float(self.state.task_rate(10.0))

    def poll(self) -> StateDelta | None:
        with self._lock:
            self._builder.collect()
            status = self._status()
            window, self._window = self._window, None
            if (
                not self._builder.dirty
                and status == getattr(self, "_last_status", None)
                and window is None
                and not self.view.due
            ):
                return None
            self._last_status = status
            delta: StateDelta = self.view.absorb(
                self._builder.build(status, self._rate(), self.history.history())
            )
            if delta.window is None:
                delta.window = window
            return delta

    def request_view(self, spec: Any) -> None:
        """The task view ``spec`` (a ViewSpec): computed now, returned by the next poll()."""
        with self._lock:
            self._window = self.view.request(spec)

    def task_detail(self, uuid: str) -> dict[str, Any] | None:
        with self._lock:
            detail: dict[str, Any] | None = self.state.task_detail(uuid)
            return detail

    def canvas(self, uuid: str) -> Any:
        with self._lock:
            return _canvas(self.state, uuid)

    @property
    def status(self) -> FeedStatus:
        with self._lock:
            return self._status()


class StaticFeed(_LocalFeed):
    """An in-process ClusterState as a feed (tests)."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def _status(self) -> FeedStatus:
        return FeedStatus(
            mode="replay-done", last_event=self.history.latest, gaps=0, message="static state"
        )


class ReplayFeed(_LocalFeed):
    """Replay a recording into an in-process ClusterState.

    ``speed`` scales the original timing (0 or ``inf``: as fast as possible).
    :meth:`load_all` applies the whole recording synchronously -- with a
    ``FixedClock`` the resulting state and first delta are deterministic.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        speed: float = 1.0,
        clock: Callable[[], float] = system_clock,
        *,
        max_tasks: int = 100_000,
        state: Any = None,
        max_gap: float | None = 5.0,
    ) -> None:
        super().__init__(state if state is not None else _new_state(max_tasks, clock))
        self.path = Path(path)
        self.speed = speed
        self.clock = clock
        self.max_gap = max_gap
        self.applied = 0
        self.skipped = 0
        self.malformed = 0
        self.last_event: float | None = None
        self._done = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _apply(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self.skipped += _apply_safely(self.state, batch)
            self.history.add_events(batch)
            self.applied += len(batch)
            ts = batch[-1].get("timestamp")
            if isinstance(ts, int | float):
                self.last_event = float(ts)

    def load_all(self) -> int:
        """Apply every event now (no timing); returns how many were applied."""
        from .recording import RecordingReader

        reader = RecordingReader(self.path, speed=0)
        for batch in reader.batches(max_batch=5000):
            self._apply(batch)
        with self._lock:
            self.malformed = reader.malformed
            self._done = True
        return self.applied

    def start(self) -> None:
        if self._done or self._thread is not None:
            return
        if not self.speed or math.isinf(self.speed):
            self.load_all()
            return
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from .recording import RecordingReader

        reader = RecordingReader(self.path, speed=self.speed, max_gap=self.max_gap)
        for batch in reader.batches(max_batch=2000, stop=self._stop.is_set):
            self._apply(batch)
            if self._stop.is_set():
                break
        with self._lock:
            self.malformed = reader.malformed
            self._done = True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    @property
    def done(self) -> bool:
        return self._done

    def _rate(self) -> float:
        return self.history.rate()

    def _status(self) -> FeedStatus:
        name = self.path.name
        extra = f", {self.malformed} malformed lines skipped" if self.malformed else ""
        if self._done:
            return FeedStatus(
                mode="replay-done",
                last_event=self.last_event,
                gaps=0,
                message=f"replayed {self.applied} events from {name}{extra}",
            )
        return FeedStatus(
            mode="replay",
            last_event=self.last_event,
            gaps=0,
            message=f"replaying {name} at {self.speed:g}x: {self.applied} events",
        )
