"""The traffic generator against real workers: every kind of work shows up.

Runs on a private cluster (the traffic deliberately saturates the pool, which
would slow down tests sharing the session cluster).  What the workers did is
read back from the real result backend (``result_extended`` stores name,
args and state) and from real ``inspect`` broadcasts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import redis
from celery import Celery

from console.demo.traffic import HOSTILE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _traffic_argv(broker: str, backend: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "console.demo.traffic",
        "--broker",
        broker,
        "--backend",
        backend,
        *extra,
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _results(backend_url: str) -> list[dict]:
    client = redis.Redis.from_url(backend_url)
    try:
        keys = list(client.scan_iter("celery-task-meta-*", count=1000))
        values = client.mget(keys) if keys else []
    finally:
        client.close()
    return [json.loads(v) for v in values if v]


def _wait_for(predicate: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"{what()} (after {timeout}s)")


def test_traffic_sends_every_kind_of_work(make_cluster, monkeypatch) -> None:
    # Celery prefers CELERY_BROKER_URL over broker=: other tests may have set it
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    c = make_cluster(workers=("alpha", "bravo"), concurrency=2)
    probe = Celery("traffic-probe", broker=c.broker_url)
    conn = probe.connection_for_write(c.broker_url)
    seen: dict[str, bool] = {"active": False, "reserved": False, "scheduled": False}
    proc = subprocess.Popen(
        # one full cycle of actions in ~2 s, then a few more
        _traffic_argv(
            c.broker_url, c.backend_url, "--rate", "10", "--duration", "3", "--slots", "4"
        ),
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(seen.values()):
            inspect = probe.control.inspect(timeout=1.0, connection=conn)
            for what in seen:
                if not seen[what]:
                    replies = getattr(inspect, what)() or {}
                    seen[what] = any(replies.values())
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        conn.release()
        probe.close()
    assert proc.returncode == 0, err[-2000:]
    assert seen == {"active": True, "reserved": True, "scheduled": True}
    assert "stopped after" in err and "0 send errors" in err, err[-2000:]

    def states() -> set[tuple[str, str]]:
        found = set()
        for r in _results(c.backend_url):
            name = str(r.get("name")).rsplit(".", 1)[-1]
            found.add((name, r["status"]))
            if "after 2 retries" in str(r.get("result")):
                found.add((name, "SUCCESS after 2 retries"))
        return found

    wanted = {
        ("add", "SUCCESS"),
        ("mul", "SUCCESS"),
        ("xsum", "SUCCESS"),  # singles, chains, groups
        ("sleepy", "SUCCESS"),  # slow
        ("notify", "SUCCESS"),
        ("upload", "SUCCESS"),  # the image chord
        ("always_fails", "FAILURE"),  # failures
        ("fetch_with_retry", "SUCCESS after 2 retries"),  # retried, then ok
        ("add", "REVOKED"),  # expired before it ran
    }
    _wait_for(lambda: wanted <= states(), 25.0, lambda: f"missing results: {wanted - states()}")

    results = _results(c.backend_url)
    # the hostile-looking arguments travel untouched (the console must render them inert)
    assert any(HOSTILE in (r.get("args") or []) for r in results), "no hostile args arrived"
    # canvases: chains and groups have parents / group ids
    assert any(r.get("parent_id") for r in results), "no chain links in the results"
    assert any(r.get("group_id") for r in results), "no group members in the results"


def test_traffic_stops_on_sigterm(redis_server) -> None:
    proc = subprocess.Popen(
        _traffic_argv(redis_server.url, redis_server.url_for(1), "--rate", "5"),
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = redis.Redis.from_url(redis_server.url)
        _wait_for(lambda: client.llen("celery") > 0, 15.0, lambda: "nothing was queued")
        client.close()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 5
        assert proc.returncode == 0, err[-2000:]
        assert "stopped after" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


PARENT = """
import subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
child.wait()
"""


def test_traffic_stops_when_its_parent_dies(redis_server) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PARENT,
            *_traffic_argv(redis_server.url, redis_server.url_for(1), "--rate", "5"),
        ],
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    child = psutil.Process(child_pid)
    try:
        client = redis.Redis.from_url(redis_server.url)
        _wait_for(lambda: client.llen("celery") > 0, 15.0, lambda: "nothing was queued")
        client.close()
        parent.kill()  # SIGKILL: no chance to clean up after its child
        parent.wait(5)
        try:
            child.wait(5)
        except psutil.TimeoutExpired:
            pytest.fail("the traffic generator outlived its parent")
    finally:
        if child.is_running():
            child.kill()
        if parent.poll() is None:
            parent.kill()
