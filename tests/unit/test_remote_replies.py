"""Malformed remote-control replies are recognised (then counted and skipped)."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from console.core.remote import _OTHER_TICKET, parse_reply


def envelope(body: object, ticket: str = "t1", b64: bool = True) -> bytes:
    raw = json.dumps(body).encode()
    return json.dumps(
        {
            "body": base64.b64encode(raw).decode() if b64 else raw.decode(),
            "headers": {"ticket": ticket},
            "properties": {"body_encoding": "base64"} if b64 else {},
        }
    ).encode()


def test_good_reply_decodes():
    assert parse_reply(envelope({"w1@h": {"ok": "pong"}}), "t1") == {"w1@h": {"ok": "pong"}}
    assert parse_reply(envelope({"w1@h": 1}, b64=False), "t1") == {"w1@h": 1}


def test_other_ticket_is_not_malformed():
    assert parse_reply(envelope({"w1@h": 1}, ticket="other"), "t1") is _OTHER_TICKET


def test_malformed_replies_are_none():
    assert parse_reply(b"not json", "t1") is None
    assert parse_reply(b"[1, 2]", "t1") is None
    assert (
        parse_reply(
            json.dumps(
                {
                    "body": "%%%",
                    "headers": {"ticket": "t1"},
                    "properties": {"body_encoding": "base64"},
                }
            ),
            "t1",
        )
        is None
    )
    assert parse_reply(envelope(["a", "list"]), "t1") is None
    assert parse_reply(envelope("pong"), "t1") is None
    assert parse_reply(json.dumps({"headers": "x"}), "t1") is None


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_never_raise(raw):
    out = parse_reply(raw, "t1")
    assert out is None or out is _OTHER_TICKET or isinstance(out, dict)
