"""Kombu-on-Redis on the wire: the one RESP codec, Redis URL parser and envelope decoder.

Everything in the core that speaks to Redis without redis-py goes through
this module: the event reader (:mod:`console.core.intake`), the pidbox
broadcast (:mod:`console.core.remote`), the pre-check ``PING``
(:mod:`console.core.connection`) and the non-destructive queue scan
(:mod:`console.core.broker_scan`).  It sits with the Redis adapter because it
is that transport's format: RESP2 frames, kombu's Redis URL forms, and the
JSON envelope kombu's virtual transports wrap every message in (AMQP carries
body and properties in its own frames and never uses it).

* RESP: :func:`encode_command`, :func:`parse_frame` (any RESP2 value, cut
  frames raise :class:`Incomplete`), :func:`parse_pubsub` (a batch parser
  with an inline fast path for ``pmessage`` frames holding one event), and
  :class:`RespClient`, a blocking request/reply client on a plain socket.
* URLs: :func:`parse_redis_url` -> :class:`RedisEndpoint` (``redis://``,
  ``rediss://`` with TLS options, unix sockets, db, percent-decoded
  credentials, ``;`` failover lists) and :func:`open_socket`.
* Envelopes: :func:`decode_body` (base64 or plain body, JSON / msgpack /
  yaml, never pickle), :func:`loads_envelope` and :func:`decode_envelope`
  (an envelope of events).
"""

from __future__ import annotations

import binascii
import contextlib
import json
import socket
import ssl as _ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from ..errors import UsageError
from ..sanitize import mask_url

__all__ = [
    "REDIS_URL_SCHEMES",
    "Incomplete",
    "RedisEndpoint",
    "RespClient",
    "RespError",
    "decode_body",
    "body_to_events",
    "decode_envelope",
    "encode_command",
    "event_patterns",
    "is_redis_url",
    "loads_envelope",
    "open_socket",
    "parse_frame",
    "parse_pubsub",
    "parse_redis_url",
    "ssl_context",
]

#: every scheme kombu's Redis transport accepts (TCP, TLS, unix sockets)
REDIS_URL_SCHEMES = ("redis", "rediss", "redis+socket", "rediss+socket", "socket", "unix")
_SOCKET_SCHEMES = ("redis+socket", "rediss+socket", "socket", "unix")


# ---------------------------------------------------------------------------
# RESP2


class RespError(Exception):
    """An error reply (``-ERR ...``) from Redis.

    :func:`parse_frame` returns it as a value (a pub/sub stream goes on after
    one); :meth:`RespClient.read` raises it.
    """


class Incomplete(Exception):
    """The buffer ends inside a frame: read more and parse again."""


def encode_command(*args: str | bytes) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


PING = encode_command("PING")


def parse_frame(buf: bytes, pos: int = 0) -> tuple[Any, int]:
    """Parse one RESP2 value at ``pos``; return ``(value, next_pos)``.

    Bulk strings are bytes, simple strings str, integers int, nil None,
    error replies :class:`RespError` values.  Raises :class:`Incomplete` when
    the frame is cut, ValueError / IndexError when it is not RESP.
    """
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    kind = buf[pos]
    line = buf[pos + 1 : end]
    nxt = end + 2
    if kind == 36:  # '$'
        length = int(line)
        if length < 0:
            return None, nxt
        if nxt + length + 2 > len(buf):
            raise Incomplete
        return buf[nxt : nxt + length], nxt + length + 2
    if kind == 42:  # '*'
        count = int(line)
        if count < 0:
            return None, nxt
        items = []
        for _ in range(count):
            item, nxt = parse_frame(buf, nxt)
            items.append(item)
        return items, nxt
    if kind == 58:  # ':'
        return int(line), nxt
    if kind == 43:  # '+'
        return line.decode("utf-8", "replace"), nxt
    if kind == 45:  # '-'
        return RespError(line.decode("utf-8", "replace")), nxt
    raise ValueError(f"unexpected reply from the server: {buf[pos : pos + 40]!r}")


_PMSG = b"*4\r\n$8\r\npmessage\r\n"
_PMSG_LEN = len(_PMSG)


