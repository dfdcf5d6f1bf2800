"""The AMQP adapter (RabbitMQ through py-amqp / kombu), also used for kombu's other transports.

* connection check: an AMQP handshake (credentials and vhost included) per
  node of a failover list, in order, ``connect_timeout`` each;
* who is alive: the queues bound to ``celery.pidbox``, from RabbitMQ's
  management API (:mod:`.rabbitmq_api`); without the API a broadcast waits
  its whole timeout, and :meth:`AmqpAdapter.live_workers_note` says why;
* depths and consumers: a passive ``queue.declare`` per queue (the API adds
  unacked counts and publish rates);
* purge: ``queue.purge`` (returns the count removed);
* no message scan: a queued AMQP message cannot be read without consuming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BrokerUnreachable, UsageError
from ..sanitize import mask_url
from .base import Capabilities
from .rabbitmq_api import ManagementAPI, ManagementAPIError
from .urls import AMQP_SCHEMES, amqp_parts, scheme_of, split_urls

if TYPE_CHECKING:
    from ..broker_scan import QueuedMessage
    from ..intake import EventSource
    from ..queues import PurgeOutcome, QueueDepth
    from ..remote import BroadcastResult, RemoteControl
    from ..settings import ClusterSettings


class AmqpAdapter:
    """RabbitMQ (``amqp://``, ``amqps://``, ``pyamqp://``) and kombu's other transports."""

    def __init__(self, settings: ClusterSettings, url: str) -> None:
        self.settings = settings
        self._urls = split_urls(url) or [url]
        self._url = self._urls[0]
        self._api: ManagementAPI | None = None
        self._checked: Any = None  # the connection check() opened, until taken
        self._verified = False  # check() found a node that answers
        self._note: str | None = None
        is_amqp = scheme_of(self._url) in AMQP_SCHEMES
        self._is_amqp = is_amqp
        self._caps = Capabilities(
            transport="amqp" if is_amqp else scheme_of(self._url),
            counts_live_workers=is_amqp,
            exact_live_workers=is_amqp,
            scan_messages=False,
            unacked_counts=is_amqp,
        )

    @property
    def url(self) -> str:
        return self._url

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    @property
    def checked(self) -> bool:
        return self._verified

    # -- connection -------------------------------------------------------------
    def _probe(self, url: str) -> Any:
        """An open py-amqp connection to ``url`` (the handshake checks credentials and vhost)."""
        import amqp

        host, port, user, password, vhost = amqp_parts(url)
        t = self.settings.connect_timeout
        conn = amqp.Connection(
            host=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            userid=user or "guest",
            password=password if password is not None else "guest",
            virtual_host=vhost,
            ssl=scheme_of(url) == "amqps",
            connect_timeout=t,
            read_timeout=t,
            write_timeout=t,
        )
        try:
            conn.connect()
        except BaseException:
            try:
                conn.collect()
            except Exception:
                pass
            raise
        return conn

    def take_connection(self) -> Any:
        """The connection :meth:`check` opened (the caller closes it), else a new one
        to the first node of the list that answers."""
        if self._checked is None:
            self.check()
        conn, self._checked = self._checked, None
        return conn

    def _drop_checked(self) -> None:
        conn, self._checked = self._checked, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

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
        """The broadcast on plain py-amqp (:mod:`.amqp_pidbox`); None: use kombu's."""
        if scheme_of(self._url) not in ("amqp", "pyamqp"):
            return None
        from .amqp_pidbox import broadcast

        return broadcast(self, method, arguments, dest, timeout, reply, started, exchange)

    def check(self) -> str:
        if not self._is_amqp:
            self._verified = True
            return self._url
        last = ""
        self._drop_checked()
        for url in self._urls:
            try:
                # kept open: the broadcast that usually follows reuses it
                self._checked = self._probe(url)
            except Exception as exc:
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                last = f"broker unreachable at {mask_url(url)}: {detail}"
                continue
            if url != self._url:
                self._url = url
                self._api = None
            self._verified = True
            return url
        shown = "; ".join(mask_url(u) for u in self._urls)
        if len(self._urls) > 1:
            last = f"no broker of {shown} answered (last: {last})"
        raise BrokerUnreachable(self.settings.scrub(last))

    def connection(self) -> Any:
        """A kombu connection to the node in use (short timeouts, no retry loops)."""
        from kombu import Connection

        t = self.settings.connect_timeout
        return Connection(
            self._url,
            connect_timeout=t,
            heartbeat=0,
            transport_options={"max_retries": 0},
        )

    # -- management API ---------------------------------------------------------
    @property
    def api(self) -> ManagementAPI | None:
        if not self._is_amqp:
            return None
        if self._api is None:
            self._api = ManagementAPI.for_broker(
                self._url, self.settings.broker_api, self.settings.connect_timeout
            )
        return self._api

    def live_workers(self, exchange: str = "celery", channel: Any = None) -> set[str] | None:
        api = self.api
        if api is None:
            self._note = (
                f"live workers cannot be counted on the {self._caps.transport} broker: "
                "waited the whole --timeout"
            )
            return None
        try:
            queues = api.pidbox_queues(exchange)
        except ManagementAPIError as exc:
            self._note = (
                f"waited the whole --timeout: live workers cannot be counted without "
                f"RabbitMQ's management API ({exc}; set --broker-api or CTL_BROKER_API)"
            )
            return None
        suffix = f".{exchange}.pidbox"
        return {q[: -len(suffix)] for q in queues if q.endswith(suffix) and ".reply." not in q}

    def live_workers_note(self) -> str | None:
        return self._note

    def count_receivers(self, channel: Any) -> list[int] | None:
        return None

    # -- queues -----------------------------------------------------------------
    def _api_queues(self) -> dict[str, dict[str, Any]]:
        api = self.api
        if api is None:
            return {}
        try:
            return {str(row.get("name")): row for row in api.queues()}
        except ManagementAPIError:
            return {}

    def queue_depths(
        self,
        rc: RemoteControl | None = None,
        queues: Sequence[str] | None = None,
        timeout: float = 1.0,
        with_consumers: bool = True,
    ) -> list[QueueDepth]:
        from ..queues import QueueDepth, consumers_by_queue

        consumers: dict[str, list[str]] | None = None
        if with_consumers:
            from ..remote import RemoteControl

            consumers = consumers_by_queue(rc or RemoteControl(self.settings), timeout)
        rows = self._api_queues()
        if queues:
            names = set(queues)
        else:
            # the task queues only, as on Redis (purge_plan): configured, routed, consumed
            from ..purge_plan import plan_purge

            names = set(plan_purge(self.settings.app, consumers).queues)
        result: list[QueueDepth] = []
        conn = self._open()
        try:
            chan = conn.channel()
            for name in sorted(names):
                depth = QueueDepth(name)
                try:
                    ok = chan.queue_declare(queue=name, passive=True)
                    depth.messages = int(ok.message_count)
                    depth.consumers = int(ok.consumer_count)
                except conn.channel_errors:
                    chan = self._reopen(conn, chan)
                    depth.consumers = 0
                if depth.messages:
                    depth.by_priority = {"0": depth.messages}
                row = rows.get(name)
                if row is not None:
                    depth.unacked = _int(row.get("messages_unacknowledged"))
                    stats = row.get("message_stats")
                    details = stats.get("publish_details") if isinstance(stats, dict) else None
                    if isinstance(details, dict) and isinstance(details.get("rate"), int | float):
                        depth.publish_rate = float(details["rate"])
                if consumers is not None:
                    depth.workers = sorted(consumers.get(name, []))
                result.append(depth)
        finally:
            conn.release()
        return result

    def purge(self, expected: Mapping[str, int | None]) -> list[PurgeOutcome]:
        # AMQP has no atomic count-and-purge: the count is checked by a passive declare just
        # before queue.purge, which then reports what it removed (a message published in
        # between is purged too, and the outcome shows found != listed)
        from ..queues import PurgeOutcome

        out: list[PurgeOutcome] = []
        conn = self._open()
        try:
            chan = conn.channel()
            for name, want in expected.items():
                try:
                    found = int(chan.queue_declare(queue=name, passive=True).message_count)
                    if want is not None and found != want:
                        out.append(PurgeOutcome(name, want, found, 0))
                        continue
                    removed = int(chan.queue_purge(queue=name) or 0)
                    out.append(PurgeOutcome(name, want, max(found, removed), removed))
                except conn.channel_errors:
                    chan = self._reopen(conn, chan)
                    out.append(PurgeOutcome(name, want, 0, 0))
        finally:
            conn.release()
        return out

    def queue_declared(self, name: str) -> bool:
        conn = self._open()
        try:
            chan = conn.channel()
            try:
                chan.queue_declare(queue=name, passive=True)
                return True
            except conn.channel_errors:
                return False
        finally:
            conn.release()

    def _open(self) -> Any:
        if not self._verified and len(self._urls) > 1:
            self.check()  # find the node of the failover list that answers
        self._drop_checked()
        conn = self.connection()
        try:
            conn.connect()
        except Exception as exc:
            raise BrokerUnreachable(
                self.settings.scrub(f"broker unreachable at {mask_url(self._url)}: {exc}")
            ) from None
        return conn

    @staticmethod
    def _reopen(conn: Any, chan: Any) -> Any:
        try:
            chan.close()
        except Exception:
            pass
        return conn.channel()

    def iter_messages(self, limit: int = 200_000) -> Iterator[QueuedMessage]:
        raise UsageError(
            f"the {self._caps.transport} broker cannot read queued messages without consuming them"
        )

    def event_source(self, app: Any, **options: Any) -> EventSource:
        from .amqp_events import AmqpEventSource, is_amqp_url, source_options

        url = ";".join(self._urls)  # the whole failover list: the source tries each node
        if is_amqp_url(url):  # own capped queue, drops counted, heartbeats (amqp_events.py)
            return AmqpEventSource(app, url=url, **source_options(options))
        from ..intake import make_source

        return make_source(app, url=url, kind="kombu", **options)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None
