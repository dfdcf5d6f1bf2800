"""The fleet simulator: real pidbox answers, real heartbeats, bounded and clean."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil
import pytest
import redis
from celery import Celery
from kombu import Connection
from kombu.pidbox import Mailbox

from tests.perf.fleet import Fleet

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]


def _pidbox_subscribers(url: str) -> int:
    """Redis clients holding a pattern subscription (one per pidbox consumer)."""
    client = redis.Redis.from_url(url)
    try:
        return sum(1 for c in client.client_list() if int(c.get("psub", 0)) > 0)
    finally:
        client.close()


def _capture_events(url: str, seconds: float) -> list[dict]:
    """Every event seen on the wire for ``seconds`` through Celery's EventReceiver."""
    app = Celery("fleet-test-events", broker=url)
    events: list[dict] = []
    with Connection(url) as conn:
        recv = app.events.Receiver(conn, handlers={"*": events.append})
        deadline = time.monotonic() + seconds
        it = recv.itercapture(limit=None, timeout=0.2, wakeup=False)
        while time.monotonic() < deadline:
            try:
                next(it)
            except TimeoutError:
                it = recv.itercapture(limit=None, timeout=0.2, wakeup=False)
    return events


def _kombu_ping(url: str, timeout: float = 1.5) -> list[dict]:
    """Broadcast ``ping`` with nothing but kombu (no Celery app)."""
    with Connection(url) as conn:
        mailbox = Mailbox("celery", type="fanout", accept=["json"])(conn)
        return mailbox._broadcast("ping", {}, reply=True, timeout=timeout)


def test_twenty_nodes_answer_ping_via_celery_and_raw_kombu(redis_server):
    with Fleet(redis_server.url, 20, processes=2, duration=60) as fleet:
        expected = set(fleet.hostnames)
        assert len(expected) == 20
        # each node holds its own pattern subscription to the pidbox fanout
        assert _pidbox_subscribers(redis_server.url) == 20

        app = Celery("fleet-test", broker=redis_server.url)
        replies = app.control.ping(timeout=1.5)
        names = {name for reply in replies for name in reply}
        assert names == expected
        assert all(r == {"ok": "pong"} for reply in replies for r in reply.values())

        raw = _kombu_ping(redis_server.url)
        raw_names = {name for reply in raw for name in reply}
        assert raw_names == expected

        # a destination-limited call gets exactly that node's answer
        one = sorted(expected)[3]
        only = app.control.inspect(destination=[one], timeout=1.0).stats()
        assert set(only) == {one}
        assert only[one]["pool"]["implementation"].startswith("celery.concurrency")
        app.close()


def test_inspect_answers_have_a_real_workers_shape(redis_server):
    with Fleet(redis_server.url, 4, duration=60, long_running=1) as fleet:
        app = Celery("fleet-test", broker=redis_server.url)
        insp = app.control.inspect(timeout=1.0)
        active = insp.active()
        assert set(active) == set(fleet.hostnames)
        for host, tasks in active.items():
            assert len(tasks) == 1
            task = tasks[0]
            assert {
                "id",
                "name",
                "args",
                "kwargs",
                "type",
                "hostname",
                "time_start",
                "acknowledged",
                "delivery_info",
                "worker_pid",
            } <= set(task)
            assert task["hostname"] == host
        registered = insp.registered()
        assert "sample_proj.tasks.add" in registered[fleet.hostnames[0]]
        assert set(insp.active_queues()[fleet.hostnames[0]][0]) >= {
            "name",
            "exchange",
            "routing_key",
        }
        task_id = active[fleet.hostnames[0]][0]["id"]
        found = insp.query_task(task_id)
        assert found[fleet.hostnames[0]][task_id][0] == "active"
        app.control.revoke("00000000-0000-0000-0000-000000000001")
        time.sleep(0.3)
        revoked = insp.revoked()
        assert all("00000000-0000-0000-0000-000000000001" in v for v in revoked.values())
        app.close()


def test_heartbeats_arrive_at_the_set_frequency_with_worker_fields(redis_server):
    freq = 0.5
    with Fleet(redis_server.url, 5, duration=60, freq=freq, rate=300) as fleet:
        events = _capture_events(redis_server.url, 3.5)
        hosts = set(fleet.hostnames)
    beats: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        if ev["type"] == "worker-heartbeat":
            beats[ev["hostname"]].append(ev["timestamp"])
            for key in (
                "freq",
                "active",
                "processed",
                "loadavg",
                "sw_ident",
                "sw_ver",
                "sw_sys",
                "pid",
                "clock",
                "timestamp",
                "utcoffset",
            ):
                assert key in ev, key
            assert ev["freq"] == freq
            assert ev["sw_ident"] == "py-celery"
    assert set(beats) == hosts
    gaps = [b - a for ts in beats.values() for a, b in zip(ts, ts[1:], strict=False)]
    assert len(gaps) >= 5 * 4
    assert abs(statistics.median(gaps) - freq) < 0.15, gaps

    # task events come from the nodes, linked into chains and canvases
    tasks = [ev for ev in events if ev["type"].startswith("task-")]
    types = {ev["type"] for ev in tasks}
    assert {"task-received", "task-started", "task-succeeded"} <= types
    assert {ev["hostname"] for ev in tasks} <= hosts
    received = [ev for ev in tasks if ev["type"] == "task-received"]
    assert all(
        {"uuid", "name", "args", "kwargs", "root_id", "parent_id"} <= set(ev) for ev in received
    )
    linked = [ev for ev in received if ev["parent_id"] and ev["root_id"] != ev["uuid"]]
    assert linked, "no chained/grouped task events"
    per_second = len(tasks) / 3.5
    assert 150 < per_second < 450, per_second


def test_stops_by_itself_and_leaves_nothing_behind(redis_server):
    fleet = Fleet(redis_server.url, 10, processes=2, duration=4, freq=1.0)
    fleet.start()
    pids = list(fleet.pids)
    hosts = set(fleet.hostnames)
    try:
        events = _capture_events(redis_server.url, 6.0)
        assert fleet.join(timeout=20), "fleet did not stop by itself after --duration"
    finally:
        fleet.stop()
    offline = {ev["hostname"] for ev in events if ev["type"] == "worker-offline"}
    assert offline == hosts
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _pidbox_subscribers(redis_server.url) == 0
    client = redis.Redis.from_url(redis_server.url)
    assert client.scard("_kombu.binding.celery.pidbox") == 0
    client.close()


def test_shards_exit_when_the_parent_is_killed(redis_server):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.perf.fleet",
            "--broker",
            redis_server.url,
            "--workers",
            "6",
            "--processes",
            "2",
            "--duration",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = parent.stdout.readline()
        assert line.startswith("fleet: 6 nodes"), line
        children = psutil.Process(parent.pid).children()
        assert len(children) == 2
        logs = [a for c in children for a in c.cmdline() if a.startswith("{")]
        assert len(logs) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"shards outlived their parent: {alive}"
        for spec in logs:  # the orphaned shards removed their own stderr logs
            assert not os.path.exists(json.loads(spec)["log"])
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.stdout.close()
    assert _pidbox_subscribers(redis_server.url) == 0
