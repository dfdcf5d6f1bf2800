"""CliRunner tests of the runbook commands: parsing, usage errors, output shape.

No cluster needed: everything here fails (or succeeds) before talking to a
broker, or talks to a port where nothing listens.
"""

from __future__ import annotations

import json
import socket

import pytest

from console.core import beat as beat_core
from console.core.broker_scan import decode_message, embedded_tasks
from console.core.results import child_ids
from console.core.revoke_tree import Node, _components
from tests.cli_runner import invoke


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"redis://:s3cret@127.0.0.1:{port}/0"


def test_help_lists_every_runbook_command() -> None:
    res = invoke("--help")
    assert res.exit_code == 0
    for name in ("status", "inspect", "result", "revoke", "purge", "beat"):
        assert name in res.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "bogus"],
        ["inspect", "query-task"],
        ["inspect", "active", "extra"],
        ["inspect", "query-task", "not a task id"],
        ["result", "zz\x1b[31m"],
        ["result", ""],
        ["result", "  "],
        ["revoke", "12\t34"],
        ["revoke"],
        ["revoke", "--signal", "SIGNOPE", "0b5a3c1e-0000-4000-8000-000000000000"],
        ["--connect-timeout", "0", "status"],
        ["status", "--no-such-option"],
        ["nosuchcommand"],
        ["beat"],
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    res = invoke(*args)
    assert res.exit_code == 2, (args, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    assert res.stdout.strip() == "" or "Usage" in res.stdout


def test_one_line_error_for_malformed_id_escapes_control_chars() -> None:
    res = invoke("result", "zz\x1b[31m")
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctl: error: malformed task id")
    assert "\x1b" not in res.stderr


def test_bad_broker_url_exit_2() -> None:
    for url in ("foo://host/0", "not a url"):
        res = invoke("--broker", url, "status")
        assert res.exit_code == 2, (url, res.stderr)
        assert "broker URL" in res.stderr


def test_unreadable_app_module_exit_2() -> None:
    res = invoke("-A", "no_such_module_xyz", "status")
    assert res.exit_code == 2
    assert "cannot import app module" in res.stderr


def test_dead_broker_exit_3_with_masked_password() -> None:
    url = _dead_url()
    res = invoke("--broker", url, "inspect", "ping", "--json")
    assert res.exit_code == 3
    assert "s3cret" not in res.stderr and "***" in res.stderr
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["revoke", "0b5a3c1e-0000-4000-8000-000000000000"],
        ["revoke", "--tree", "0b5a3c1e-0000-4000-8000-000000000000"],
        ["purge", "--yes"],
    ],
)
def test_read_only_refuses_destructive_commands(args: list[str]) -> None:
    res = invoke(*args, env={"CTL_READ_ONLY": "1", "CELERY_BROKER_URL": _dead_url()})
    assert res.exit_code == 2
    assert "read-only" in res.stderr
    res = invoke("--read-only", *args, env={"CELERY_BROKER_URL": _dead_url()})
    assert res.exit_code == 2 and "read-only" in res.stderr


