"""Wire-format tests of the intake (no broker): RESP framing, kombu envelopes, URLs.

Also holds :class:`StandInState`, a tiny ClusterState used by the intake tests
only while ``console.core.state`` is not available.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, NamedTuple

import pytest

from console.core.errors import UsageError
from console.core.intake import (
    decode_envelope,
    event_patterns,
    is_redis_url,
    parse_pubsub,
    parse_redis_url,
)


class TaskRow(NamedTuple):
    uuid: str
    name: str | None
    state: str
    hostname: str | None
    received: float | None
    started: float | None
    runtime: float | None
    retries: int
    args: str
    kwargs: str
    root_id: str | None
    parent_id: str | None
    timestamp: float | None


class WorkerRow(NamedTuple):
    hostname: str
    status: str
    active: int
    processed: int
    succeeded: int
    failed: int
    rate: float
    loadavg: Any
    sw_ver: str | None
    pid: int | None
    freq: float
    last_heartbeat: float | None
    pool_hint: str | None


_STATES = {"task-sent": "PENDING", "task-received": "RECEIVED", "task-started": "STARTED",
           "task-succeeded": "SUCCESS", "task-failed": "FAILURE", "task-retried": "RETRY",
           "task-revoked": "REVOKED", "task-rejected": "REJECTED"}
_ORDER = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, "RETRY": 3, "SUCCESS": 4, "FAILURE": 4,
          "REVOKED": 4, "REJECTED": 4}


class StandInState:
    """Just enough of the ClusterState contract for the feed/intake tests."""

    def __init__(self, max_tasks: int = 100_000, clock: Any = time.time) -> None:
        self.max_tasks = max_tasks
        self.clock = clock
        self.tasks: dict[str, dict] = {}
        self.workers: dict[str, dict] = {}
        self._changed: set[str] = set()
        self._evicted: set[str] = set()
        self._wchanged: set[str] = set()
        self.counts: dict[str, int] = {}
        self.malformed = 0
        self.finished: list[float] = []

    def apply(self, ev: dict) -> None:
        kind = ev.get("type")
        if not isinstance(kind, str):
            self.malformed += 1
            return
        self.counts[kind] = self.counts.get(kind, 0) + 1
        host = ev.get("hostname")
        if kind.startswith("worker-") and host:
            w = self.workers.setdefault(host, {"hostname": host})
            w.update({k: v for k, v in ev.items() if k != "type"})
            w["last_heartbeat"] = ev.get("timestamp")
            w["online"] = kind != "worker-offline"
            self._wchanged.add(host)
            return
        uuid = ev.get("uuid")
        if not uuid or kind not in _STATES:
            return
        t = self.tasks.get(uuid)
        if t is None:
            if len(self.tasks) >= self.max_tasks:
                old = next(iter(self.tasks))
                del self.tasks[old]
                self._evicted.add(old)
                self._changed.discard(old)
            t = self.tasks[uuid] = {"uuid": uuid, "state": "PENDING", "timeline": [], "retries": 0}
        for key in ("name", "args", "kwargs", "root_id", "parent_id", "result", "exception", "runtime"):
            if ev.get(key) is not None:
                t[key] = ev[key]
        state = _STATES[kind]
        if _ORDER[state] >= _ORDER[t["state"]] or state == "RECEIVED" and t["state"] == "RETRY":
            t["state"] = state
        if state == "RETRY":
            t["retries"] += 1
        if host and not kind == "task-sent":
            t["hostname"] = host
        if kind == "task-received":
            t["received"] = ev.get("timestamp")
        if kind == "task-started":
            t["started"] = ev.get("timestamp")
        if state in ("SUCCESS", "FAILURE"):
            self.finished.append(self.clock())
            self.finished = self.finished[-10000:]
        t["timestamp"] = ev.get("timestamp")
        t["timeline"].append([state, ev.get("timestamp")])
        self._changed.add(uuid)

    def apply_batch(self, events: Any) -> None:
        for ev in events:
            self.apply(ev)

    @property
    def stats(self) -> dict:
        return {"events": dict(self.counts), "malformed": self.malformed, "tasks": len(self.tasks)}

    def task_rate(self, window: float = 10.0) -> float:
        now = self.clock()
        return sum(1 for t in self.finished if now - t <= window) / window

    def worker_status(self, hostname: str, now: float | None = None) -> str:
        w = self.workers.get(hostname) or {}
        if not w.get("online"):
            return "offline"
        last = w.get("last_heartbeat") or 0
        return "online" if (now or self.clock()) - last < 10 else "late"

    def drain_changes(self) -> tuple[set[str], set[str], set[str]]:
        out = (self._changed, self._evicted, self._wchanged)
        self._changed, self._evicted, self._wchanged = set(), set(), set()
        return out

    def task_row(self, uuid: str) -> TaskRow:
        t = self.tasks[uuid]
        return TaskRow(uuid, t.get("name"), t["state"], t.get("hostname"), t.get("received"),
                       t.get("started"), t.get("runtime"), t["retries"], str(t.get("args", ""))[:200],
                       str(t.get("kwargs", ""))[:200], t.get("root_id"), t.get("parent_id"),
                       t.get("timestamp"))

    def worker_row(self, hostname: str) -> WorkerRow:
        w = self.workers[hostname]
        return WorkerRow(hostname, self.worker_status(hostname), w.get("active") or 0,
                         w.get("processed") or 0, 0, 0, 0.0, w.get("loadavg"), w.get("sw_ver"),
                         w.get("pid"), w.get("freq") or 2.0, w.get("last_heartbeat"), None)

    def task_detail(self, uuid: str) -> dict | None:
        t = self.tasks.get(uuid)
        return json.loads(json.dumps(t, default=str)) if t else None

    def expire_workers(self, now: float | None = None) -> None:
        for host in list(self.workers):
            if self.worker_status(host, now) == "offline" and self.workers[host].get("online"):
                self._wchanged.add(host)


def state_factory() -> str | None:
    """None when the real ClusterState exists, else the stand-in's import path."""
    try:
        import console.core.state  # noqa: F401
    except ImportError:
        return "tests.integration.test_intake_parse:StandInState"
    return None


