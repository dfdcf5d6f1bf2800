"""The console's event intake on AMQP (RabbitMQ): no silent loss, heartbeats, speed.

Celery's ``EventReceiver`` declares ``celeryev.<uuid>`` with a 5 s message
TTL, so a consumer that falls behind loses events without a word.  This
source declares its own queues instead (one pair per connection, new names
after every reconnect):

* ``ctl.console.<id>`` -- bound to the event exchange (``celeryev``, topic,
  ``#``), exclusive and auto-delete (gone when the connection closes), **no
  message TTL**, capped at ``max_queued`` messages (``x-max-length``, head
  dropped first).  Dropped (and, with the optional ``message_ttl``, expired)
  messages are dead-lettered to:
* ``ctl.console.<id>.dropped`` -- exclusive too; purged every
  ``count_interval`` seconds, and each ``queue.purge-ok`` says how many
  messages were dropped since the last purge.  Drops are counted in
  ``SourceStatus.dropped`` and as a gap (``status.gaps``, ``take_gap``).

The connection (handshake, TLS, failover lists, credentials) is made by
kombu/py-amqp exactly as Celery makes it, with AMQP heartbeats on
(``heartbeat`` seconds, 2 by default): a broker that sends nothing for two
intervals is dead, so a frozen broker shows as disconnected within ~4 s.

After ``basic.consume`` the socket is read by a reader thread in large
chunks and the frames are parsed here (``Basic.Deliver`` + content header +
body), each JSON body decoded with orjson: py-amqp's per-frame Python path
and kombu's ``Message`` objects are what limit the stock receiver.

What is in flight stays bounded.  By default deliveries are no-ack (like
Celery's receiver: ~1.7x the broker's delivery rate of acked ones on this
machine) and the reader stops reading once ``max_buffer`` bytes wait for
``read_batch``; RabbitMQ then holds at most a few hundred unsent deliveries
for the channel (``UNSENT_MESSAGE_LIMIT``) and keeps the rest in the capped
queue, where a drop is counted (tried: 25 s without reading while 60,000
events arrived: all read afterwards, no disconnect; heartbeats keep going
out while the reader waits).  Should the broker drop the connection anyway,
the source reconnects and counts a gap.  ``no_ack=False`` uses manual acks
instead (``prefetch`` unacked, one ``multiple`` ack per batch): slower, but
the broker never waits on our socket.
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import struct
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import orjson

from ..errors import BrokerUnreachable
from ..intake import SourceStatus, _backoff, _exc_text, _StatusMixin
from ..sanitize import mask_url, scrub_secrets
from .redis_wire import body_to_events  # the events-in-a-body rule, shared with Redis
from .urls import AMQP_SCHEMES, scheme_of

__all__ = ["PYAMQP_SCHEMES", "AmqpEventSource", "is_amqp_url", "source_options"]

#: the schemes py-amqp serves (librabbitmq is a C client whose socket this source cannot read)
PYAMQP_SCHEMES = AMQP_SCHEMES - {"librabbitmq"}
#: keyword arguments of :class:`AmqpEventSource` that callers may pass through
SOURCE_OPTIONS = (
    "connect_timeout",
    "heartbeat",
    "prefetch",
    "max_queued",
    "message_ttl",
    "backoff_cap",
    "no_ack",
    "max_buffer",
    "wakeup",
)

_FRAME_END = 0xCE
_HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"
_HDR = struct.Struct(">BHI")  # type, channel, size
_HH = struct.Struct(">HH")
_Q = struct.Struct(">Q")
_I = struct.Struct(">I")
_DATA_CH = 1  # deliveries (the channel kombu opens first)
_JSON = b"application/json"


def is_amqp_url(url: str | None) -> bool:
    """True for the URLs this source reads (``amqp://``, ``amqps://``, ``pyamqp://``)."""
    return scheme_of(url or "") in PYAMQP_SCHEMES


def source_options(options: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` this source takes (others belong to other sources)."""
    return {k: v for k, v in options.items() if k in SOURCE_OPTIONS}


def _method_frame(channel: int, class_id: int, method_id: int, args: bytes) -> bytes:
    payload = _HH.pack(class_id, method_id) + args
    return _HDR.pack(1, channel, len(payload)) + payload + b"\xce"


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    return bytes([len(raw)]) + raw


def _ack_frame(channel: int, tag: int) -> bytes:
    return _method_frame(channel, 60, 80, _Q.pack(tag) + b"\x01")  # multiple


def _purge_frame(channel: int, queue: str) -> bytes:
    return _method_frame(channel, 50, 30, b"\x00\x00" + _shortstr(queue) + b"\x00")


class _ConnectionLost(Exception):
    pass


class AmqpEventSource(_StatusMixin):
    """Celery events from an AMQP broker into batches of raw event dicts."""

    def __init__(
        self,
        app: Any,
        *,
        url: str | None = None,
        connect_timeout: float = 2.0,
        heartbeat: float = 2.0,
        prefetch: int = 20_000,
        max_queued: int = 200_000,
        message_ttl: float | None = None,
        count_interval: float = 0.5,
        backoff_cap: float = 2.0,
        chunk_size: int = 1 << 18,
        no_ack: bool = True,
        max_buffer: int = 8 << 20,
        wakeup: bool = True,
    ) -> None:
        self.app = app
        self.url = url or str(app.conf.broker_url or "")
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self.prefetch = prefetch
        self.max_queued = max_queued
        self.message_ttl = message_ttl
        self.count_interval = count_interval
        self.backoff_cap = backoff_cap
        self.chunk_size = chunk_size
        self.no_ack = no_ack
        self.wakeup = wakeup  # ask workers for a heartbeat on connect (Celery's receiver does)
        self.max_buffer = max_buffer
        self._buffered = 0  # bytes received and not yet taken by read_batch
        self._paused = False  # the reader stopped reading: the buffer is full
        self.exchange = str(app.conf.event_exchange or "celeryev")
        self.masked_url = mask_url(self.url)
        self._init_status(lambda m: scrub_secrets(m, self.url))
        self._cond = threading.Condition()
        self._chunks: collections.deque[bytes | None] = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kombu: Any = None
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._writes: list[tuple[int, bytes]] = []  # (connection generation, frame)
        self._gen = 0  # connections made (the reader's side)
        self._parse_gen = 0  # connections whose stream the parser has reached
        self._count_ch = 2
        self.heartbeat_interval = heartbeat
        self._write_lock = threading.Lock()
        self._purge_pending = False
        self._dropping = False  # the last purge found drops (same episode)
        self._lost: str | None = None  # set by the parser: the connection must be dropped
        #: names of the queues of the current connection (tests look for leftovers)
        self.queue_name = ""
        self.dead_letter_queue = ""
        self._reset_parser()

    # -- status -------------------------------------------------------------
    @property
    def status(self) -> SourceStatus:
        return self._status

    # -- connection ---------------------------------------------------------
    def _connect(self) -> tuple[Any, socket.socket, bytes]:
        """Connect, declare, consume; returns (kombu connection, raw socket, bytes read)."""
        conn = self.app.connection_for_read(self.url, heartbeat=self.heartbeat)
        conn.connect_timeout = self.connect_timeout
        try:
            hosts = max(1, len(getattr(conn, "alt", None) or ()))  # a failover list: each once
            conn.ensure_connection(
                max_retries=max(1, hosts - 1),
                interval_start=0,
                interval_step=0,
                interval_max=0,
                timeout=self.connect_timeout * hosts,
            )
            raw = conn.connection  # amqp.Connection (py-amqp)
            data = raw.channel(_DATA_CH)
            count = raw.channel()
            self._count_ch = count.channel_id
            ident = uuid.uuid4().hex[:12]
            name = f"ctl.console.{ident}"
            dlq = f"{name}.dropped"
            count.queue_declare(
                dlq,
                exclusive=True,
                auto_delete=True,
                arguments={"x-max-length": 10_000_000},
            )
            args: dict[str, Any] = {
                "x-max-length": int(self.max_queued),
                "x-overflow": "drop-head",
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": dlq,
            }
            if self.message_ttl is not None:
                args["x-message-ttl"] = int(self.message_ttl * 1000)
            data.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
            data.queue_declare(name, exclusive=True, auto_delete=True, arguments=args)
            data.queue_bind(name, self.exchange, "#")
            data.basic_qos(0, int(self.prefetch), False)
            early: list[bytes] = []
            data.basic_consume(name, consumer_tag="ctl", no_ack=self.no_ack, callback=early.append)
            if early:  # py-amqp read a delivery already: never, but do not lose it
                raise _ConnectionLost("deliveries before consume-ok")
            transport = raw.transport
            sock = transport.sock
            initial = bytes(getattr(transport, "_read_buffer", b"") or b"")
            self.queue_name, self.dead_letter_queue = name, dlq
            self.heartbeat_interval = float(raw.heartbeat or 0)  # 0: the broker refused them
            return conn, sock, initial
        except BaseException:
            with contextlib.suppress(Exception):
                conn.release()
            raise

    def describe(self) -> str:
        return f"{self.masked_url} (queue {self.queue_name})"

    def start(self, require_connection: bool = False) -> None:
        """Start the reader thread (``require_connection``: connect here, or raise
        :class:`BrokerUnreachable` with one masked line)."""
        if self._thread is not None:
            return
        self._stop.clear()
        first = None
        if require_connection:
            try:
                first = self._connect()
            except Exception as exc:
                raise BrokerUnreachable(
                    f"broker unreachable: {self.masked_url}: {self._scrub(_exc_text(exc))}"
                ) from None
        self._thread = threading.Thread(
            target=self._run, args=(first,), name="amqp-event-reader", daemon=True
        )
        self._thread.start()

    def _run(self, first: tuple[Any, socket.socket, bytes] | None) -> None:
        attempt = 0
        current = first
        while not self._stop.is_set():
            if current is None:
                if attempt == 0:
                    self._set_status(mode="reconnecting", connected=False)
                try:
                    current = self._connect()
                except Exception as exc:
                    delay = _backoff(attempt, cap=self.backoff_cap)
                    attempt += 1
                    self._set_status(
                        mode="disconnected",
                        connected=False,
                        message=f"broker unreachable: {self.masked_url}: {_exc_text(exc)}; "
                        f"retrying in {delay:.1f}s",
                    )
                    self._stop.wait(delay)
                    continue
            attempt = 0
            conn, sock, initial = current
            current = None
            self._kombu, self._sock = conn, sock
            with self._cond:  # a new connection: the parser starts from a clean stream
                self._gen += 1
                self._chunks.append(None)
                if initial:
                    self._chunks.append(initial)
                self._cond.notify()
            with self._write_lock:
                self._writes.clear()
            self._purge_pending = self._dropping = False
            self._lost = None
            self._on_connected(self.describe())
            if self.wakeup:
                threading.Thread(target=self._wake_workers, name="amqp-wakeup", daemon=True).start()
            reason = self._pump(sock)
            self._drop(conn, sock, clean=self._stop.is_set())
            if self._stop.is_set():
                break
            self._set_status(
                mode="disconnected", connected=False, message=f"connection lost: {reason}"
            )
        self._set_status(mode="stopped", connected=False)

    def _wake_workers(self) -> None:
        """Ask the workers for a heartbeat now, as Celery's receiver does once it consumes
        (``heartbeat`` broadcast, on a connection of its own: this one's socket is ours)."""
        with contextlib.suppress(Exception):
            with self.app.connection_for_write(self.url) as conn:
                conn.connect_timeout = self.connect_timeout
                self.app.control.broadcast("heartbeat", connection=conn)

    def _drop(self, conn: Any, sock: socket.socket, clean: bool) -> None:
        self._sock = None
        self._kombu = None
        if clean:
            # a clean close: RabbitMQ deletes the exclusive queues at once
            with contextlib.suppress(Exception):
                sock.settimeout(1.0)
                conn.connection.close()
        with contextlib.suppress(OSError):
            sock.close()
        with contextlib.suppress(Exception):
            conn.collect()

    def _pump(self, sock: socket.socket) -> str:
        """Socket -> chunks; pending writes, heartbeats and drop counting out."""
        hb = self.heartbeat_interval
        # two silent intervals: dead (AMQP 0-9-1 4.2.7); without heartbeats only TCP tells
        dead_after = 2.0 * hb if hb > 0 else float("inf")
        send_every = hb / 2.0 if hb > 0 else 30.0
        sock.settimeout(max(1.0, hb))
        last_rx = last_tx = last_count = time.monotonic()
        wake = self._wake_r
        pending = getattr(sock, "pending", None)
        while not self._stop.is_set():
            if self._lost is not None:
                return self._lost
            now = time.monotonic()
            if pending is not None and pending():
                ready = [sock]
            else:
                timeout = max(0.0, min(send_every - (now - last_tx), 0.25))
                full = self._paused = self._buffered > self.max_buffer
                if full:  # we are the slow side: the broker keeps the rest (capped, counted)
                    last_rx = now
                try:
                    ready, _, _ = select.select([wake] if full else [sock, wake], [], [], timeout)
                except (OSError, ValueError) as exc:
                    return _exc_text(exc)
            if wake in ready:
                with contextlib.suppress(OSError):
                    while wake.recv(4096):
                        pass
            now = time.monotonic()
            out: list[bytes] = []
            if sock in ready:
                try:
                    data = sock.recv(self.chunk_size)
                except TimeoutError:
                    data = None
                except OSError as exc:
                    return _exc_text(exc)
                if data is not None:
                    if not data:
                        return "closed by the broker"
                    last_rx = now
                    with self._cond:
                        self._chunks.append(data)
                        self._buffered += len(data)
                        self._cond.notify()
            if now - last_rx >= dead_after:
                return f"no heartbeat from the broker for {now - last_rx:.1f} s"
            with self._write_lock:
                if self._writes:
                    gen = self._gen
                    out = [frame for g, frame in self._writes if g == gen and frame]
                    self._writes = []
            if not self._purge_pending and now - last_count >= self.count_interval:
                out.append(_purge_frame(self._count_ch, self.dead_letter_queue))
                self._purge_pending = True
                last_count = now
            if not out and hb > 0 and now - last_tx >= send_every:
                out.append(_HEARTBEAT)
            if out:
                try:
                    sock.sendall(b"".join(out))
                except OSError as exc:
                    return _exc_text(exc)
                last_tx = now
        return "stopped"

    def _send(self, frame: bytes) -> None:
        with self._write_lock:
            self._writes.append((self._parse_gen, frame))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # -- parsing ------------------------------------------------------------
    def _reset_parser(self) -> None:
        self._rest = b""
        self._tag = 0  # delivery tag of the message being assembled
        self._want = -1  # body bytes still expected (-1: no content header yet)
        self._ctype = b""
        self._cenc = b""
        self._body: list[bytes] = []
        self._in_message = False

    def read_batch(
        self, timeout: float = 0.1, max_events: int = 20_000, max_bytes: int = 4 << 20
    ) -> list[dict[str, Any]]:
        """Events received since the last call (waits up to ``timeout`` for the first)."""
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
        if self._paused and self._buffered <= self.max_buffer:
            with contextlib.suppress(OSError):  # the reader may read again
                self._wake_w.send(b"x")
        if not items:
            return []
        out: list[dict[str, Any]] = []
        bad = 0
        last_tag = 0
        parts: list[bytes] = [self._rest] if self._rest else []
        for item in items:
            if item is None:  # a new connection: earlier delivery tags mean nothing now
                if parts:
                    b, _ = self._parse(b"".join(parts), out)
                    bad += b
                self._reset_parser()
                self._parse_gen += 1
                last_tag = 0
                parts = []
            else:
                parts.append(item)
        if parts:
            b, last_tag = self._parse(parts[0] if len(parts) == 1 else b"".join(parts), out)
            bad += b
        if last_tag and not self.no_ack:
            self._send(_ack_frame(_DATA_CH, last_tag))
        self._count(len(out), bad)
        return out

    def _parse(self, buf: bytes, out: list[dict[str, Any]]) -> tuple[int, int]:
        """Parse complete frames of ``buf``; returns (malformed, last complete delivery tag)."""
        pos = 0
        size = len(buf)
        bad = 0
        last_tag = 0
        unpack_hdr = _HDR.unpack_from
        unpack_q = _Q.unpack_from
        unpack_hh = _HH.unpack_from
        loads = orjson.loads
        append = out.append
        view = memoryview(buf)
        while pos + 8 <= size:
            ftype, channel, fsize = unpack_hdr(buf, pos)
            start = pos + 7
            end = start + fsize
            if end >= size:
                break
            if buf[end] != _FRAME_END:
                self._lose("AMQP stream out of sync (bad frame end)")
                return bad + 1, last_tag
            pos = end + 1
            if ftype == 3:  # body
                if not self._in_message:
                    continue
                self._want -= fsize
                if self._want > 0 or self._body:
                    self._body.append(buf[start:end])
                    if self._want > 0:
                        continue
                    body: Any = b"".join(self._body)
                    self._body = []
                else:
                    body = view[start:end]
                self._in_message = False
                last_tag = self._tag
                if self._ctype == _JSON:
                    try:
                        event = loads(body)
                    except ValueError:
                        bad += 1
                        continue
                    if type(event) is dict and type(event.get("type")) is str:
                        append(event)
                    else:
                        bad += body_to_events(event, out)
                else:
                    bad += body_to_events(self._decode_other(bytes(body)), out)
                continue
            if ftype == 2:  # content header
                if not self._in_message:
                    continue
                (self._want,) = unpack_q(buf, start + 4)
                flags = buf[start + 12] << 8 | buf[start + 13]
                p = start + 14
                self._ctype = self._cenc = b""
                if flags & 0x8000:
                    n = buf[p]
                    self._ctype = buf[p + 1 : p + 1 + n]
                    p += 1 + n
                if flags & 0x4000:
                    n = buf[p]
                    self._cenc = buf[p + 1 : p + 1 + n]
                if self._want == 0:  # an empty body: nothing to decode
                    self._in_message = False
                    last_tag = self._tag
                    bad += 1
                continue
            if ftype == 1:
                cls, meth = unpack_hh(buf, start)
                if cls == 60 and meth == 60 and channel == _DATA_CH:  # basic.deliver
                    p = start + 4
                    p += 1 + buf[p]  # consumer tag
                    (self._tag,) = unpack_q(buf, p)
                    self._in_message = True
                    self._want = -1
                    self._body = []
                    continue
                self._on_method(channel, cls, meth, buf, start + 4, end)
                continue
            # 8: heartbeat (liveness is tracked by the reader thread)
        self._rest = buf[pos:] if pos < size else b""
        return bad, last_tag

    def _decode_other(self, raw: bytes) -> Any:
        ctype = self._ctype.decode("latin-1")
        try:
            if ctype in ("", "application/json"):
                return orjson.loads(raw)
            from kombu.serialization import loads

            return loads(
                raw,
                ctype,
                self._cenc.decode("latin-1") or "utf-8",
                accept={"application/json", "application/x-msgpack", "application/x-yaml"},
            )
        except Exception:
            return None

    def _on_method(self, channel: int, cls: int, meth: int, buf: bytes, p: int, end: int) -> None:
        if cls == 50 and meth == 31:  # queue.purge-ok: messages dropped since the last purge
            (dropped,) = _I.unpack_from(buf, p)
            self._purge_pending = False
            if dropped:
                self._on_dropped(int(dropped))
            self._dropping = bool(dropped)
            return
        if (cls, meth) in ((10, 50), (20, 40)):  # connection.close / channel.close
            code, n = struct.unpack_from(">HB", buf, p)
            text = bytes(buf[p + 3 : p + 3 + n]).decode("utf-8", "replace")
            what = "connection" if cls == 10 else f"channel {channel}"
            self._lose(f"broker closed the {what}: {code} {text}")
            return
        if cls == 60 and meth == 30:  # basic.cancel from the broker (queue deleted)
            self._lose("the broker cancelled the consumer (event queue deleted)")
            return
        # basic.qos-ok, consume-ok, ack-less replies: nothing to do

    def _lose(self, reason: str) -> None:
        """Ask the reader thread to drop the connection (only the one being parsed)."""
        if self._parse_gen == self._gen:
            self._lost = reason
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def _on_dropped(self, n: int) -> None:
        with self._status_lock:
            st = self._status
            total = st.dropped + n
            self._gap_pending = True  # the caller resyncs
            gaps = st.gaps if self._dropping else st.gaps + 1  # one gap per episode
            self._status = replace(
                st,
                message=self._scrub(
                    f"{total} event messages dropped by the broker: the console fell behind "
                    f"(queue capped at {self.max_queued} messages)"
                ),
                gaps=gaps,
                dropped=total,
            )

    # -- stopping -----------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._cond:
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()
        for s in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                s.close()
