"""Resync: after a start or a gap, synthetic events from remote control (workers and
their active, reserved and scheduled tasks) and the newest results of the result
backend, read in threads and handed to the intake loop in chunks."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any


def resync_events(
    settings: Any, now: Callable[[], float] = time.time, timeout: float = 1.0
) -> list[dict[str, Any]]:
    """Synthetic events for live workers and their active, reserved and scheduled tasks
    (on start and after a gap): :func:`console.core.backfill.inspect_events`."""
    from ..backfill import inspect_events

    return inspect_events(settings, now=now, timeout=timeout)


class Resync:
    """The intake loop's resyncs: one at a time (a request during one runs it again
    after), results picked up by the loop with :meth:`take_events` / :meth:`merge_backfill`.

    ``history``: how many of the newest backend results to load with each resync.
    """

    def __init__(
        self,
        settings: Any,
        state: Any,
        *,
        timeout: float = 1.0,
        history: int = 0,
        initial: bool = True,
    ) -> None:
        self.settings = settings
        self.state = state
        self.timeout = timeout
        self.history = history
        self.out: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.message = ""
        self.wanted: str | None = None
        # the newest results of the backend, merged a chunk per loop turn (backfill.py)
        self.backfill_out: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
        # the header says the past is coming until the first resync reads the backend
        self.loading = "history: starting" if history and initial else ""
        # (monotonic) the user typed or scrolled recently: the backend read steps back
        self._typing_until = 0.0

    def user_active(self, seconds: float = 0.5) -> None:
        """A view request came in: for ``seconds`` the backend read hands most of the
        intake process's time (its GIL) to the keystrokes' answers."""
        self._typing_until = time.monotonic() + seconds

    def start(self, reason: str) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.wanted = reason  # run again once the current one is done
            return
        self.wanted = None

        def work() -> None:
            # the backend is read next to the inspects (they wait up to a timeout each)
            backfill = threading.Thread(target=self._backfill, name="backfill", daemon=True)
            backfill.start()
            try:
                events = resync_events(self.settings, timeout=self.timeout)
                self.out.put(events)
                hosts = sum(1 for e in events if e["type"] == "worker-heartbeat")
                tasks = sum(1 for e in events if e["type"] == "task-started")
                self.message = f"resynced after {reason}: {hosts} workers, {tasks} active tasks"
            except Exception as exc:
                self.message = self.settings.scrub(f"resync failed: {type(exc).__name__}: {exc}")
            backfill.join()

        self.thread = threading.Thread(target=work, name="resync", daemon=True)
        self.thread.start()

    def restart_if_wanted(self) -> None:
        """A resync asked for while one ran: start it now that it is done."""
        if self.wanted and self.thread is not None and not self.thread.is_alive():
            self.start(self.wanted)

    def take_events(self) -> list[list[dict[str, Any]]]:
        """The synthetic event batches finished since the last call."""
        batches = []
        while True:
            try:
                batches.append(self.out.get_nowait())
            except queue.Empty:
                return batches

    def _backfill(self) -> None:
        """Resync thread: the newest ``history`` results of the backend into ``backfill_out``."""
        limit = int(self.history or 0)
        if limit <= 0 or not self.settings.effective_backend_url:
            self.loading = ""
            return
        from ..backfill import CHUNK, backend_records

        last = time.monotonic()

        def progress(hist: Any) -> None:
            nonlocal last
            total = f" of ~{hist.total:,}" if hist.total else ""
            self.loading = f"history: read {hist.scanned:,}{total} results"
            # every 1,000 records, rest as long as they took to read (3x while the user
            # types): the intake process's event loop keeps most of its GIL and a
            # keystroke's answer does not queue behind the read; the load goes on
            worked = time.monotonic() - last
            typing = time.monotonic() < self._typing_until
            time.sleep(min(0.1, max(0.001, worked * (3.0 if typing else 1.0))))
            last = time.monotonic()

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

    def merge_backfill(self, budget: float = 0.005) -> None:
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