def parse_pubsub(
    buf: bytes, out: list[dict[str, Any]], on_other: Callable[[Any], None] | None = None
) -> tuple[int, int]:
    """Parse complete pub/sub frames in ``buf``; decode message payloads into ``out``.

    Returns ``(consumed_bytes, malformed)``.  ``pmessage`` frames are cut out
    inline and kombu's usual envelope (a base64 JSON body holding one event)
    is decoded without building the envelope dict: this loop is the reader's
    speed (docs/PERFORMANCE.md, "The hand-written Redis reader").
    """
    pos = 0
    size = len(buf)
    find = buf.find
    startswith = buf.startswith
    bad = 0
    decode = decode_envelope
    loads = orjson.loads
    a2b = binascii.a2b_base64
    append = out.append
    while pos < size:
        if startswith(_PMSG, pos):
            # pattern, channel: skip; data: decode
            p = pos + _PMSG_LEN
            e = find(b"\r\n", p)
            if e < 0:
                break
            p = e + 2 + int(buf[p + 1 : e]) + 2
            e = find(b"\r\n", p)
            if e < 0:
                break
            p = e + 2 + int(buf[p + 1 : e]) + 2
            e = find(b"\r\n", p)
            if e < 0:
                break
            start = e + 2
            end = start + int(buf[p + 1 : e])
            if end + 2 > size:
                break
            pos = end + 2
            # fast path: kombu's JSON envelope with a base64 JSON body holding one event
            if startswith(_BODY_START, start):
                q = find(b'"', start + 10, end)
                if q > 0 and find(_B64_MARK, q, end) > 0 and find(_JSON_MARK, q, end) > 0:
                    try:
                        body = loads(a2b(buf[start + 10 : q]))
                    except (ValueError, binascii.Error):
                        bad += 1
                        continue
                    if type(body) is dict and type(body.get("type")) is str:
                        append(body)
                    else:
                        bad += body_to_events(body, out)
                    continue
            bad += decode(buf[start:end], out)
            continue
        try:
            frame, nxt = parse_frame(buf, pos)
        except Incomplete:
            break
        except (ValueError, IndexError):
            # cannot resynchronise inside a RESP stream: drop the rest
            return size, bad + 1
        pos = nxt
        if isinstance(frame, list) and len(frame) == 3 and frame[0] == b"message":
            bad += decode(frame[2], out)
        elif on_other is not None:
            on_other(frame)
    return pos, bad


# ---------------------------------------------------------------------------
# Redis URLs


@dataclass(frozen=True)
class RedisEndpoint:
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    unix_path: str | None = None
    use_ssl: bool = False
    ssl_options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        where = f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"
        return f"redis {where} db {self.db}"


def is_redis_url(url: str | None) -> bool:
    """True when the first node of ``url`` is one of kombu's Redis URL forms."""
    if not url:
        return False
    scheme = url.split(";", 1)[0].split("://", 1)[0].strip().lower()
    return scheme in REDIS_URL_SCHEMES


def parse_redis_url(
    url: str, ssl_options: Mapping[str, Any] | bool | None = None
) -> list[RedisEndpoint]:
    """Parse a (possibly ``;``-separated failover) Redis broker URL like kombu does.

    ``redis://[user:pass@]host[:port][/db]``, ``rediss://`` (TLS),
    ``redis+socket:///path/to/sock?virtual_host=1`` / ``socket://`` / ``unix://``.
    Credentials are percent-decoded (``:Zq9%40pw@`` is ``Zq9@pw``), as kombu
    and redis-py do.  A malformed node (bad port, db not a number, not a Redis
    scheme) raises :class:`UsageError` with the password masked.
    """
    endpoints = []
    for part in url.split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            sp = urlsplit(part)
            scheme = sp.scheme.lower()
            query = dict(parse_qsl(sp.query))
            user = unquote(sp.username) if sp.username else None
            password = unquote(sp.password) if sp.password is not None else None
            opts: dict[str, Any] = {}
            if isinstance(ssl_options, Mapping):
                opts.update(ssl_options)
            for key in ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
                if key in query:
                    opts[key] = query.pop(key)
            use_ssl = scheme.startswith("rediss") or bool(ssl_options)
            if scheme in _SOCKET_SCHEMES:
                path = unquote(sp.path) or "/"
                vhost = query.get("virtual_host") or query.get("db") or "0"
                endpoints.append(
                    RedisEndpoint(
                        db=_db(vhost),
                        username=user or None,
                        password=password,
                        unix_path=path,
                        use_ssl=False,
                    )
                )
                continue
            if scheme not in ("redis", "rediss"):
                raise UsageError(f"not a Redis URL: {mask_url(part)}")
            vhost = sp.path.lstrip("/") or query.get("db") or query.get("virtual_host") or "0"
            endpoints.append(
                RedisEndpoint(
                    host=sp.hostname or "127.0.0.1",
                    port=sp.port or 6379,
                    db=_db(vhost),
                    username=user or None,
                    password=password,
                    use_ssl=use_ssl,
                    ssl_options=tuple(sorted(opts.items())),
                )
            )
        except ValueError as exc:
            raise UsageError(f"bad broker URL {mask_url(part)}: {exc}") from None
    if not endpoints:
        raise UsageError("empty broker URL")
    return endpoints


