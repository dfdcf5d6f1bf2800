"""Feeds: what the UI consumes (see docs/ARCHITECTURE.md, "Feed").

* :class:`LiveFeed` (:mod:`.live`) -- event intake + :class:`ClusterState` run
  in a separate process (:mod:`.intake_loop`; multiprocessing, ``spawn``); the
  UI process receives compact, coalesced :class:`StateDelta` updates at most
  ``rate_hz`` times a second through a pipe.  A receiver thread in the UI
  process merges them as they arrive, so :meth:`LiveFeed.poll` is a
  non-blocking swap and the intake process never blocks on a UI that does not
  poll.  ``task_detail`` and ``canvas`` are request/response round trips with a
  short timeout.  Resyncs (remote control, the result backend): :mod:`.resync`.
* :class:`ReplayFeed` (:mod:`.local`) -- a recording replayed into an
  in-process ClusterState, in (scaled) real time in a thread, or all at once
  and deterministically with :meth:`ReplayFeed.load_all` (snapshot tests).
* :class:`StaticFeed` (:mod:`.local`) -- an existing in-process ClusterState (tests).

Every feed implements :class:`Feed` (:mod:`.api`), the protocol the UI is typed against.

Once the UI calls ``request_view`` (console/core/taskview.py), the task list
is filtered, sorted and cut next to the state -- in the intake process for a
LiveFeed -- and deltas carry that window instead of task rows.

Memory is bounded everywhere: pending changes are sets of task ids that
exist in the state (itself bounded by ``max_tasks``), deltas carry at most
``max_rows`` task rows (the rest follow in the next delta, :mod:`.delta`), the
UI-side merge falls back to a full snapshot when it grows past ``2 * max_tasks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .api import Feed, FeedStatus, StateDelta
from .common import CANVAS_BACKEND_BUDGET_S
from .delta import DeltaBuilder, merge_deltas, stats_dict
from .live import LiveFeed
from .local import ReplayFeed, StaticFeed
from .rates import RateHistory
from .resync import resync_events

if TYPE_CHECKING:  # mypy checks that every feed is a Feed

    def _feeds(live: LiveFeed, static: StaticFeed, replay: ReplayFeed) -> list[Feed]:
        return [live, static, replay]


__all__ = [
    "CANVAS_BACKEND_BUDGET_S",
    "DeltaBuilder",
    "Feed",
    "FeedStatus",
    "LiveFeed",
    "RateHistory",
    "ReplayFeed",
    "StateDelta",
    "StaticFeed",
    "merge_deltas",
    "resync_events",
    "stats_dict",
]
