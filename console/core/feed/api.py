"""What the UI sees of a feed: :class:`FeedStatus`, :class:`StateDelta` and the
:class:`Feed` protocol every feed implements (LiveFeed, ReplayFeed, StaticFeed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..canvas import CanvasNode
    from ..state import TaskRow, WorkerRow
    from ..taskview import TaskWindow, ViewSpec


@dataclass(frozen=True)
class FeedStatus:
    mode: str = "disconnected"  # live | reconnecting | disconnected | replay | replay-done
    last_event: float | None = None
    gaps: int = 0
    message: str = ""
    loading: str = ""  # progress line while the past loads (console/core/backfill.py)


@dataclass
class StateDelta:
    tasks: list[TaskRow] = field(default_factory=list)
    #: ids of changed tasks, instead of rows, for a view host that reads the state itself
    #: (DeltaBuilder.build(rows=False)); never sent to the UI (ViewHost.absorb clears it)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    workers: list[WorkerRow] = field(default_factory=list)
    #: hostnames the state no longer holds (evicted at the worker cap): the UI drops them
    workers_removed: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0
    rate_history: list[float] = field(default_factory=list)
    status: FeedStatus = field(default_factory=FeedStatus)
    full: bool = False
    # once the UI asked for a task view (request_view): the window on it, instead of task rows
    window: TaskWindow | None = None


class Feed(Protocol):
    """What the console UI calls on a feed (console/ui/app.py and its screens)."""

    #: called (from any thread) when a window asked for by request_view has arrived
    on_window: Callable[[], None] | None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def poll(self) -> StateDelta | None:
        """Everything new since the last poll, merged (None: nothing); never blocks."""
        ...

    @property
    def status(self) -> FeedStatus: ...

    def request_view(self, spec: ViewSpec) -> None:
        """Ask for the task view ``spec``; the window comes in a later poll()."""
        ...

    def task_detail(self, uuid: str) -> dict[str, Any] | None: ...

    def canvas(self, uuid: str) -> CanvasNode | None: ...
