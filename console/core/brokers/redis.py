"""The Redis adapter: the core's Redis code, behind the broker protocol.

The wire format (RESP codec, plain-socket client, Redis URLs, kombu's
envelope) is :mod:`.redis_wire`, next to this file.  The adapter also wraps
the probe of :mod:`console.core.connection`, the non-destructive scan of
:mod:`console.core.broker_scan`, the list-based depths and purge of
:mod:`console.core.queues`, and the PUBLISH receiver counter and RESP
broadcast of :mod:`console.core.remote`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BrokerUnreachable
from .base import Capabilities
from .urls import split_urls

if TYPE_CHECKING:
    from ..broker_scan import QueuedMessage
    from ..intake import EventSource
    from ..queues import PurgeOutcome, QueueDepth
    from ..remote import BroadcastResult, RemoteControl
    from ..settings import ClusterSettings

CAPABILITIES = Capabilities(
    transport="redis",
    counts_live_workers=True,
    exact_live_workers=False,  # bindings may be stale: PUBLISH's count is the truth
    scan_messages=True,
)


class RedisAdapter:
    """Redis broker (``redis://``, ``rediss://``, failover lists of them)."""

    def __init__(self, settings: ClusterSettings, url: str) -> None:
        self.settings = settings
        self._urls = split_urls(url) or [url]
        self._url = self._urls[0]
        self._checked = False

    @property
    def url(self) -> str:
        return self._url

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    @property
    def checked(self) -> bool:
        return self._checked

    def check(self) -> str:
        from ..connection import check_url

        last: BrokerUnreachable | None = None
        for url in self._urls:
            try:
                check_url(url, self.settings.connect_timeout, "broker")
            except BrokerUnreachable as exc:
                last = exc
                continue
            self._url = url
            self._checked = True
            return url
        assert last is not None
        raise last

    def live_workers(self, exchange: str = "celery", channel: Any = None) -> set[str] | None:
        from ..remote import _pidbox_names

        key = f"_kombu.binding.{exchange}.pidbox"
        try:
            if channel is not None:
                return _pidbox_names(channel.client.smembers(key), exchange)
            from .redis_wire import RespClient

            if RespClient.supports(self._url):
                client = RespClient(self._url, self.settings.connect_timeout)
                try:
                    return _pidbox_names(client.call("SMEMBERS", key), exchange)
                finally:
                    client.close()
            from ..broker_scan import redis_client

            rclient = redis_client(self.settings)
            try:
                return _pidbox_names(rclient.smembers(key), exchange)
            finally:
                rclient.close()
        except Exception:
            return None

    def live_workers_note(self) -> str | None:
        return None

    def broadcast(
        self,
        method: str,
        arguments: dict[str, Any] | None,
        dest: list[str] | None,
        timeout: float,
        reply: bool,
        started: float,
        exchange: str = "celery",
    ) -> BroadcastResult | None:
        # the plain-socket RESP broadcast (console/core/remote.py, on .redis_wire)
        from ..remote import RemoteControl
        from .redis_wire import RespClient

        if len(self._urls) > 1 and not self._checked:
            self.check()  # a failover list: the first node that answers
        url = self.url
        if not RespClient.supports(url):
            return None  # rediss://, query options: kombu's Redis transport
        return RemoteControl(self.settings)._broadcast_resp(
            url, method, arguments, dest, timeout, reply, started, exchange
        )

    def count_receivers(self, channel: Any) -> list[int] | None:
        from ..remote import _install_publish_counter

        return _install_publish_counter(channel)

    def queue_depths(
        self,
        rc: RemoteControl | None = None,
        queues: Sequence[str] | None = None,
        timeout: float = 1.0,
        with_consumers: bool = True,
    ) -> list[QueueDepth]:
        from ..queues import redis_queue_depths

        return redis_queue_depths(
            self.settings,
            rc=rc,
            queues=list(queues) if queues else None,
            timeout=timeout,
            with_consumers=with_consumers,
        )

    def purge(self, expected: Mapping[str, int | None]) -> list[PurgeOutcome]:
        from ..queues import redis_purge_checked

        return redis_purge_checked(self.settings, expected)  # count and delete: one Lua step

    def queue_declared(self, name: str) -> bool:
        from ..queues import redis_queue_declared

        return redis_queue_declared(self.settings, name)

    def iter_messages(self, limit: int = 200_000) -> Iterator[QueuedMessage]:
        from ..broker_scan import iter_messages

        return iter_messages(self.settings, limit=limit)

    def event_source(self, app: Any, **options: Any) -> EventSource:
        from ..intake import make_source

        return make_source(app, url=self._url, kind="auto", **options)