def _db(vhost: str) -> int:
    vhost = str(vhost).strip("/") or "0"
    return int(vhost)


_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def event_patterns(
    db: int, transport_options: Mapping[str, Any] | None = None, exchange: str = "celeryev"
) -> list[str]:
    """The PSUBSCRIBE patterns on which kombu publishes ``exchange`` messages.

    Mirrors kombu's Redis channel: topic = global_keyprefix + keyprefix_fanout
    + exchange [+ '/' + routing_key]; keyprefix_fanout is ``/{db}.`` by default,
    a custom string when ``fanout_prefix`` is a string, empty when it is false.
    Both the pattern (``fanout_patterns=True``) and the plain topic are
    subscribed so publishers with either setting are heard.
    """
    opts = dict(transport_options or {})
    fanout_prefix = opts.get("fanout_prefix", True)
    if fanout_prefix:
        prefix = fanout_prefix if isinstance(fanout_prefix, str) else "/{db}."
    else:
        prefix = ""
    prefix = prefix.format(db=db)
    topic = (str(opts.get("global_keyprefix") or "") + prefix + exchange).translate(_GLOB_SPECIAL)
    return [topic + "/*", topic]


_CERT_REQS = {
    "none": _ssl.CERT_NONE,
    "cert_none": _ssl.CERT_NONE,
    "optional": _ssl.CERT_OPTIONAL,
    "cert_optional": _ssl.CERT_OPTIONAL,
    "required": _ssl.CERT_REQUIRED,
    "cert_required": _ssl.CERT_REQUIRED,
}


def ssl_context(opts: Mapping[str, Any]) -> _ssl.SSLContext:
    """A client TLS context from kombu's ``ssl_*`` options (``broker_use_ssl`` / URL query)."""
    ctx = _ssl.create_default_context(cafile=opts.get("ssl_ca_certs") or None)
    reqs = opts.get("ssl_cert_reqs", _ssl.CERT_REQUIRED)
    if isinstance(reqs, str):
        reqs = _CERT_REQS.get(reqs.lower(), _ssl.CERT_REQUIRED)
    if reqs == _ssl.CERT_NONE:
        ctx.check_hostname = False
    ctx.verify_mode = reqs
    if opts.get("ssl_certfile"):
        ctx.load_cert_chain(opts["ssl_certfile"], opts.get("ssl_keyfile") or None)
    return ctx


def open_socket(ep: RedisEndpoint, timeout: float, rcvbuf: int | None = None) -> socket.socket:
    """A connected socket to ``ep`` (TCP or unix, TLS when asked), before any command."""
    if ep.unix_path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(ep.unix_path)
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection((ep.host, ep.port), timeout=timeout)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if rcvbuf:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if ep.use_ssl:
        try:
            ctx = ssl_context(dict(ep.ssl_options))
            sock = ctx.wrap_socket(sock, server_hostname=ep.host if ctx.check_hostname else None)
        except BaseException:
            sock.close()
            raise
    return sock


def auth_command(ep: RedisEndpoint) -> bytes | None:
    """The ``AUTH`` command for ``ep``'s credentials (None without a password)."""
    if ep.password is None:
        return None
    if ep.username:
        return encode_command("AUTH", ep.username, ep.password)
    return encode_command("AUTH", ep.password)


