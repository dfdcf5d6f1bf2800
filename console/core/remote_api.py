"""What the console UI calls on remote control: :class:`console.core.remote.RemoteControl`
implements it; tests pass a fake with the same three methods."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .remote import BroadcastResult


class Remote(Protocol):
    def inspect(
        self,
        method: str,
        destination: Sequence[str] | None = None,
        timeout: float = 1.0,
        **arguments: Any,
    ) -> BroadcastResult: ...

    def control(
        self,
        method: str,
        destination: Sequence[str] | None = None,
        timeout: float = 1.0,
        reply: bool = True,
        **arguments: Any,
    ) -> BroadcastResult: ...

    def revoke(
        self,
        ids: Iterable[str],
        terminate: bool = False,
        signal: str = "SIGTERM",
        timeout: float = 1.0,
        reply: bool = True,
    ) -> BroadcastResult: ...
