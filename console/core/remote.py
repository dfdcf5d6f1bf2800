"""Remote control (inspect / control broadcasts) that returns early.

Stock ``celery inspect`` always waits the whole timeout because it cannot
know how many workers exist.  On Redis the pidbox broadcast is a ``PUBLISH``
on the fanout topic (``/{db}.celery.pidbox``), and ``PUBLISH`` returns the
number of subscribers that received it: one per live worker.  We capture that
number (by wrapping the kombu Redis channel's ``_put_fanout`` for our own
channel only) and collect replies until that many arrived, or ``len(destination)``
when a destination is given, never longer than ``timeout``.  On any other
transport, or if the private kombu API is missing, we wait the full timeout
like stock Celery.

Replies have the same shape as ``celery inspect --json``: ``{hostname: reply}``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import BrokerUnreachable, UsageError

if TYPE_CHECKING:
    from .settings import ClusterSettings

INSPECT_METHODS: dict[str, str] = {
    # CLI name -> worker control method
    "active": "active",
    "reserved": "reserved",
    "scheduled": "scheduled",
    "revoked": "revoked",
    "stats": "stats",
    "registered": "registered",
    "active-queues": "active_queues",
    "active_queues": "active_queues",
    "query-task": "query_task",
    "query_task": "query_task",
    "ping": "ping",
    "conf": "conf",
    "report": "report",
    "clock": "clock",
}

CONTROL_METHODS = {
    "rate_limit",
    "time_limit",
    "pool_grow",
    "pool_shrink",
    "pool_restart",
    "autoscale",
    "add_consumer",
    "cancel_consumer",
    "shutdown",
    "revoke",
    "enable_events",
    "disable_events",
    "heartbeat",
}


_OTHER_TICKET = object()


def _merge_reply(
    data: dict[str, Any],
    dest: Any,
    replies: dict[str, Any],
    latency: dict[str, float],
    started: float,
    counted: set[str] | None = None,
    known: set[str] | None = None,
) -> bool:
    """Record one reply message; False when it is not one worker's reply (skipped).

    A worker answers with exactly one ``{its hostname: reply}``: a message that
    names several hostnames is forged (or broken) and is dropped whole, so it
    can neither end the wait early nor stand in for real workers.  A reply
    counts towards the wait (``counted``) only when it comes from a worker that
    was expected: one of ``dest``, else one of the pidbox-bound workers
    (``known``, when the broker told us).
    """
    if len(data) != 1:
        return False
    ((host, value),) = data.items()
    host = str(host)
    if dest is not None and host not in dest:
        return True
    replies[host] = value
    latency.setdefault(host, time.monotonic() - started)
    if counted is not None and (dest is not None or not known or host in known):
        counted.add(host)
    return True


def parse_reply(raw: bytes | str, ticket: str | None) -> Any:
    """Decode one pidbox reply message (kombu's Redis envelope).

    Returns the ``{hostname: reply}`` dict, ``_OTHER_TICKET`` for a reply to
    another broadcast, or ``None`` when the message is malformed (bad JSON,
    bad base64, not a dict): callers count those and skip them.
    """
    from .brokers.redis_wire import decode_body, loads_envelope

    try:
        msg = loads_envelope(raw)
    except ValueError:
        return None
    if not isinstance(msg, dict):
        return None
    headers = msg.get("headers") or {}
    if not isinstance(headers, dict):
        return None
    if headers.get("ticket", ticket) != ticket:
        return _OTHER_TICKET
    data = decode_body(msg)
    return data if isinstance(data, dict) else None


@dataclass
class BroadcastResult:
    replies: dict[str, Any] = field(default_factory=dict)
    expected: int | None = None
    missing: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    destination: list[str] | None = None
    latency: dict[str, float] = field(default_factory=dict)
    #: without a destination: workers bound to the pidbox that did not reply
    #: (exact when their number matches, else a superset that may hold stale names)
    silent: list[str] = field(default_factory=list)
    silent_exact: bool = False
    #: replies that could not be decoded or were not one ``{hostname: reply}``: skipped
    malformed: int = 0
    #: expected workers that replied (a reply from a name nobody expected does not
    #: count); defaults to ``len(replies)``
    answered: int = -1
    #: why the broadcast waited its whole timeout (live workers could not be
    #: counted on this broker), for one line on stderr; None otherwise
    note: str | None = None

    def __post_init__(self) -> None:
        if self.answered < 0:
            self.answered = len(self.replies)

    @property
    def unanswered(self) -> int:
        """How many workers we expected but did not hear from (0 if unknown)."""
        if self.expected is None:
            return len(self.missing)
        return max(len(self.missing), self.expected - self.answered)


def _install_publish_counter(channel: Any) -> list[int] | None:
    """Wrap ``channel._put_fanout`` so PUBLISH return values are recorded.

    Returns the list that receives subscriber counts, or None when the
    channel is not a kombu Redis channel with the expected private API.
    """
    try:
        from kombu.transport import redis as kredis
    except Exception:
        return None
    if not isinstance(channel, kredis.Channel):
        return None
    needed = ("_put_fanout", "_get_publish_topics", "conn_or_acquire")
    if not all(hasattr(channel, name) for name in needed):
        return None
    counts: list[int] = []
    original: Callable[..., Any] = channel._put_fanout
    dumps = getattr(kredis, "dumps", None)
    if dumps is None:
        return None

    def put_fanout(exchange: str, message: Any, routing_key: str, **kwargs: Any) -> Any:
        if kwargs.get("_publish_batch") is not None:
            return original(exchange, message, routing_key, **kwargs)
        kwargs.pop("_publish_batch", None)
        topics = channel._get_publish_topics(exchange, routing_key)
        payload = dumps(message)
        total = 0
        with channel.conn_or_acquire() as client:
            for topic in topics:
                total += int(client.publish(topic, payload) or 0)
        counts.append(total)
        return None

    channel._put_fanout = put_fanout  # type: ignore[method-assign]  # wrapped to count receivers
    return counts


def _pidbox_names(members: Any, exchange: str = "celery") -> set[str]:
    suffix = f".{exchange}.pidbox"
    names = set()
    for member in members or ():
        text = member.decode("utf-8", "replace") if isinstance(member, bytes) else str(member)
        queue = text.split("\x06\x16")[-1]
        if queue.endswith(suffix):
            names.add(queue[: -len(suffix)])
    return names


def _expected_workers(
    receivers: int | None, dest: Any, known: set[str] | None, exact: bool = False
) -> int | None:
    """How many replies to wait for: PUBLISH's receiver count, capped by who can answer.

    A subscriber that is not a worker (no pidbox queue bound) is not waited for.
    With ``exact`` (the broker named the live workers, e.g. RabbitMQ's management
    API) and no receiver count, exactly those workers (of ``dest``) are waited for.
    """
    if exact and receivers is None and known is not None:
        return len([d for d in dest if d in known]) if dest else len(known)
    if dest:
        return len(dest) if receivers is None else min(len(dest), receivers)
    if receivers is not None and known:
        return min(receivers, len(known))
    return receivers


def _mark_silent(result: BroadcastResult, members: Any, exchange: str = "celery") -> None:
    if result.destination or result.expected is None or result.expected <= result.answered:
        return
    candidates = sorted(_pidbox_names(members, exchange) - set(result.replies))
    result.silent = candidates
    result.silent_exact = len(candidates) == result.expected - result.answered


class RemoteControl:
    """Inspect / control broadcasts with early return (see module docstring)."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        return self.settings.app

    def _bare(self) -> bool:
        """No -A app and none built yet: talk kombu directly (no Celery import: faster)."""
        return not self.settings.app_module and self.settings._app is None

    def _raw_exchange(self) -> str | None:
        """The control exchange name when the plain-socket path is equivalent, else None.

        Always for a bare app; with -A only when the app uses JSON for control
        messages and no transport option changes kombu's Redis key layout.
        """
        if self._bare():
            return "celery"
        try:
            conf = self.app.conf
            opts = set(conf.broker_transport_options or {})
            if opts & {"global_keyprefix", "fanout_prefix", "fanout_patterns", "sep"}:
                return None
            accept = conf.accept_content or ["json"]
            if conf.task_serializer != "json" or "json" not in accept:
                return None
            return str(conf.control_exchange or "celery")
        except Exception:
            return None

    def _broker_url(self) -> str:
        from .connection import broker_url_of

        return broker_url_of(self.settings)

    def _connection(self) -> tuple[Any, Any]:
        """(kombu connection, mailbox factory) -- Celery's own when an app is loaded."""
        if not self._bare():
            # the node check_broker found alive (a failover list is tried in order)
            conn = self.app.connection_for_write(url=self._broker_url())
            return conn, self.app.control.mailbox
        from kombu import Connection
        from kombu.pidbox import Mailbox

        t = self.settings.connect_timeout
        conn = Connection(
            self._broker_url(),
            connect_timeout=t,
            transport_options={"socket_connect_timeout": t, "max_retries": 0},
        )
        # the same mailbox Celery's app.control uses (control_exchange "celery", json)
        return conn, Mailbox("celery", type="fanout", accept=["json"], serializer="json")

    def broadcast(
        self,
        method: str,
        arguments: dict[str, Any] | None = None,
        destination: Sequence[str] | None = None,
        timeout: float = 1.0,
        reply: bool = True,
    ) -> BroadcastResult:
        if timeout <= 0:
            raise UsageError("--timeout must be positive")
        dest = list(dict.fromkeys(destination)) if destination else None
        started = time.monotonic()
        exchange = self._raw_exchange()
        if exchange:
            # the transport's own plain client (Redis: RESP, RabbitMQ: py-amqp) when it has one
            from .brokers import adapter_for

            plain = adapter_for(self.settings).broadcast(
                method, arguments, dest, timeout, reply, started, exchange
            )
            if plain is not None:
                return plain
        from kombu import Consumer, Producer

        result = BroadcastResult(destination=dest)
        try:
            conn, mailbox_factory = self._connection()
            conn.ensure_connection(max_retries=1, timeout=self.settings.connect_timeout)
        except UsageError:
            raise  # e.g. the -A app could not be found: not a broker problem
        except Exception as exc:
            from .sanitize import mask_url

            raise BrokerUnreachable(
                self.settings.scrub(f"broker unreachable at {mask_url(self._broker_url())}: {exc}")
            ) from None
        try:
            from .brokers import adapter_for

            adapter = adapter_for(self.settings)
            exact = adapter.capabilities.exact_live_workers
            mailbox = mailbox_factory(conn)
            chan = conn.channel()
            counts = adapter.count_receivers(chan)
            known_or_none: set[str] | None = None
            if (counts is not None and not dest) or exact:
                known_or_none = adapter.live_workers(
                    str(mailbox.namespace), chan if counts is not None else None
                )
            known = known_or_none or set()
            ticket = None
            if reply:
                from kombu.utils.uuid import uuid

                ticket = uuid()
            mailbox._publish(
                method,
                dict(arguments or {}),
                destination=dest,
                reply_ticket=ticket,
                channel=chan,
                timeout=timeout,
                serializer=mailbox.serializer,
                producer=Producer(chan, auto_declare=False),
            )
            expected = _expected_workers(counts[-1] if counts else None, dest, known_or_none, exact)
            result.expected = expected
            if expected is None:
                result.note = adapter.live_workers_note()
            if not reply:
                result.elapsed = time.monotonic() - started
                return result
            replies: dict[str, Any] = {}
            latency: dict[str, float] = {}
            counted: set[str] = set()
            deadline = started + timeout

            def on_message(body: Any, message: Any) -> None:
                headers = message.headers or {}
                if headers.get("ticket", ticket) != ticket:
                    return
                if not isinstance(body, dict) or not _merge_reply(
                    body, dest, replies, latency, started, counted, known
                ):
                    result.malformed += 1

            consumer = Consumer(chan, [mailbox.reply_queue], accept=mailbox.accept, no_ack=True)
            consumer.register_callback(on_message)
            with consumer:
                while expected is None or len(counted) < expected:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or (expected == 0):
                        break
                    try:
                        conn.drain_events(timeout=remaining)
                    except TimeoutError:
                        break
            result.replies = replies
            result.latency = latency
            result.answered = len(counted)
            if dest:
                result.missing = [d for d in dest if d not in replies]
            elif expected is not None and expected > len(counted):
                exchange = str(mailbox.namespace)
                members = known if exact else adapter.live_workers(exchange, chan)
                _mark_silent(
                    result, sorted(f"{m}.{exchange}.pidbox" for m in members or ()), exchange
                )
            result.elapsed = time.monotonic() - started
            return result
        finally:
            try:
                chan.close()
            except Exception:
                pass
            conn.release()

    def _broadcast_resp(
        self,
        url: str,
        method: str,
        arguments: dict[str, Any] | None,
        dest: list[str] | None,
        timeout: float,
        reply: bool,
        started: float,
        exchange: str = "celery",
    ) -> BroadcastResult:
        """The same pidbox protocol as kombu's Redis transport, on a plain socket.

        PUBLISH on ``/{db}.celery.pidbox`` (returns the subscriber count), replies
        routed through the ``reply.celery.pidbox`` binding into our own list.
        """
        import uuid

        from .brokers.redis_wire import RespClient
        from .sanitize import mask_url

        try:
            client = RespClient(url, self.settings.connect_timeout)
        except Exception as exc:
            raise BrokerUnreachable(
                self.settings.scrub(f"broker unreachable at {mask_url(url)}: {exc}")
            ) from None
        result = BroadcastResult(destination=dest)
        oid = str(uuid.uuid4())
        ticket = str(uuid.uuid4()) if reply else None
        reply_queue = f"{oid}.reply.{exchange}.pidbox"
        binding_key = f"_kombu.binding.reply.{exchange}.pidbox"
        binding = f"{oid}\x06\x16\x06\x16{reply_queue}"
        try:
            payload: dict[str, Any] = {
                "method": method,
                "arguments": dict(arguments or {}),
                "destination": dest,
                "pattern": None,
                "matcher": None,
            }
            if ticket:
                client.call("SADD", binding_key, binding)
                payload["ticket"] = ticket
                payload["reply_to"] = {"exchange": f"reply.{exchange}.pidbox", "routing_key": oid}
            body = base64.b64encode(json.dumps(payload).encode()).decode()
            message = {
                "body": body,
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {"clock": 1, "expires": time.time() + timeout},
                "properties": {
                    "delivery_mode": 2,
                    "delivery_info": {"exchange": f"{exchange}.pidbox", "routing_key": ""},
                    "priority": 0,
                    "body_encoding": "base64",
                    "delivery_tag": str(uuid.uuid4()),
                },
            }
            topic = f"/{client.db}.{exchange}.pidbox"
            bindings = (
                None if dest else client.call("SMEMBERS", f"_kombu.binding.{exchange}.pidbox")
            )
            known = _pidbox_names(bindings, exchange)
            receivers = int(client.call("PUBLISH", topic, json.dumps(message)) or 0)
            expected = _expected_workers(receivers, dest, known) or 0
            result.expected = expected
            if not reply:
                return result
            deadline = started + timeout
            replies: dict[str, Any] = {}
            latency: dict[str, float] = {}
            counted: set[str] = set()
            while len(counted) < expected:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                client.sock.settimeout(remaining + 5.0)
                got = client.call("BRPOP", reply_queue, f"{max(remaining, 0.01):.3f}")
                if not got:
                    break
                data = parse_reply(got[1], ticket)
                if data is _OTHER_TICKET:
                    continue
                if data is None or not _merge_reply(
                    data, dest, replies, latency, started, counted, known
                ):
                    result.malformed += 1
            result.replies = replies
            result.latency = latency
            result.answered = len(counted)
            if dest:
                result.missing = [d for d in dest if d not in replies]
            elif expected > len(counted):
                _mark_silent(result, bindings, exchange)
            return result
        except OSError as exc:
            raise BrokerUnreachable(
                self.settings.scrub(f"broker connection lost ({mask_url(url)}): {exc}")
            ) from None
        finally:
            result.elapsed = time.monotonic() - started
            try:
                if ticket:
                    client.sock.settimeout(2.0)
                    client.call("SREM", binding_key, binding)
                    client.call("DEL", reply_queue)
            except Exception:
                pass
            client.close()

    def inspect(
        self,
        method: str,
        destination: Sequence[str] | None = None,
        timeout: float = 1.0,
        **arguments: Any,
    ) -> BroadcastResult:
        real = INSPECT_METHODS.get(method)
        if real is None:
            raise UsageError(
                f"unknown inspect method {method!r}; choose from: "
                + ", ".join(sorted({k for k in INSPECT_METHODS if "_" not in k}))
            )
        return self.broadcast(real, arguments, destination=destination, timeout=timeout)

    def control(
        self,
        method: str,
        destination: Sequence[str] | None = None,
        timeout: float = 1.0,
        reply: bool = True,
        **arguments: Any,
    ) -> BroadcastResult:
        if method not in CONTROL_METHODS:
            raise UsageError(f"unknown control method {method!r}")
        return self.broadcast(
            method, arguments, destination=destination, timeout=timeout, reply=reply
        )

    def revoke(
        self,
        ids: Iterable[str],
        terminate: bool = False,
        signal: str = "SIGTERM",
        timeout: float = 1.0,
        reply: bool = True,
    ) -> BroadcastResult:
        """Revoke ``ids`` in one broadcast (replies: ``{host: {"ok": ...}}``)."""
        id_list = list(dict.fromkeys(ids))
        return self.broadcast(
            "revoke",
            {"task_id": id_list, "terminate": terminate, "signal": signal},
            timeout=timeout,
            reply=reply,
        )
