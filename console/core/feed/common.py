"""Helpers every feed shares: a new state, applying a batch safely, the task view host,
the canvas of a task."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..canvas import CanvasNode
    from ..state import ClusterState
    from ..taskview import ViewHost


def apply_safely(state: ClusterState, batch: list[dict[str, Any]]) -> int:
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


def new_state(max_tasks: int, clock: Callable[[], float]) -> ClusterState:
    from ..state import ClusterState

    return ClusterState(max_tasks=max_tasks, clock=clock)


def view_host(state: ClusterState, hold: float = 0.0, quick: bool = False) -> ViewHost:
    """``hold``: after a user request, no re-sort for that long; ``quick``: answer a new
    word filter with a first screenful, then the full list (the intake process: the
    next keystroke must not queue behind a 100k-row sort)."""
    from ..taskview import ViewHost

    return ViewHost(state=state, hold=hold, quick=quick)  # the viewer reads the state's rows


#: seconds of result-backend reads a console canvas request may spend (the intake loop
#: waits for them; events queue up in the connection meanwhile, none is lost)
CANVAS_BACKEND_BUDGET_S = 0.5


def canvas_of(
    state: ClusterState, uuid: str, backend: Any = None, settings: Any = None
) -> CanvasNode | None:
    from ..canvas import canvas_tree, read_waiting  # waiting canvases: queued messages, workers

    cluster = read_waiting(settings) if settings is not None else None
    return canvas_tree(
        state, uuid, backend=backend, budget=CANVAS_BACKEND_BUDGET_S, cluster=cluster
    )
