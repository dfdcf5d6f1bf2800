"""The intake process: events from the broker into a ClusterState, deltas and task
view windows to the UI process through a pipe, UI requests served between batches."""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from typing import Any

from .api import FeedStatus
from .common import apply_safely, canvas_of, new_state, view_host
from .delta import DeltaBuilder
from .resync import Resync

#: seconds between a quick first answer to a new word and the complete list (sorting
#: every match: 30-50 ms at 20,000 matches under load): the UI paints the first answer
#: meanwhile, and a user still typing never waits behind a sort the next key makes moot
FINISH_DELAY = 0.25


def intake_main(config: dict[str, Any], up: Any, down: Any) -> None:  # pragma: no cover - child
    """Entry point of the intake process (runs until told to stop or orphaned)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the UI process
    parent = os.getppid()
    try:
        loop = IntakeLoop(config, up, down)
        from ..intake import tune_gc

        tune_gc()
        # the event reader and the backend read are threads: a UI request (read by a
        # thread, answered by the loop) waits for the GIL at most 1 ms per handoff, not 5
        sys.setswitchinterval(0.001)
        loop.run(parent)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        pass
    except BaseException as exc:
        with contextlib.suppress(Exception):
            up.send(("fatal", f"{type(exc).__name__}: {exc}"))
        raise


class IntakeLoop:
    def __init__(self, config: dict[str, Any], up: Any, down: Any) -> None:
        from ..intake import make_source
        from ..settings import ClusterSettings

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
        self.state = new_state(config.get("max_tasks", 100_000), time.time)
        options = {
            "connect_timeout": self.settings.connect_timeout,
            **config.get("source_options", {}),  # e.g. an AMQP queue cap (max_queued)
        }
        kind = config.get("source", "auto")
        if kind == "auto":  # the broker's adapter picks its event source
            from ..brokers import adapter_for

            self.source = adapter_for(self.settings).event_source(self.app, **options)
        else:
            self.source = make_source(self.app, url=config.get("broker_url"), kind=kind, **options)
        self.builder = DeltaBuilder(self.state, max_rows=config.get("max_rows", 20_000))
        self.view = view_host(self.state, hold=config.get("view_hold", 0.5), quick=True)
        self.recorder = None
        if config.get("record"):
            from ..recording import Recorder

            self.recorder = Recorder(
                config["record"], secrets=[config.get("broker_url"), config.get("result_backend")]
            )
        self.resync = Resync(
            self.settings,
            self.state,
            timeout=config.get("resync_timeout", 1.0),
            history=int(config.get("history", 0) or 0),
            initial=config.get("initial_resync", True),
        )
        self.applied = 0
        self.skipped = 0
        # requests from the UI, read by a thread that wakes the event wait: a keystroke's
        # view request is served at once, not after the next event (or a 50 ms timeout)
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._finish_at = 0.0  # (monotonic) the complete list owed after a quick answer
        self._rate_mark = (time.monotonic(), 0)
        self._intake_rate = 0.0

    def status(self) -> FeedStatus:
        st = self.source.status
        mode = st.mode if st.mode in ("live", "reconnecting", "disconnected") else "disconnected"
        message = st.message
        resynced = self.resync.message
        if resynced and mode == "live":
            message = f"{message}; {resynced}" if message else resynced
        return FeedStatus(
            mode=mode,
            last_event=st.last_event,
            gaps=st.gaps,
            message=message,
            loading=self.resync.loading,
        )

    def send_delta(self, full: bool = False) -> None:
        state = self.state
        delta = self.view.absorb(
            self.builder.build(
                self.status(),
                state.task_rate(10.0),
                state.rate_history(60),
                full=full,
                rows=not self.view.reads_state,
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
            self.resync.user_active()  # a loading history steps back while the user types
            self.up.send(("window", self.view.request(msg[1])))
            # after a quick first answer the complete list follows FINISH_DELAY later
            # (if the user typed on, the next request answers that instead)
            self._finish_at = time.monotonic() + FINISH_DELAY
        elif kind in ("task_detail", "canvas"):
            req_id, uuid = msg[1], msg[2]
            try:
                value = (
                    self.state.task_detail(uuid)
                    if kind == "task_detail"
                    else canvas_of(self.state, uuid, self.app.backend, self.settings)
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

    def _finish_view(self) -> None:
        """The complete list after a quick first answer, once it is due (and no request
        is waiting: that one is answered first)."""
        if self._finish_at and time.monotonic() >= self._finish_at and self.inbox.empty():
            self._finish_at = 0.0
            full = self.view.finish()
            if full is not None:
                self.up.send(("window", full))

    def _request_waiting(self) -> bool:
        return not self.inbox.empty()

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
            self.resync.start("start")
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
                wait = min(0.05, next_tick - now)
                if self._finish_at:
                    wait = min(wait, self._finish_at - now)
                batch = source.read_batch(timeout=max(0.0, wait), max_events=1000)
                if not self._handle_inbox():  # woken for a request: serve it before the batch
                    return
                if batch:
                    self.skipped += apply_safely(state, batch)
                    self.applied += len(batch)
                    if self.recorder is not None:
                        self.recorder.write_batch(batch)
                if source.take_gap():
                    self.resync.start("gap")
                else:
                    self.resync.restart_if_wanted()
                for synthetic in self.resync.take_events():
                    self.skipped += apply_safely(state, synthetic)
                self.resync.merge_backfill()
                self._finish_view()
                # the filter is open: its text ahead of the first key (a request ends a step)
                self.view.prepare(0.02, stop=self._request_waiting)
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
