"""AmqpEventSource's frame parser on byte streams cut at every position (no broker needed).

The frames are the ones RabbitMQ sends (AMQP 0-9-1): ``basic.deliver``, the
content header (content type first), body frames (a body larger than the
frame size comes in several), heartbeats, ``queue.purge-ok`` for the drop
count, ``channel.close``.
"""

from __future__ import annotations

import struct

import orjson
from celery import Celery

from console.core.brokers.amqp_events import AmqpEventSource, _ack_frame


def frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def shortstr(s: str) -> bytes:
    return bytes([len(s)]) + s.encode()


def delivery(tag: int, body: bytes, ctype: str = "application/json", max_body: int = 0) -> bytes:
    method = struct.pack(">HH", 60, 60) + shortstr("ctl") + struct.pack(">Q", tag) + b"\x00"
    method += shortstr("celeryev") + shortstr("task.succeeded")
    flags = 0x8000 | 0x4000 | 0x1000
    props = shortstr(ctype) + shortstr("utf-8") + b"\x01"
    header = struct.pack(">HHQH", 60, 0, len(body), flags) + props
    out = frame(1, 1, method) + frame(2, 1, header)
    step = max_body or len(body)
    for i in range(0, len(body), step):
        out += frame(3, 1, body[i : i + step])
    return out


def purge_ok(count: int) -> bytes:
    return frame(1, 2, struct.pack(">HHI", 50, 31, count))


HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"


def source(no_ack: bool = True) -> AmqpEventSource:
    app = Celery("t", broker="amqp://127.0.0.1:1//", set_as_current=False)
    return AmqpEventSource(app, no_ack=no_ack)


def feed(src: AmqpEventSource, chunks: list[bytes]) -> list[dict]:
    src._chunks.append(None)
    src._gen += 1
    out: list[dict] = []
    for chunk in chunks:
        src._chunks.append(chunk)
        out.extend(src.read_batch(0))
    return out


EVENTS = [{"type": "task-succeeded", "uuid": f"u{i}", "result": "x" * (i * 7)} for i in range(6)]


def stream() -> bytes:
    data = b""
    for i, ev in enumerate(EVENTS, 1):
        data += delivery(i, orjson.dumps(ev), max_body=16 if i % 2 else 0)
        if i == 3:
            data += HEARTBEAT + purge_ok(0)
    # a grouped body (a list of events, as buffered worker dispatchers send)
    data += delivery(7, orjson.dumps([{"type": "task-received", "uuid": "g1"}, {"type": "x"}]))
    return data + purge_ok(42)


def test_every_cut_position_gives_the_same_events() -> None:
    data = stream()
    want = [*EVENTS, {"type": "task-received", "uuid": "g1"}, {"type": "x"}]
    for cut in range(1, len(data)):
        src = source(no_ack=bool(cut % 2))
        got = feed(src, [data[:cut], data[cut:]])
        assert got == want, cut
        assert src.status.dropped == 42 and src.status.gaps == 1
        if src.no_ack:
            assert not src._writes
        else:  # the last frame sent is a multiple ack of the last complete delivery
            assert src._writes[-1][1] == _ack_frame(1, 7)


def test_byte_by_byte() -> None:
    data = stream()
    src = source()
    got = feed(src, [data[i : i + 1] for i in range(len(data))])
    assert len(got) == len(EVENTS) + 2
    assert src.status.malformed == 0


def test_bad_bodies_are_counted_not_fatal() -> None:
    src = source()
    data = delivery(1, b"{not json") + delivery(2, b"[1, 2]") + delivery(3, orjson.dumps(EVENTS[0]))
    assert feed(src, [data]) == [EVENTS[0]]
    assert src.status.malformed == 3


def test_channel_close_drops_the_connection() -> None:
    src = source()
    close = struct.pack(">HHH", 20, 40, 406) + shortstr("PRECONDITION_FAILED - unknown tag")
    close += struct.pack(">HH", 60, 80)
    feed(src, [frame(1, 1, close)])
    assert src._lost is not None and "406" in src._lost
