"""Finished tasks per second by event timestamp (replay feeds: a recording's own time)."""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable
from typing import Any

FINISHED = frozenset({"task-succeeded", "task-failed", "task-revoked", "task-rejected"})


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
