"""In-process feeds: :class:`StaticFeed` (an existing ClusterState, tests) and
:class:`ReplayFeed` (a recording, in scaled real time or all at once)."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import system_clock
from .api import FeedStatus, StateDelta
from .common import apply_safely, canvas_of, new_state, view_host
from .delta import DeltaBuilder
from .rates import RateHistory

if TYPE_CHECKING:
    from ..canvas import CanvasNode
    from ..state import ClusterState
    from ..taskview import TaskWindow, ViewSpec


class _LocalFeed:
    """A feed over an in-process ClusterState (guarded by a lock)."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self._lock = threading.RLock()
        self._builder = DeltaBuilder(state, max_rows=10**9)
        self.history = RateHistory(60)
        self.view = view_host(state)
        self._window: TaskWindow | None = None  # answer to request_view, for the next poll
        self._last_status: FeedStatus | None = None
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
                and status == self._last_status
                and window is None
                and not self.view.due
            ):
                return None
            self._last_status = status
            delta: StateDelta = self.view.absorb(
                self._builder.build(
                    status, self._rate(), self.history.history(), rows=not self.view.reads_state
                )
            )
            if delta.window is None:
                delta.window = window
            return delta

    def request_view(self, spec: ViewSpec) -> None:
        """The task view ``spec`` (a ViewSpec): computed now, returned by the next poll()."""
        with self._lock:
            self._window = self.view.request(spec)

    def task_detail(self, uuid: str) -> dict[str, Any] | None:
        with self._lock:
            detail: dict[str, Any] | None = self.state.task_detail(uuid)
            return detail

    def canvas(self, uuid: str) -> CanvasNode | None:
        with self._lock:
            return canvas_of(self.state, uuid)

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
        state: ClusterState | None = None,
        max_gap: float | None = 5.0,
    ) -> None:
        super().__init__(state if state is not None else new_state(max_tasks, clock))
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
            self.skipped += apply_safely(self.state, batch)
            self.history.add_events(batch)
            self.applied += len(batch)
            ts = batch[-1].get("timestamp")
            if isinstance(ts, int | float):
                self.last_event = float(ts)

    def load_all(self) -> int:
        """Apply every event now (no timing); returns how many were applied."""
        from ..recording import RecordingReader

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
        from ..recording import RecordingReader

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