def new_state(**kwargs: Any) -> Any:
    try:
        from console.core.state import ClusterState
    except ImportError:
        return StandInState(**kwargs)
    return ClusterState(**kwargs)


# ---------------------------------------------------------------------------


def _envelope(body: Any, *, encoding: str = "base64", ctype: str = "application/json") -> bytes:
    raw = json.dumps(body).encode()
    return json.dumps({
        "body": base64.b64encode(raw).decode() if encoding == "base64" else raw.decode(),
        "content-encoding": "utf-8", "content-type": ctype, "headers": {"hostname": "w@h"},
        "properties": {"delivery_mode": 1, "delivery_info": {"exchange": "celeryev", "routing_key": "x"},
                       "priority": 0, "body_encoding": encoding, "delivery_tag": "t"},
    }).encode()


def _pmessage(data: bytes, channel: bytes = b"/0.celeryev/task.received") -> bytes:
    pattern = b"/0.celeryev/*"
    return (b"*4\r\n$8\r\npmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
            % (len(pattern), pattern, len(channel), channel, len(data), data))


EV1 = {"hostname": "w@h", "utcoffset": 0, "pid": 1, "clock": 1, "uuid": "u1", "name": "t.add",
       "args": "('[bold red]x[/] \\x1b[31m',)", "timestamp": 1.5, "type": "task-received"}
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
    assert decode_envelope(_envelope(EV1, ctype="application/x-python-serialize"), out) == 1  # pickle refused
    assert len(out) == 3


def test_parse_pubsub_handles_frames_cut_anywhere():
    stream = (b"*3\r\n$10\r\npsubscribe\r\n$13\r\n/0.celeryev/*\r\n:1\r\n"
              + _pmessage(_envelope(EV1)) + _pmessage(_envelope([EV1, EV2]))
              + b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
              + b"*3\r\n$7\r\nmessage\r\n$8\r\nceleryev\r\n$%d\r\n%s\r\n" % (len(_envelope(EV2)), _envelope(EV2)))
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
        "app\\*1:/0.ev/*", "app\\*1:/0.ev"]


def test_parse_redis_urls():
    (ep,) = parse_redis_url("redis://user:p%40ss@example:6380/5")
    assert (ep.host, ep.port, ep.db, ep.username, ep.password, ep.use_ssl) == (
        "example", 6380, 5, "user", "p@ss", False)
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
