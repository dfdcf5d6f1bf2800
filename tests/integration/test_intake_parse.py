"""Wire-format tests of the intake (no broker): RESP framing, kombu envelopes, URLs.

``new_state()`` builds the real ClusterState for the intake tests.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from console.core.brokers.redis_wire import (
    decode_envelope,
    event_patterns,
    is_redis_url,
    parse_pubsub,
    parse_redis_url,
)
from console.core.errors import UsageError


def new_state(**kwargs: Any) -> Any:
    from console.core.state import ClusterState

    return ClusterState(**kwargs)


# ---------------------------------------------------------------------------


def _envelope(body: Any, *, encoding: str = "base64", ctype: str = "application/json") -> bytes:
    raw = json.dumps(body).encode()
    return json.dumps(
        {
            "body": base64.b64encode(raw).decode() if encoding == "base64" else raw.decode(),
            "content-encoding": "utf-8",
            "content-type": ctype,
            "headers": {"hostname": "w@h"},
            "properties": {
                "delivery_mode": 1,
                "delivery_info": {"exchange": "celeryev", "routing_key": "x"},
                "priority": 0,
                "body_encoding": encoding,
                "delivery_tag": "t",
            },
        }
    ).encode()


def _pmessage(data: bytes, channel: bytes = b"/0.celeryev/task.received") -> bytes:
    pattern = b"/0.celeryev/*"
    return b"*4\r\n$8\r\npmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(pattern),
        pattern,
        len(channel),
        channel,
        len(data),
        data,
    )


EV1 = {
    "hostname": "w@h",
    "utcoffset": 0,
    "pid": 1,
    "clock": 1,
    "uuid": "u1",
    "name": "t.add",
    "args": "('[bold red]x[/] \\x1b[31m',)",
    "timestamp": 1.5,
    "type": "task-received",
}
EV2 = {"hostname": "w@h", "clock": 2, "uuid": "u1", "timestamp": 1.6, "type": "task-started"}


def test_decode_single_and_grouped_envelopes():
    out: list[dict] = []
    assert decode_envelope(_envelope(EV1), out) == 0
    assert decode_envelope(_envelope([EV1, EV2]), out) == 0  # grouped dispatcher
    assert out == [EV1, EV1, EV2]


def test_decode_slow_paths_and_malformed():
    out: list[dict] = []
    # not base64-encoded body (raw JSON string body)
    assert decode_envelope(_envelope(EV2, encoding="utf-8"), out) == 0
    assert decode_envelope(json.dumps(EV2).encode(), out) == 0  # bare event
    assert out == [EV2, EV2]
    assert decode_envelope(b"{garbage", out) == 1
    assert decode_envelope(_envelope({"no": "type"}), out) == 1
    assert decode_envelope(_envelope([EV1, 3]), out) == 1
    assert (
        decode_envelope(_envelope(EV1, ctype="application/x-python-serialize"), out) == 1
    )  # pickle refused
    assert len(out) == 3


def test_parse_pubsub_handles_frames_cut_anywhere():
    stream = (
        b"*3\r\n$10\r\npsubscribe\r\n$13\r\n/0.celeryev/*\r\n:1\r\n"
        + _pmessage(_envelope(EV1))
        + _pmessage(_envelope([EV1, EV2]))
        + b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        + b"*3\r\n$7\r\nmessage\r\n$8\r\nceleryev\r\n$%d\r\n%s\r\n"
        % (len(_envelope(EV2)), _envelope(EV2))
    )
    expected = [EV1, EV1, EV2, EV2]
    for cut in range(1, len(stream)):
        out: list[dict] = []
        used, bad = parse_pubsub(stream[:cut], out)
        rest = stream[:cut][used:] + stream[cut:]
        used2, bad2 = parse_pubsub(rest, out)
        assert used2 == len(rest) and bad == bad2 == 0
        assert out == expected, cut


def test_event_patterns_follow_kombu_options():
    assert event_patterns(0) == ["/0.celeryev/*", "/0.celeryev"]
    assert event_patterns(3, {"fanout_prefix": False}) == ["celeryev/*", "celeryev"]
    assert event_patterns(2, {"fanout_prefix": "pfx{db}:"}) == ["pfx2:celeryev/*", "pfx2:celeryev"]
    assert event_patterns(0, {"global_keyprefix": "app*1:"}, exchange="ev") == [
        "app\\*1:/0.ev/*",
        "app\\*1:/0.ev",
    ]


def test_parse_redis_urls():
    (ep,) = parse_redis_url("redis://user:p%40ss@example:6380/5")
    assert (ep.host, ep.port, ep.db, ep.username, ep.password, ep.use_ssl) == (
        "example",
        6380,
        5,
        "user",
        "p@ss",
        False,
    )
    (ep,) = parse_redis_url("rediss://:pw@h/1?ssl_cert_reqs=none")
    assert ep.use_ssl and ep.db == 1 and dict(ep.ssl_options)["ssl_cert_reqs"] == "none"
    (ep,) = parse_redis_url("redis+socket:///tmp/r.sock?virtual_host=4")
    assert ep.unix_path == "/tmp/r.sock" and ep.db == 4
    (ep,) = parse_redis_url("socket:///var/run/redis.sock")
    assert ep.unix_path == "/var/run/redis.sock" and ep.db == 0
    eps = parse_redis_url("redis://a:1/0;redis://b:2/0")
    assert [e.host for e in eps] == ["a", "b"]
    assert is_redis_url("rediss://x") and not is_redis_url("amqp://x")
    with pytest.raises(UsageError) as info:
        parse_redis_url("redis://:secret@h/notadb")
    assert "secret" not in info.value.message
