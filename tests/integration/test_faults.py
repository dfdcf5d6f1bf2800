"""Faults with real processes: dead/flapping Redis, missing data, slow and dying workers.

Each test uses its own private Redis/cluster, so killing things never
disturbs the shared session cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import redis

from console.core.redis_server import free_port

CTL = [sys.executable, "-m", "cli.main"]


def ctl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [*CTL, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _env(broker: str, backend: str) -> dict[str, str]:
    return {"CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend}


def assert_one_clean_line(stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "expected an error line on stderr"
    assert "Traceback" not in stderr
    assert lines[-1].startswith("ctl: error:"), stderr


def test_redis_stopped_cli_exits_3_fast_and_masks_password(redis_server):
    url = f"redis://:hunter2@127.0.0.1:{redis_server.port}/0"
    redis_server.stop()
    for argv in (
        ["status"],
        ["inspect", "active"],
        ["result", str(uuid.uuid4())],
        ["purge", "--dry-run"],
    ):
        started = time.monotonic()
        proc = ctl(*argv, env=_env(url, url))
        elapsed = time.monotonic() - started
        assert proc.returncode == 3, (argv, proc.stderr)
        assert_one_clean_line(proc.stderr)
        assert "hunter2" not in proc.stderr + proc.stdout
        assert elapsed < 5, (
            argv,
            elapsed,
        )  # interpreter start included; the bench measures precisely


def test_result_backend_down_broker_fine(make_cluster):
    c = make_cluster(workers=("solo1",), concurrency=1)
    dead_backend = f"redis://127.0.0.1:{free_port()}/1"
    env = _env(c.broker_url, dead_backend)
    # everything that does not need results keeps working
    status = ctl("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert set(json.loads(status.stdout)) == set(c.hostnames)
    active = ctl("inspect", "active", "--json", env=env)
    assert active.returncode == 0, active.stderr
    # what needs the backend says so, with exit 3
    res = ctl("result", str(uuid.uuid4()), env=env)
    assert res.returncode == 3
    assert_one_clean_line(res.stderr)
    assert "backend" in res.stderr


def test_redis_restarted_with_data_gone_results_read_as_missing(make_cluster):
    c = make_cluster(workers=("solo2",), concurrency=1)
    from celery import Celery

    app = Celery("faults", broker=c.broker_url, backend=c.backend_url)
    task_id = app.send_task("sample_proj.tasks.add", args=(1, 2)).id
    assert app.AsyncResult(task_id).get(timeout=20) == 3
    env = _env(c.broker_url, c.backend_url)
    before = ctl("result", task_id, "--json", env=env)
    assert before.returncode == 0 and json.loads(before.stdout)["state"] == "SUCCESS"

    c.redis.restart()  # same port, empty data (persistence is off)
    after = ctl("result", task_id, "--json", env=env)
    # the result is missing, not an error: PENDING / possibly unknown (exit 1), no traceback
    assert after.returncode == 1, after.stderr
    assert json.loads(after.stdout)["state"] == "PENDING"
    assert "Traceback" not in after.stderr
    # the worker reconnects by itself and answers again
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = ctl("status", "--json", env=env)
        if st.returncode == 0 and set(json.loads(st.stdout)) == set(c.hostnames):
            break
        time.sleep(1)
    else:
        pytest.fail(f"worker did not come back after the Redis restart: {st.stderr}")


def test_slow_worker_is_waited_for_up_to_timeout_then_listed(make_cluster):
    """A solo-pool worker busy with a task cannot answer remote control until it is done."""
    c = make_cluster(workers=("fast",), concurrency=1)
    argv = c.worker_argv("slow")
    argv[argv.index("prefork")] = "solo"
    argv[argv.index("-Q") + 1] = "slowq"
    c._spawn("worker-slow", argv)
    c.wait_ready(names=[*c.hostnames, c.hostnames[0].replace("fast@", "slow@")])
    slow_host = c.hostnames[0].replace("fast@", "slow@")
    env = _env(c.broker_url, c.backend_url)

    from celery import Celery

    app = Celery("faults", broker=c.broker_url, backend=c.backend_url)
    app.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 4}, queue="slowq")
    time.sleep(1.0)  # let the solo worker pick it up and block

    started = time.monotonic()
    short = ctl("inspect", "ping", "--timeout", "1", "--json", env=env)
    short_elapsed = time.monotonic() - started
    replies = json.loads(short.stdout)
    assert c.hostnames[0] in replies
    assert slow_host not in replies
    assert slow_host in short.stderr  # named as not having answered
    assert short_elapsed < 6

    # a longer timeout waits for the slow worker instead of returning early
    long = ctl("inspect", "ping", "--timeout", "8", "--json", env=env)
    assert long.returncode == 0, long.stderr
    assert set(json.loads(long.stdout)) == {c.hostnames[0], slow_host}


def test_redis_flap_worker_and_cli_recover(make_cluster):
    c = make_cluster(workers=("flap",), concurrency=1)
    env = _env(c.broker_url, c.backend_url)
    c.redis.kill()
    down = ctl("status", env=env)
    assert down.returncode == 3
    c.redis.start()
    client = redis.Redis.from_url(c.broker_url)
    assert client.ping()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        up = ctl("status", "--json", env=env)
        if up.returncode == 0:
            break
        time.sleep(1)
    assert up.returncode == 0, up.stderr
    assert set(json.loads(up.stdout)) == set(c.hostnames)


def test_hung_broker_fails_within_connect_timeout():
    """A listener that accepts but never answers (hung Redis, wrong service)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        url = f"redis://127.0.0.1:{port}/0"
        started = time.monotonic()
        proc = ctl("--connect-timeout", "0.5", "status", env=_env(url, url))
        elapsed = time.monotonic() - started
        assert proc.returncode == 3
        assert_one_clean_line(proc.stderr)
        # the PING read is bounded by --connect-timeout (it used to wait 5 s)
        assert elapsed < 4.0, elapsed
    finally:
        listener.close()


def test_big_reply_and_big_result_are_capped_with_an_exact_notice(cluster, cluster_env) -> None:
    """16.10: a table cell shows at most 4,000 characters and names the rest exactly."""
    from tests.perf.bench_big_replies import BigReplier, store_big_result

    size = 2_000_000
    env = {**cluster_env, "COLUMNS": "120"}
    tid = store_big_result(cluster.backend_url, size)
    human = ctl("result", tid, env=env)
    assert human.returncode == 0, human.stderr
    assert len(human.stdout) < 20_000, len(human.stdout)
    assert "2.0 MB not shown; --json for all" in human.stdout  # 2,000,000 - 4,000 bytes hidden
    full = ctl("result", tid, "--json", env=env)
    assert json.loads(full.stdout)["result"] == "y" * size
    replier = BigReplier(cluster.broker_url, size)
    replier.start()
    time.sleep(0.2)
    try:
        args = ["status", "--timeout", "5", "-d", cluster.hostnames[0], "-d", "rogue@bench"]
        human = ctl(*args, env=env)
        full = ctl(*args, "--json", env=env)
    finally:
        replier.close()
    assert human.returncode == 0, human.stderr
    assert len(human.stdout) < 20_000, len(human.stdout)
    assert "2.0 MB not shown; --json for all" in human.stdout
    assert json.loads(full.stdout)["rogue@bench"] == {"ok": "x" * size}
