"""The one Redis wire module: what its callers used to do each in their own way."""

from __future__ import annotations

import base64
import json

import pytest

from console.core.brokers.redis_wire import (
    Incomplete,
    RespClient,
    RespError,
    decode_body,
    encode_command,
    parse_frame,
)
from console.core.connection import check_url
from console.core.errors import UsageError
from console.core.remote import parse_reply


def test_frames_round_trip_and_cut_frames_are_incomplete() -> None:
    stream = b"+OK\r\n:42\r\n$-1\r\n*1\r\n$3\r\na\r\n\r\n-ERR no\r\n" + encode_command("GET", "k")
    values = []
    pos = 0
    while pos < len(stream):
        value, pos = parse_frame(stream, pos)
        values.append(value)
    assert values[:4] == ["OK", 42, None, [b"a\r\n"]]
    assert isinstance(values[4], RespError) and str(values[4]) == "ERR no"
    assert values[5] == [b"GET", b"k"]
    for cut in range(1, len(stream) - 1):
        try:
            parse_frame(stream[:cut], 0)
        except Incomplete:
            continue
        except (ValueError, IndexError):
            pytest.fail(f"cut at {cut} is not Incomplete")


def test_envelope_body_decoding_is_kombus() -> None:
    payload = {"w@h": {"ok": float("nan")}}  # kombu's json writes NaN; orjson refuses it
    env = {
        "body": base64.b64encode(json.dumps(payload).encode()).decode(),
        "headers": {"ticket": "t"},
        "properties": {"body_encoding": "base64"},
        "content-type": "application/json",
    }
    assert decode_body(env)["w@h"]["ok"] != decode_body(env)["w@h"]["ok"]  # NaN
    assert parse_reply(json.dumps(env), "t") is not None  # orjson alone would call it malformed
    assert decode_body({**env, "content-type": "application/x-python-serialize"}) is None


def test_resp_client_reads_a_reply_bigger_than_one_recv(redis_server) -> None:
    client = RespClient(redis_server.url_for(3), 2.0)
    try:
        blob = b"x" * 3_000_000
        assert client.call("SET", "big", blob) == "OK"
        assert client.call("GET", "big") == blob
        with pytest.raises(RespError):
            client.call("NOSUCHCOMMAND")
        assert client.call("PING") == "PONG"  # the stream is still in step
    finally:
        client.close()


def test_a_bad_redis_db_is_a_usage_error_not_unreachable() -> None:
    with pytest.raises(UsageError, match="bad broker URL"):
        check_url("redis://:s3cret@127.0.0.1:1/notadb", 0.5)


def test_deep_nesting_is_malformed_without_recursing() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    env = {"body": deep, "headers": {"ticket": "t"}, "content-type": "application/json"}
    assert decode_body(env) is None
    assert parse_reply(json.dumps(env), "t") is None
