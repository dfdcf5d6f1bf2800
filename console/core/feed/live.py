"""The live feed's UI side: starts the intake process (:mod:`.intake_loop`), merges
its deltas in a receiver thread, and makes task_detail / canvas round trips."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .api import FeedStatus, StateDelta
from .common import CANVAS_BACKEND_BUDGET_S
from .delta import merge_deltas
from .intake_loop import intake_main

if TYPE_CHECKING:
    from ..canvas import CanvasNode
    from ..taskview import ViewSpec


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
            target=intake_main, args=(self.config, up_w, down_r), name="ctl-intake", daemon=True
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
                    self._pending = merge_deltas(
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
                self._pending = merge_deltas(self._pending, StateDelta(status=st))

    def _on_delta(self, delta: StateDelta) -> None:
        request_full = False
        with self._lock:
            self._status = delta.status
            self._meta = delta
            self._pending = merge_deltas(self._pending, delta)
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

    def request_view(self, spec: ViewSpec) -> None:
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

    def canvas(self, uuid: str, timeout: float | None = None) -> CanvasNode | None:
        """The canvas tree, built in the intake process from its events and the result
        backend (backend reads bounded by CANVAS_BACKEND_BUDGET_S)."""
        wait = self.request_timeout + 2 * CANVAS_BACKEND_BUDGET_S if timeout is None else timeout
        tree: CanvasNode | None = self._roundtrip("canvas", uuid, wait)
        return tree
