"""Event intake: sources that yield batches of raw Celery event dicts.

Two sources share one small interface (:class:`EventSource`):

* :class:`RedisEventSource` -- a fast reader for Redis brokers.  It opens its
  own ``PSUBSCRIBE`` on the event exchange's pub/sub topics (``/{db}.celeryev/*``
  with kombu's defaults), reads large socket chunks in a reader thread (so Redis
  never has to buffer for us while we parse), parses the RESP ``pmessage``
  frames itself, and decodes kombu's JSON envelope (``body`` is base64 of the
  JSON event, or a JSON list of events for grouped/buffered dispatchers).
  The wire format (RESP, Redis URLs, the envelope) is the Redis adapter's
  :mod:`console.core.brokers.redis_wire`; this module owns the threads.
* :class:`KombuEventSource` -- any other kombu transport, through Celery's
  standard :class:`celery.events.EventReceiver` running in a thread.

Both reconnect by themselves with capped exponential backoff, keep a
:class:`SourceStatus` (``live`` / ``reconnecting`` / ``disconnected``), and
count *gaps*: every time events may have been lost (connection dropped,
subscriber kicked by Redis' ``client-output-buffer-limit pubsub``, local
buffer overflow) ``status.gaps`` grows and :meth:`take_gap` returns True once,
so the caller can resync (remote-control ``inspect active`` / ``stats``).

Events are handed over exactly as they were sent (no ``local_received``, no
clock adjustment): ``ClusterState.apply`` and recordings take raw events.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import ssl as _ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .brokers.redis_wire import (
    PING,
    Incomplete,
    RespError,
    auth_command,
    body_to_events,
    encode_command,
    event_patterns,
    is_redis_url,
    open_socket,
    parse_frame,
    parse_pubsub,
    parse_redis_url,
)
from .errors import BrokerUnreachable, UsageError
from .sanitize import mask_url, scrub_secrets

__all__ = [
    "EventSource",
    "KombuEventSource",
    "RedisEventSource",
    "SourceStatus",
    "make_source",
    "tune_gc",
]


# ---------------------------------------------------------------------------
# status


@dataclass(frozen=True)
class SourceStatus:
    """Connection state of an event source (immutable snapshot)."""

    mode: str = "disconnected"  # "live" | "reconnecting" | "disconnected" | "stopped"
    message: str = ""
    gaps: int = 0
    connected: bool = False
    last_event: float | None = None  # wall time of the last event received
    events: int = 0  # events delivered so far
    malformed: int = 0  # undecodable messages skipped
    reconnects: int = 0
    dropped: int = 0  # messages the broker dropped before we read them (AMQP queue cap)


class EventSource(Protocol):
    """What :mod:`console.core.feed` and ``ctl events`` need from a source."""

    @property
    def status(self) -> SourceStatus: ...

    def start(self, require_connection: bool = False) -> None: ...

    def read_batch(
        self, timeout: float = 0.1, max_events: int = 20_000
    ) -> list[dict[str, Any]]: ...

    def take_gap(self) -> bool: ...

    def wake(self) -> None: ...

    def close(self) -> None: ...


class _StatusMixin:
    """Thread-safe status bookkeeping shared by both sources."""

    _cond: threading.Condition

    def wake(self) -> None:
        """End a ``read_batch`` wait now (another thread has work for the reader)."""
        with self._cond:
            self._cond.notify_all()

    def _init_status(self, scrub: Callable[[str], str]) -> None:
        self._status = SourceStatus()
        self._status_lock = threading.Lock()
        self._gap_pending = False
        self._ever_connected = False
        self._scrub = scrub

    @property
    def status(self) -> SourceStatus:
        return self._status

    def _set_status(self, **changes: Any) -> None:
        with self._status_lock:
            if "message" in changes:
                changes["message"] = self._scrub(str(changes["message"]))
            self._status = replace(self._status, **changes)

    def _on_connected(self, what: str) -> None:
        with self._status_lock:
            st = self._status
            gaps, reconnects, msg = st.gaps, st.reconnects, f"live: {what}"
            if self._ever_connected:
                gaps += 1
                reconnects += 1
                self._gap_pending = True
                msg = f"reconnected to {what}; events may have been lost while disconnected"
            self._ever_connected = True
            self._status = replace(
                st,
                mode="live",
                connected=True,
                gaps=gaps,
                reconnects=reconnects,
                message=self._scrub(msg),
            )

    def _add_gap(self, message: str) -> None:
        with self._status_lock:
            self._gap_pending = True
            self._status = replace(
                self._status, gaps=self._status.gaps + 1, message=self._scrub(message)
            )

    def take_gap(self) -> bool:
        """True once after each gap (the caller should resync)."""
        with self._status_lock:
            pending, self._gap_pending = self._gap_pending, False
            return pending

    def _count(self, n: int, malformed: int = 0) -> None:
        if n or malformed:
            with self._status_lock:
                st = self._status
                self._status = replace(
                    st,
                    events=st.events + n,
                    malformed=st.malformed + malformed,
                    last_event=time.time() if n else st.last_event,
                )


def _backoff(attempt: int, base: float = 0.1, cap: float = 2.0) -> float:
    return min(cap, base * (2.0 ** min(attempt, 10)))


# ---------------------------------------------------------------------------
# the fast Redis source


class RedisEventSource(_StatusMixin):
    """Fast pub/sub reader of Celery events on a Redis broker.

    A reader thread owns the socket: it connects (AUTH, TLS, unix sockets),
    PSUBSCRIBEs, and moves raw bytes into a bounded in-process buffer as fast
    as the kernel hands them over (recv releases the GIL), so a burst does not
    pile up in Redis' per-client output buffer.  :meth:`read_batch` parses the
    buffered frames and decodes the events in the caller's thread.

    Silence is probed with PING every ``ping_interval`` seconds; no reply
    within ``dead_after`` seconds (or EOF / reset) means disconnected.
    """

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "celeryev",
        transport_options: Mapping[str, Any] | None = None,
        ssl_options: Mapping[str, Any] | bool | None = None,
        connect_timeout: float = 1.0,
        ping_interval: float = 0.5,
        dead_after: float = 1.5,
        max_buffer: int = 256 << 20,
        chunk_size: int = 1 << 20,
        backoff_cap: float = 2.0,
    ) -> None:
        self._url = url
        self.endpoints = parse_redis_url(url, ssl_options)
        self.transport_options = dict(transport_options or {})
        self.exchange = exchange
        self.connect_timeout = float(
            self.transport_options.get("socket_connect_timeout") or connect_timeout
        )
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self.max_buffer = max_buffer
        self.chunk_size = chunk_size
        self.backoff_cap = backoff_cap
        self._init_status(lambda m: scrub_secrets(m, url))
        self._chunks: collections.deque[bytes | None] = collections.deque()
        self._buffered = 0
        self._cond = threading.Condition()
        self._rest = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._endpoint_index = 0
        self._initial = b""

    # -- construction helpers ---------------------------------------------
    @classmethod
    def from_app(cls, app: Any, url: str | None = None, **kwargs: Any) -> RedisEventSource:
        conf = app.conf
        url = url or str(conf.broker_url)
        return cls(
            url,
            exchange=str(conf.event_exchange or "celeryev"),
            transport_options=conf.broker_transport_options or {},
            ssl_options=conf.broker_use_ssl or None,
            **kwargs,
        )

    @property
    def patterns(self) -> list[str]:
        ep = self.endpoints[self._endpoint_index % len(self.endpoints)]
        return event_patterns(ep.db, self.transport_options, self.exchange)

    @property
    def masked_url(self) -> str:
        return mask_url(self._url)

    # -- connection ---------------------------------------------------------
    def _connect(self) -> socket.socket:
        ep = self.endpoints[self._endpoint_index % len(self.endpoints)]
        sock = open_socket(ep, self.connect_timeout, rcvbuf=8 << 20)
        try:
            auth = auth_command(ep)
            if auth is not None:
                sock.sendall(auth)
                reply = self._read_line(sock)
                if not reply.startswith(b"+"):
                    raise ConnectionError(
                        "authentication failed: "
                        + reply.decode("utf-8", "replace").lstrip("-").strip()
                    )
            patterns = self.patterns
            sock.sendall(encode_command("PSUBSCRIBE", *patterns))
            self._initial = self._await_subscribed(sock, len(patterns))
        except BaseException:
            sock.close()
            raise
        return sock

    def _await_subscribed(self, sock: socket.socket, expected: int) -> bytes:
        """Read the PSUBSCRIBE confirmations; return any bytes that followed them."""
        buf = b""
        confirmed = 0
        while confirmed < expected:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed while subscribing")
            buf += data
            while confirmed < expected:
                try:
                    frame, nxt = parse_frame(buf, 0)
                except Incomplete:
                    break
                except (ValueError, IndexError):
                    raise ConnectionError("unexpected reply to PSUBSCRIBE") from None
                if isinstance(frame, RespError):
                    raise ConnectionError(f"PSUBSCRIBE refused: {frame}")
                if isinstance(frame, list) and frame and frame[0] == b"psubscribe":
                    confirmed += 1
                    buf = buf[nxt:]
                else:
                    raise ConnectionError(f"unexpected reply to PSUBSCRIBE: {str(frame)[:80]}")
        return buf

    @staticmethod
    def _read_line(sock: socket.socket) -> bytes:
        data = b""
        while not data.endswith(b"\r\n"):
            more = sock.recv(1)
            if not more:
                raise ConnectionError("connection closed during handshake")
            data += more
            if len(data) > 4096:
                break
        return data

    def start(self, require_connection: bool = False) -> None:
        """Start the reader thread.

        With ``require_connection`` the first connection is made here and a
        failure raises :class:`BrokerUnreachable` (one line, password masked);
        otherwise failures are retried in the background (status shows it).
        """
        if self._thread is not None:
            return
        self._stop.clear()
        sock = None
        if require_connection:
            try:
                sock = self._connect()
            except (OSError, ConnectionError, _ssl.SSLError) as exc:
                raise BrokerUnreachable(
                    f"broker unreachable: {self.masked_url}: {self._scrub(_exc_text(exc))}"
                ) from None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="redis-event-reader", daemon=True
        )
        self._thread.start()

    def _run(self, sock: socket.socket | None) -> None:
        attempt = 0
        while not self._stop.is_set():
            if sock is None:
                if attempt == 0:  # first try after start or after a loss: "reconnecting"
                    self._set_status(mode="reconnecting", connected=False)
                try:
                    sock = self._connect()
                except (OSError, ConnectionError, _ssl.SSLError) as exc:
                    delay = _backoff(attempt, cap=self.backoff_cap)
                    attempt += 1
                    self._endpoint_index += 1
                    ep = self.endpoints[self._endpoint_index % len(self.endpoints)]
                    self._set_status(
                        mode="disconnected",
                        connected=False,
                        message=f"broker unreachable ({ep.describe()}): {_exc_text(exc)}; "
                        f"retrying in {delay:.1f}s",
                    )
                    self._stop.wait(delay)
                    continue
            attempt = 0
            with self._cond:  # a new connection: the parser must drop a cut frame
                self._chunks.append(None)
                if self._initial:
                    self._chunks.append(self._initial)
                    self._buffered += len(self._initial)
                self._initial = b""
                self._cond.notify()
            self._on_connected(
                self.endpoints[self._endpoint_index % len(self.endpoints)].describe()
            )
            reason = self._pump(sock)
            with contextlib.suppress(OSError):
                sock.close()
            self._sock = sock = None
            if self._stop.is_set():
                break
            self._set_status(
                mode="disconnected", connected=False, message=f"connection lost: {reason}"
            )
        self._set_status(mode="stopped", connected=False)

    def _pump(self, sock: socket.socket) -> str:
        """Move bytes from the socket to the buffer until the connection dies."""
        self._sock = sock
        sock.settimeout(self.ping_interval)
        recv = sock.recv
        chunk_size = self.chunk_size
        last_rx = time.monotonic()
        ping_sent: float | None = None
        while not self._stop.is_set():
            try:
                data = recv(chunk_size)
            except TimeoutError:
                now = time.monotonic()
                if ping_sent is not None and now - ping_sent >= self.dead_after:
                    return f"no reply to PING within {self.dead_after:.1f}s"
                if ping_sent is None and now - last_rx >= self.ping_interval:
                    try:
                        sock.sendall(PING)
                    except OSError as exc:
                        return _exc_text(exc)
                    ping_sent = now
                continue
            except (OSError, _ssl.SSLError) as exc:
                return _exc_text(exc)
            if not data:
                return "closed by the server (subscriber dropped: output buffer limit or shutdown)"
            last_rx = time.monotonic()
            ping_sent = None
            with self._cond:
                self._chunks.append(data)
                self._buffered += len(data)
                overflow = self._buffered > self.max_buffer
                if overflow:
                    # drop everything and resubscribe: a clean RESP stream, and a counted gap
                    self._chunks.clear()
                    self._buffered = 0
                    self._chunks.append(None)
                self._cond.notify()
            if overflow:
                return (
                    f"intake fell behind by more than {self.max_buffer / 1e6:.1f} MB: "
                    "buffered events dropped"
                )
        return "stopped"

    # -- reading ------------------------------------------------------------
    def read_batch(
        self, timeout: float = 0.1, max_events: int = 20_000, max_bytes: int = 4 << 20
    ) -> list[dict[str, Any]]:
        """Events received since the last call (waits up to ``timeout`` for the first).

        At most ``max_bytes`` of raw stream, and roughly ``max_events`` (counted as
        256 bytes each: events are read in received chunks, not one by one).
        """
        max_bytes = min(max_bytes, max(64 << 10, max_events * 256))
        with self._cond:
            if not self._chunks and timeout > 0:
                self._cond.wait(timeout)
            items: list[bytes | None] = []
            taken = 0
            chunks = self._chunks
            while chunks and taken < max_bytes:
                item = chunks.popleft()
                items.append(item)
                if item is not None:
                    taken += len(item)
            self._buffered = max(0, self._buffered - taken)
        if not items:
            return []
        out: list[dict[str, Any]] = []
        bad = 0
        parts: list[bytes] = [self._rest] if self._rest else []
        for item in items:
            if item is None:  # a new connection: parse what we have, drop a cut frame
                if parts:
                    bad += self._parse(parts, out)
                self._rest = b""
                parts = []
            else:
                parts.append(item)
        if parts:
            bad += self._parse(parts, out)
        self._count(len(out), bad)
        return out

    def _parse(self, parts: list[bytes], out: list[dict[str, Any]]) -> int:
        buf = parts[0] if len(parts) == 1 else b"".join(parts)
        consumed, bad = parse_pubsub(buf, out)
        self._rest = buf[consumed:] if consumed < len(buf) else b""
        return bad

    def close(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(3)
            self._thread = None
        with self._cond:
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()


def _exc_text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------
# the generic kombu source


class KombuEventSource(_StatusMixin):
    """Celery's standard EventReceiver in a thread, for any kombu transport.

    Raw event bodies (dicts or grouped lists) are queued as received; the
    queue is bounded (``max_pending`` events): on overflow the oldest are
    dropped and a gap is flagged.
    """

    def __init__(
        self,
        app: Any,
        *,
        connect_timeout: float = 1.0,
        max_pending: int = 500_000,
        backoff_cap: float = 2.0,
        url: str | None = None,
    ) -> None:
        self.app = app
        self.url = url or str(app.conf.broker_url or "")
        self.connect_timeout = connect_timeout
        self.max_pending = max_pending
        self.backoff_cap = backoff_cap
        self._init_status(lambda m: scrub_secrets(m, self.url))
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receiver: Any = None
        self._malformed = 0

    def _connection(self) -> Any:
        conn = (
            self.app.connection_for_read(self.url) if self.url else self.app.connection_for_read()
        )
        conn.connect_timeout = self.connect_timeout
        return conn

    def start(self, require_connection: bool = False) -> None:
        if self._thread is not None:
            return
        if require_connection:
            conn = self._connection()
            try:
                conn.ensure_connection(
                    max_retries=1,
                    interval_start=0,
                    interval_step=0,
                    interval_max=0,
                    timeout=self.connect_timeout,
                )
            except Exception as exc:
                raise BrokerUnreachable(
                    f"broker unreachable: {mask_url(self.url)}: {self._scrub(_exc_text(exc))}"
                ) from None
            finally:
                conn.release()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kombu-event-reader", daemon=True)
        self._thread.start()

    def _push(self, body: Any) -> None:
        out: list[dict[str, Any]] = []
        bad = body_to_events(body, out)
        if bad:
            self._malformed += bad
        with self._cond:
            self._pending.extend(out)
            overflow = len(self._pending) - self.max_pending
            if overflow > 0:
                for _ in range(overflow):
                    self._pending.popleft()
            self._cond.notify()
        if overflow > 0:
            self._add_gap(f"intake fell behind: {overflow} events dropped")

    def _run(self) -> None:
        from celery.events.receiver import EventReceiver

        source = self

        class RawReceiver(EventReceiver):  # type: ignore[misc]  # celery is untyped
            def _receive(
                self, body: Any, message: Any, list: Any = list, isinstance: Any = isinstance
            ) -> None:
                source._push(body)

            def on_consume_ready(
                self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
            ) -> None:
                source._on_connected(mask_url(source.url))
                super().on_consume_ready(connection, channel, consumers, **kwargs)

        attempt = 0
        while not self._stop.is_set():
            conn = self._connection()
            try:
                if attempt:
                    self._set_status(mode="reconnecting", connected=False)
                conn.ensure_connection(
                    max_retries=1,
                    interval_start=0,
                    interval_step=0,
                    interval_max=0,
                    timeout=self.connect_timeout,
                )
                recv = RawReceiver(conn, handlers={}, app=self.app)
                self._receiver = recv
                attempt = 0
                for _ in recv.consume(limit=None, timeout=None, safety_interval=0.5):
                    if self._stop.is_set():
                        break
                if self._stop.is_set():
                    break
            except Exception as exc:
                if self._stop.is_set():
                    break
                delay = _backoff(attempt, cap=self.backoff_cap)
                attempt += 1
                self._set_status(
                    mode="disconnected",
                    connected=False,
                    message=f"broker unreachable: {mask_url(self.url)}: "
                    f"{_exc_text(exc)}; retrying in {delay:.1f}s",
                )
                self._stop.wait(delay)
            finally:
                self._receiver = None
                with contextlib.suppress(Exception):
                    conn.release()
        self._set_status(mode="stopped", connected=False)

    def read_batch(self, timeout: float = 0.1, max_events: int = 20_000) -> list[dict[str, Any]]:
        with self._cond:
            if not self._pending and timeout > 0:
                self._cond.wait(timeout)
            n = min(len(self._pending), max_events)
            pop = self._pending.popleft
            out = [pop() for _ in range(n)]
        bad, self._malformed = self._malformed, 0
        self._count(len(out), bad)
        return out

    def close(self) -> None:
        self._stop.set()
        recv = self._receiver
        if recv is not None:
            recv.should_stop = True
        if self._thread is not None:
            self._thread.join(3)
            self._thread = None


# ---------------------------------------------------------------------------


def make_source(app: Any, url: str | None = None, kind: str = "auto", **kwargs: Any) -> EventSource:
    """The best source for ``app``'s broker: ``kind`` is "auto", "redis", "amqp" or "kombu"."""
    url = url or str(app.conf.broker_url or "")
    if kind == "redis" or (kind == "auto" and is_redis_url(url)):
        return RedisEventSource.from_app(
            app,
            url=url,
            **{
                k: v
                for k, v in kwargs.items()
                if k
                in ("connect_timeout", "max_buffer", "ping_interval", "dead_after", "backoff_cap")
            },
        )
    from .brokers.amqp_events import AmqpEventSource, is_amqp_url, source_options

    if kind == "amqp" or (kind == "auto" and is_amqp_url(url)):
        return AmqpEventSource(app, url=url, **source_options(kwargs))
    if kind not in ("auto", "kombu"):
        raise UsageError(f"unknown event source kind {kind!r}")
    return KombuEventSource(
        app,
        url=url,
        **{
            k: v
            for k, v in kwargs.items()
            if k in ("connect_timeout", "max_pending", "backoff_cap")
        },
    )


def tune_gc() -> None:
    """GC settings for a process that turns a firehose of events into state.

    Every event is a fresh dict, so CPython's default thresholds run a young
    collection every 700 allocations and, with a large ClusterState, costly
    full collections; raising the thresholds (and freezing what was imported)
    gives 15-30% more events/s.  Call it once, in the intake process only.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
