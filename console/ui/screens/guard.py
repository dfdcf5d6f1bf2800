"""Dialogs under a fast typist: keys typed before a dialog was shown never answer it.

Textual delivers every key of a burst (a paste, keys queued behind a slow
frame); a modal pushed by the first key would receive the rest.  A
:class:`GuardedModal` notes when it was first painted; the app
(:meth:`ConsoleApp.on_event`) drops every key event created before that
moment, before bindings or focused inputs see it.
"""

from __future__ import annotations

import time
from typing import TypeVar

from textual import events
from textual.screen import ModalScreen

R = TypeVar("R")


class GuardedModal(ModalScreen[R]):
    """A modal that ignores type-ahead (keys older than its first frame)."""

    shown_at: float | None = None

    def on_mount(self) -> None:
        # after the first refresh the dialog is on screen; keys created before are stale
        self.call_after_refresh(self._mark_shown)

    def _mark_shown(self) -> None:
        self.shown_at = time.monotonic()
        self.on_shown()

    def on_shown(self) -> None:
        """The dialog is visible (focus its first field here, not before)."""

    def accepts_key(self, event: events.Key) -> bool:
        """Only keys typed after the dialog was visible (the app asks before dispatching)."""
        return self.shown_at is not None and float(getattr(event, "time", 0.0)) >= self.shown_at


__all__ = ["GuardedModal"]