def test_beat_json_shape_for_sample_proj() -> None:
    res = invoke(
        "-A", "sample_proj", "beat", "--json", "--schedule-file", "/nonexistent/celerybeat-schedule"
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    names = {e["name"] for e in doc["entries"]}
    assert {"heartbeat-add-every-10s", "hourly-report", "weekday-digest"} <= names
    by_name = {e["name"]: e for e in doc["entries"]}
    assert by_name["heartbeat-add-every-10s"]["schedule"] == "every 10 seconds"
    assert by_name["weekday-digest"]["schedule_raw"]["day_of_week"] == "mon-fri"
    assert by_name["xsum-every-30s"]["options"] == {"expires": 25, "priority": 5}
    assert all(e["next_run_at"] for e in doc["entries"])
    assert doc["state_readable"] is False


def test_beat_human_output_and_words() -> None:
    res = invoke("-A", "sample_proj", "beat")
    assert res.exit_code == 0
    assert "weekday-digest" in res.stdout and "cron: 0 8 * * mon-fri" in res.stdout
    assert beat_core.seconds_in_words(3600) == "every hour"
    assert beat_core.seconds_in_words(90) == "every 90 seconds"
    assert beat_core.crontab_words("30", "3", "*", "*", "*") == "at 03:30 every day"


def test_decode_message_finds_embedded_chain_and_chord_ids() -> None:
    import base64

    embed = {
        "chain": [
            {"task": "t.c", "options": {"task_id": "c-id"}},
            {"task": "t.b", "options": {"task_id": "b-id"}},
        ],
        "chord": {
            "task": "celery.group",
            "subtask_type": "group",
            "kwargs": {
                "tasks": [{"task": "t.x", "options": {"task_id": "x-id", "group_id": "g2"}}]
            },
            "options": {"task_id": "group-result-id"},
        },
        "callbacks": None,
        "errbacks": None,
    }
    body = base64.b64encode(json.dumps([[], {}, embed]).encode()).decode()
    raw = json.dumps(
        {
            "body": body,
            "content-type": "application/json",
            "headers": {"id": "a-id", "task": "t.a", "root_id": "a-id", "group": "g1"},
            "properties": {"body_encoding": "base64"},
        }
    )
    msg = decode_message(raw, "celery")
    assert msg is not None and msg.id == "a-id" and msg.group_id == "g1"
    assert sorted(e.id for e in msg.embedded) == ["b-id", "c-id", "x-id"]
    unacked = decode_message(json.dumps([json.loads(raw), "", "images"]), "", unacked=True)
    assert unacked is not None and unacked.queue == "images" and unacked.unacked
    assert decode_message(b"garbage", "celery") is None
    assert embedded_tasks(None) == []


def test_child_ids_and_components() -> None:
    children = [[["c1", None], None], [["g1", None], [[["m1", None], None], [["m2", None], None]]]]
    assert child_ids(children) == [{"id": "c1", "group": None}, {"id": "g1", "group": ["m1", "m2"]}]
    a, b, c, d = (
        Node("a", keys={"a"}),
        Node("b", keys={"b", "a"}),
        Node("c", keys={"c", "g"}),
        Node("d", keys={"d"}),
    )
    e = Node("e", keys={"e", "g", "b"})
    comp = _components([a, b, c, d, e])
    assert comp["a"] == comp["b"] == comp["c"] == comp["e"] != comp["d"]


def test_silent_workers_named_only_when_exact() -> None:
    from console.core.remote import BroadcastResult, _mark_silent, _pidbox_names

    members = [
        b"\x06\x16\x06\x16alpha@h.celery.pidbox",
        b"\x06\x16\x06\x16bravo@h.celery.pidbox",
        b"\x06\x16\x06\x16junk",
    ]
    assert _pidbox_names(members) == {"alpha@h", "bravo@h"}
    res = BroadcastResult(replies={"alpha@h": {"ok": "pong"}}, expected=2)
    _mark_silent(res, members)
    assert res.silent == ["bravo@h"] and res.silent_exact
    stale = BroadcastResult(replies={}, expected=1)
    _mark_silent(stale, members)
    assert stale.silent == ["alpha@h", "bravo@h"] and not stale.silent_exact
    with_dest = BroadcastResult(replies={}, expected=1, destination=["x@y"])
    _mark_silent(with_dest, members)
    assert with_dest.silent == []


def test_resp_client_against_real_redis(redis_server) -> None:
    from console.core.brokers.redis_wire import RespClient, RespError

    client = RespClient(redis_server.url_for(2), 1.0)
    try:
        assert client.call("PING") == "PONG"
        assert client.call("RPUSH", "k", "a\r\nb", "c") == 2
        assert client.call("LRANGE", "k", "0", "-1") == [b"a\r\nb", b"c"]
        assert client.call("GET", "missing") is None
        with pytest.raises(RespError):
            client.call("NOSUCHCOMMAND")
    finally:
        client.close()
    assert RespClient.supports("redis://h:1/0") and not RespClient.supports("rediss://h/0")