class RespClient:
    """A minimal blocking Redis (RESP2) client on a plain socket.

    Used for the hot paths of the CLI (pre-check PING, the pidbox broadcast)
    so that ``ctl status`` / ``ctl inspect`` need not import redis-py, kombu or
    Celery.  :meth:`supports` says which URLs it takes: plain ``redis://``
    without query options or a failover list (TLS options from the app's
    ``broker_use_ssl`` are not known here; kombu handles those).
    """

    def __init__(self, url: str, timeout: float, read_timeout: float | None = None) -> None:
        ep = parse_redis_url(url)[0]
        self.host = ep.host
        self.port = ep.port
        self.db = ep.db
        self.username = ep.username
        self.password = ep.password
        self.sock = open_socket(ep, timeout)
        self.sock.settimeout(max(timeout, 5.0) if read_timeout is None else read_timeout)
        self.buf = b""
        try:
            auth = auth_command(ep)
            if auth is not None:
                self.sock.sendall(auth)
                self.read()
            if self.db:
                self.call("SELECT", str(self.db))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def supports(url: str) -> bool:
        return url.startswith("redis://") and ";" not in url and "?" not in url

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *args: str | bytes) -> None:
        self.sock.sendall(encode_command(*args))

    def read(self) -> Any:
        """The next reply; an error reply raises :class:`RespError`."""
        want = 65536
        while True:
            if self.buf:
                try:
                    value, nxt = parse_frame(self.buf, 0)
                except Incomplete:
                    pass
                except (ValueError, IndexError):
                    raise ConnectionError(
                        f"unexpected reply from the server: {self.buf[:40]!r}"
                    ) from None
                else:
                    self.buf = self.buf[nxt:]
                    if isinstance(value, RespError):
                        raise value
                    return value
                want = max(want, len(self.buf))  # doubling: a big reply is parsed O(log n) times
            chunk = self.sock.recv(want)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buf += chunk

    def call(self, *args: str | bytes) -> Any:
        self.send(*args)
        return self.read()


# ---------------------------------------------------------------------------
# kombu's message envelope (virtual transports: ``{"body", "headers", "properties", ...}``)

_BODY_START = b'{"body": "'
_B64_MARK = b'"body_encoding": "base64"'
_JSON_MARK = b'"content-type": "application/json"'
_ACCEPT = {"application/json", "application/x-msgpack", "application/x-yaml"}


def _json_loads(data: bytes | str) -> Any:
    """orjson, falling back to the json module for what Python's json writes
    and orjson refuses (``NaN``, ``Infinity``): kombu serializes with json."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit"):
            raise  # a forged deep nesting: json would only recurse further
        return json.loads(data)


def loads_envelope(raw: bytes | str) -> Any:
    """The envelope (or any JSON document) in ``raw``; ValueError when it is not JSON."""
    return _json_loads(raw)


def decode_body(env: Mapping[str, Any]) -> Any:
    """The decoded body of one kombu envelope; None when it cannot be decoded.

    ``properties.body_encoding == "base64"`` is undone as kombu does (not
    validating); ``application/json`` bodies are parsed here, msgpack / yaml
    through kombu's registry; any other content type (pickle) is refused.
    """
    body = env.get("body")
    props = env.get("properties") or {}
    ctype = env.get("content-type") or "application/json"
    try:
        if (
            isinstance(props, dict)
            and props.get("body_encoding") == "base64"
            and isinstance(body, str)
        ):
            raw: bytes | str = binascii.a2b_base64(body)
        elif isinstance(body, (dict, list)):
            return body
        else:
            raw = body if isinstance(body, (bytes, str)) else b""
        if ctype == "application/json":
            return _json_loads(raw)
        if ctype not in _ACCEPT:
            return None
        from kombu.serialization import loads  # msgpack / yaml only, never pickle

        return loads(raw, ctype, env.get("content-encoding") or "utf-8", accept=_ACCEPT)
    except Exception:
        return None


def body_to_events(body: Any, out: list[dict[str, Any]]) -> int:
    """Append event dicts from a decoded body (dict or list); return malformed count."""
    if isinstance(body, dict):
        if isinstance(body.get("type"), str):
            out.append(body)
            return 0
        return 1
    if isinstance(body, list):
        bad = 0
        for item in body:
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                out.append(item)
            else:
                bad += 1
        return bad
    return 1


def decode_envelope(data: bytes, out: list[dict[str, Any]]) -> int:
    """Decode one kombu message of events (as published on Redis pub/sub) into ``out``.

    Returns the number of malformed items skipped (0 when all went well).
    Fast path: ``{"body": "<base64>", ... "content-type": "application/json",
    ... "body_encoding": "base64" ...}`` as kombu writes it.
    """
    if data.startswith(_BODY_START):
        end = data.find(b'"', 10)
        if end > 0:
            tail = data[end:]
            if _B64_MARK in tail and _JSON_MARK in tail:
                try:
                    return body_to_events(orjson.loads(binascii.a2b_base64(data[10:end])), out)
                except (ValueError, binascii.Error):
                    return 1
    try:
        env = _json_loads(data)
    except ValueError:
        return 1
    if not isinstance(env, dict) or "body" not in env:
        # a bare event (not a kombu envelope): accept it as is
        return body_to_events(env, out)
    return body_to_events(decode_body(env), out)
