"""Typed messages: thread workers report back to the UI thread with these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class RemoteAnswer(Message):
    """A remote-control poll finished (``result`` is a BroadcastResult or None)."""

    kind: str
    result: Any
    error: str | None
    at: float


@dataclass
class ActionDone(Message):
    """A user action finished: ``summary`` is what the workers said."""

    action: str
    target: str
    ok: bool
    summary: str
    result: Any = None
    #: the task ids a revoke / terminate was sent for (they show "revoke sent")
    revoked: tuple[str, ...] = ()


@dataclass
class DetailLoaded(Message):
    uuid: str
    detail: dict | None
    error: str | None = None


@dataclass
class CanvasLoaded(Message):
    uuid: str
    tree: Any
    error: str | None = None


@dataclass
class QueuesLoaded(Message):
    depths: Any
    error: str | None
    at: float


@dataclass
class BeatLoaded(Message):
    entries: Any
    error: str | None
    at: float


class WindowReady(Message):
    """The feed has the task window asked for (posted from the feed's receiver thread)."""
