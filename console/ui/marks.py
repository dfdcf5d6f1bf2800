"""Marked tasks on the Tasks screen: Space marks the row under the cursor, ``*`` every task
matching the filter, Escape clears; revoke, terminate and retry then act on all of them.

Pure Python (no Textual): an ordered set of task ids (the order they were marked in, so a
confirmation names the first ones marked) with a cap, so ``*`` on a huge list stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

MAX_MARKS = 100_000
#: ids named in a bulk confirmation
SHOWN_IDS = 3


class Marks:
    """An ordered set of marked task ids."""

    def __init__(self, cap: int = MAX_MARKS) -> None:
        self.cap = cap
        self._ids: dict[str, None] = {}
        self.version = 0  # bumps on every change (the list repaints its mark column)

    def __contains__(self, uuid: object) -> bool:
        return uuid in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def toggle(self, uuid: str) -> bool:
        """Mark ``uuid`` (or unmark it); True when it is marked now."""
        self.version += 1
        if uuid in self._ids:
            del self._ids[uuid]
            return False
        if len(self._ids) >= self.cap:
            return False
        self._ids[uuid] = None
        return True

    def add(self, ids: Iterable[str]) -> int:
        """Mark every id (up to the cap); returns how many were newly marked."""
        before = len(self._ids)
        for uuid in ids:
            if len(self._ids) >= self.cap:
                break
            self._ids.setdefault(uuid, None)
        self.version += 1
        return len(self._ids) - before

    def clear(self) -> int:
        n = len(self._ids)
        self._ids.clear()
        self.version += 1
        return n

    def ids(self) -> list[str]:
        return list(self._ids)


def count_and_first(ids: list[str], shown: int = SHOWN_IDS) -> str:
    """``"12 tasks (a, b, c, …)"`` for a bulk confirmation."""
    head = ", ".join(ids[:shown]) + (", …" if len(ids) > shown else "")
    return f"{len(ids)} task{'s' if len(ids) != 1 else ''} ({head})"


__all__ = ["MAX_MARKS", "Marks", "count_and_first"]
