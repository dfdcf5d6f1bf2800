"""``ctl control``: every worker action, on real workers, checked against what the workers report
(and, for the JSON shape, against ``celery control --json`` on the same cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_runner import invoke

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def _registered_attr(cluster, task: str, attr: str) -> dict[str, str]:
    """``{worker: "task [attr=value]"}`` as the workers report it (``inspect registered ATTR``)."""
    from console.core.remote import RemoteControl
    from console.core.settings import ClusterSettings

    settings = ClusterSettings.resolve(broker=cluster.broker_url)
    res = RemoteControl(settings).inspect("registered", timeout=3, taskinfoitems=[attr])
    return {
        h: next(t for t in tasks if t.split(" ")[0] == task) for h, tasks in res.replies.items()
    }


def _env(cluster) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    env.update(CELERY_BROKER_URL=cluster.broker_url, CELERY_RESULT_BACKEND=cluster.backend_url)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _pool_size(cluster, host: str) -> int:
    res = invoke("inspect", "stats", "--json", "-d", host, "-t", "3")
    return len(json.loads(res.stdout)[host]["pool"]["processes"])


def test_rate_limit_reaches_every_worker_like_celery_control(cluster, cluster_env) -> None:
    task = "sample_proj.tasks.mul"
    try:
        started = time.monotonic()
        res = invoke("control", "rate-limit", task, "7/m", "--json", "-t", "5")
        elapsed = time.monotonic() - started
        assert res.exit_code == 0, res.stderr
        doc = json.loads(res.stdout)
        assert elapsed < 3, f"waited {elapsed:.1f}s although both workers answered"
        proc = subprocess.run(
            [CELERY, "-A", "sample_proj", "control", "rate_limit", task, "7/m", "--json"],
            capture_output=True, text=True, env=_env(cluster), cwd=ROOT, timeout=60,
        )  # fmt: skip
        stock = json.loads(proc.stdout.strip().splitlines()[-1])
        key = lambda doc: sorted(json.dumps(item, sort_keys=True) for item in doc)  # noqa: E731
        assert key(doc) == key(stock)
        assert {h for item in doc for h in item} == set(cluster.hostnames)
        seen = _registered_attr(cluster, task, "rate_limit")
        assert all("rate_limit=7/m" in v for v in seen.values()), seen
    finally:
        assert invoke("control", "rate-limit", task, "0", "-t", "5").exit_code == 0


def test_one_destination_and_human_output(cluster, cluster_env) -> None:
    host = cluster.hostnames[0]
    task = "sample_proj.tasks.xsum"
    try:
        res = invoke("control", "time-limit", task, "30", "60", "-d", host, "-t", "5")
        assert res.exit_code == 0, res.stderr
        assert res.stdout.strip() == f"{host}: ok: time limits set successfully"
        seen = _registered_attr(cluster, task, "time_limit")
        assert "time_limit=60" in seen[host]
        assert "time_limit=60" not in seen[cluster.hostnames[1]]
    finally:
        invoke("control", "time-limit", task, "0", "-d", host, "-t", "5")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["rate-limit", "sample_proj.tasks.add", "200abc"], "bad rate limit '200abc'"),
        (["rate-limit", "sample_proj.tasks.add", "10/min"], "bad rate limit '10/min'"),
        (["time-limit", "sample_proj.tasks.add", "90", "30"], "soft limit 90s is above"),
        (["time-limit", "sample_proj.tasks.add", "abc"], "soft limit must be a number"),
        (["pool-grow", "0"], "N must be at least 1"),
        (["pool-grow", "two"], "N must be a whole number"),
        (["autoscale", "2", "5"], "min 5 is above max 2"),
        (["add-consumer", "two words"], "queue must be a non-empty name"),
    ],
)
def test_bad_values_are_refused_before_sending(cluster, cluster_env, args, fragment) -> None:
    before = _registered_attr(cluster, "sample_proj.tasks.add", "rate_limit")
    res = invoke("control", *args)
    assert res.exit_code == 2, res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], res.stderr
    assert _registered_attr(cluster, "sample_proj.tasks.add", "rate_limit") == before


def test_read_only_refuses_every_action(cluster, cluster_env) -> None:
    for args in (["rate-limit", "sample_proj.tasks.add", "1/s"], ["pool-grow"], ["shutdown"]):
        res = invoke("--read-only", "control", *args, "--yes")
        assert res.exit_code == 2 and "read-only" in res.stderr
    res = invoke("control", "pool-grow", env={"CTL_READ_ONLY": "1"})
    assert res.exit_code == 2


def test_pool_actions_refusals_and_shutdown(make_cluster) -> None:
    c = make_cluster(workers=("ctl-a", "ctl-b"), concurrency=1)
    env = {"CELERY_BROKER_URL": c.broker_url, "CELERY_RESULT_BACKEND": c.backend_url}
    os.environ.update(env)  # _restore_cluster_env puts it back
    a, b = c.hostnames

    assert invoke("control", "pool-grow", "2", "-d", a, "-t", "5").exit_code == 0
    deadline = time.monotonic() + 10
    while _pool_size(c, a) != 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _pool_size(c, a) == 3 and _pool_size(c, b) == 1

    # capacity-removing actions need --yes off a terminal: nothing is sent without it
    res = invoke("control", "pool-shrink", "2", "-d", a)
    assert res.exit_code == 2 and "Refusing without --yes" in res.stderr
    assert "Shrink the pool of " + a in res.stderr
    assert _pool_size(c, a) == 3
    assert invoke("control", "pool-shrink", "2", "-d", a, "--yes", "-t", "5").exit_code == 0
    deadline = time.monotonic() + 10
    while _pool_size(c, a) != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _pool_size(c, a) == 1

    # the workers refuse what they were not started for: said, exit 1
    res = invoke("control", "pool-restart", "--yes", "-t", "5")
    assert res.exit_code == 1
    assert f"{a} refused pool-restart" in res.stderr and "worker_pool_restarts" in res.stderr
    res = invoke("control", "autoscale", "4", "1", "--json", "-t", "5")
    assert res.exit_code == 1 and "not started with --autoscale" in res.stderr
    assert {h for item in json.loads(res.stdout) for h in item} == {a, b}

    # consumers: add then cancel, as active_queues reports them
    assert invoke("control", "add-consumer", "reports", "-d", b, "-t", "5").exit_code == 0
    deadline = time.monotonic() + 10
    queues: list[str] = []
    while time.monotonic() < deadline:
        res = invoke("inspect", "active-queues", "--json", "-d", b, "-t", "3")
        queues = [q["name"] for q in json.loads(res.stdout)[b]]
        if "reports" in queues:
            break
        time.sleep(0.2)
    assert "reports" in queues
    res = invoke("control", "cancel-consumer", "reports", "-d", b, "--yes", "-t", "5")
    assert res.exit_code == 0, res.stderr

    # shutdown: no reply is expected; the worker goes away
    res = invoke("control", "shutdown", "-d", b, "--yes")
    assert res.exit_code == 0 and "shutdown sent to " + b in res.stderr
    proc = c.process("ctl-b")
    assert proc is not None
    proc.proc.wait(20)
    res = invoke("status", "--json", "-t", "2")
    assert set(json.loads(res.stdout)) == {a}
