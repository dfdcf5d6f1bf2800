"""The same CLI cases on Redis and on RabbitMQ (``broker_cluster`` is parametrized).

Real workers on a real broker each time; on RabbitMQ the management API (the
node's own port, via CTL_BROKER_API) lets status/inspect/revoke return early.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from base64 import b64encode
from collections.abc import Callable
from pathlib import Path

import pytest

from console.demo.cluster import LocalCluster
from tests.cli_runner import invoke

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_rabbit(c: LocalCluster) -> bool:
    return bool(c.broker_url_override)


def _publish(url: str, queue: str, n: int) -> None:
    """``n`` plain messages on ``queue``, which no worker consumes."""
    from kombu import Connection

    with Connection(url) as conn:
        q = conn.SimpleQueue(queue)
        for i in range(n):
            q.put({"i": i})
        q.close()


def _delete_queue(url: str, queue: str) -> None:
    from kombu import Connection, Queue

    with Connection(url) as conn:
        try:
            Queue(queue, channel=conn.channel()).delete()
        except Exception:
            pass


def test_status_returns_early(broker_cluster: LocalCluster, broker_env: dict[str, str]) -> None:
    started = time.monotonic()
    res = invoke("status", "--json", "--timeout", "5")
    elapsed = time.monotonic() - started
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == {h: {"ok": "pong"} for h in broker_cluster.hostnames}
    assert elapsed < 2.5, f"status waited {elapsed:.2f}s although every worker answered"
    assert "waited the whole" not in res.stderr


def test_inspect_active_matches_stock_celery_and_returns_early(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    env = {**os.environ, **broker_env, "PYTHONPATH": str(ROOT)}
    stock = subprocess.run(
        [CELERY, "-A", "sample_proj", "inspect", "active", "--json", "--timeout", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert stock.returncode == 0, stock.stderr
    started = time.monotonic()
    res = invoke("inspect", "active", "--json", "--timeout", "5")
    elapsed = time.monotonic() - started
    assert res.exit_code == 0, res.stderr
    assert sorted(json.loads(res.stdout)) == sorted(json.loads(stock.stdout))
    assert elapsed < 2.5


def test_inspect_unknown_destination_named(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    alpha = broker_cluster.hostnames[0]
    started = time.monotonic()
    res = invoke("inspect", "ping", "-d", alpha, "-d", "ghost@nowhere", "--timeout", "3", "--json")
    assert res.exit_code == 1
    assert list(json.loads(res.stdout)) == [alpha]
    assert "ghost@nowhere" in res.stderr
    if _is_rabbit(broker_cluster):
        # the management API names who is alive: no waiting for a ghost
        assert time.monotonic() - started < 2.5


def test_purge_counts_dry_run_and_exit_codes(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    _publish(broker_cluster.broker_url, queue, 7)
    try:
        dry = invoke("purge", "-Q", queue, "--dry-run", "--json")
        assert dry.exit_code == 0, dry.stderr
        doc = json.loads(dry.stdout)
        assert doc["dry_run"] is True and doc["purged"] == {} and doc["total_purged"] == 0
        (row,) = doc["queues"]
        assert row["name"] == queue and row["messages"] == 7 and row["consumers"] == 0
        assert set(row) == {
            "name",
            "messages",
            "by_priority",
            "consumers",
            "workers",
            "unacked",
            "publish_rate",
            "sources",
        }
        refused = invoke("purge", "-Q", queue, "--json", input="")
        assert refused.exit_code == 2 and "--yes" in refused.stderr
        done = invoke("purge", "-Q", queue, "--yes", "--json")
        assert done.exit_code == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["purged"] == {queue: 7} and doc["total_purged"] == 7
        again = invoke("purge", "-Q", queue, "--yes", "--json")
        assert again.exit_code == 1 and "nothing to purge" in again.stderr
        assert json.loads(again.stdout)["queues"][0]["messages"] == 0
        human = invoke("purge", "-Q", queue, "--yes")  # a no-op never reads as a purge
        assert human.exit_code == 1 and "nothing to purge" in human.stderr
        assert "purged" not in human.stdout
    finally:
        _delete_queue(broker_cluster.broker_url, queue)


def test_purge_lists_worker_queues_with_consumers(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    res = invoke("purge", "--dry-run", "--json")
    assert res.exit_code in (0, 1), res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)["queues"]}
    assert {"celery", "images"} <= set(rows)
    assert rows["celery"]["consumers"] == 2
    assert rows["celery"]["workers"] == sorted(broker_cluster.hostnames)
    assert not any(name.endswith(".pidbox") or name.startswith("celeryev") for name in rows)


def test_revoke_tree_names_unread_sources_never_exit_2(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    tid = str(uuid.uuid4())
    res = invoke("revoke", "--tree", tid, "--json", "--timeout", "2")
    doc = json.loads(res.stdout)
    unread = doc["tree"]["unread_sources"]
    revoked = json.loads(invoke("inspect", "revoked", "--json").stdout)
    if _is_rabbit(broker_cluster):
        # the id may be waiting in a queue that AMQP cannot read: revoked, and said so
        assert res.exit_code == 0, res.stderr
        assert doc["revoked"] == [tid]
        assert sorted(doc["replies"]) == sorted(broker_cluster.hostnames)
        assert len(unread) == 1 and unread[0].startswith("queued messages")
        assert "could not read queued messages" in res.stderr
        assert all(tid in ids for ids in revoked.values())
    else:
        # every source was read and none knows the id: a no-op is not reported as success
        assert res.exit_code == 1, res.stderr
        assert doc["revoked"] == [] and doc["tree"]["unknown"] == [tid]
        assert unread == [] and "found nowhere" in res.stderr
        assert not any(tid in ids for ids in revoked.values())


def test_failover_list_tries_nodes_in_order(
    broker_cluster: LocalCluster, broker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = broker_cluster.broker_url
    scheme = real.split("://", 1)[0]
    dead = (
        f"{scheme}://ctl:pw@127.0.0.1:{_dead_port()}/x"
        if _is_rabbit(broker_cluster)
        else f"redis://127.0.0.1:{_dead_port()}/0"
    )
    monkeypatch.setenv("CELERY_BROKER_URL", f"{dead};{real}")
    res = invoke("status", "--json", "--timeout", "5")
    assert res.exit_code == 0, res.stderr
    assert sorted(json.loads(res.stdout)) == sorted(broker_cluster.hostnames)
    assert invoke("purge", "--dry-run", "--json").exit_code in (0, 1)
    monkeypatch.setenv("CELERY_BROKER_URL", f"{dead};{dead}")
    res = invoke("status", "--json")
    assert res.exit_code == 3 and "pw" not in res.stderr


def test_result_on_rpc_backend_says_so_in_one_line(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    res = invoke("--result-backend", "rpc://", "result", str(uuid.uuid4()))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "only to the client that sent the task" in lines[0]
    assert res.stdout == ""


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_stopped_worker_is_named(
    broker: str,
    make_cluster: Callable[..., LocalCluster],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    override = None
    if broker == "rabbitmq":
        override = request.getfixturevalue("rabbit_vhost")
        monkeypatch.setenv("CTL_BROKER_API", request.getfixturevalue("rabbitmq").api_url())
    c = make_cluster(workers=("alpha", "bravo"), broker_url_override=override)
    monkeypatch.setenv("CELERY_BROKER_URL", c.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", c.backend_url)
    bravo = c.process("bravo")
    bravo.signal_group(signal.SIGSTOP)
    try:
        res = invoke("status", "--timeout", "1")
        assert res.exit_code == 0, res.stderr
        assert c.hostnames[0] in res.stdout
        assert f"no reply from {c.hostnames[1]}" in res.stderr
        assert "1 did not reply" in res.stdout
    finally:
        bravo.signal_group(signal.SIGCONT)


def _api_queues(api: str, vhost: str, user: str, password: str) -> set[str]:
    req = urllib.request.Request(f"{api}queues/{vhost}?columns=name")
    req.add_header("Authorization", "Basic " + b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        return {row["name"] for row in json.loads(resp.read())}


def test_no_command_leaves_a_queue_behind_on_rabbitmq(
    rabbitmq, make_cluster: Callable[..., LocalCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    vhost = rabbitmq.add_vhost()
    try:
        c = make_cluster(workers=("alpha",), broker_url_override=rabbitmq.url(vhost))
        monkeypatch.setenv("CELERY_BROKER_URL", c.broker_url)
        monkeypatch.setenv("CELERY_RESULT_BACKEND", c.backend_url)
        monkeypatch.setenv("CTL_BROKER_API", rabbitmq.api_url())
        before = _api_queues(rabbitmq.api_url(), vhost, rabbitmq.user, rabbitmq.password)
        tid = str(uuid.uuid4())
        for args in (
            ["status"],
            ["inspect", "active", "--json"],
            ["inspect", "ping", "-d", "ghost@nowhere", "--timeout", "0.3"],
            ["revoke", tid],
            ["revoke", "--tree", tid],
            ["purge", "--dry-run"],
            ["--result-backend", "rpc://", "result", tid],
            ["--result-backend", "rpc://", "revoke", "--tree", tid, "--json"],
            ["control", "rate-limit", "sample_proj.tasks.add", "0", "--yes"],
        ):
            res = invoke(*args)
            # 2 only for rpc:// result (said in one line); 1 for a ghost / nothing to purge
            assert res.exit_code in ((0, 1, 2) if "rpc://" in args else (0, 1)), (args, res.stderr)
            if "revoke" in args:  # the tree may be revoked already: 1
                assert res.exit_code in (0, 1), (args, res.stderr)
        after = _api_queues(rabbitmq.api_url(), vhost, rabbitmq.user, rabbitmq.password)
        assert after - before == set()
    finally:
        rabbitmq.delete_vhost(vhost)


def test_without_the_api_waits_the_timeout_and_says_so_once(
    rabbit_vhost: str, make_cluster: Callable[..., LocalCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_cluster(workers=("alpha",), broker_url_override=rabbit_vhost)
    monkeypatch.setenv("CELERY_BROKER_URL", c.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", c.backend_url)
    monkeypatch.setenv("CTL_BROKER_API", f"http://127.0.0.1:{_dead_port()}/api/")
    started = time.monotonic()
    res = invoke("status", "--json", "--timeout", "0.8")
    assert time.monotonic() - started >= 0.8
    assert res.exit_code == 0, res.stderr
    assert list(json.loads(res.stdout)) == c.hostnames
    assert res.stderr.count("waited the whole --timeout") == 1
    assert "--broker-api" in res.stderr and "ctl-test-pw" not in res.stderr


def test_failover_without_a_check_first_in_the_core(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    """The console calls the core without ``check_broker``: broadcasts and depths fail over too."""
    from console.core.queues import queue_depths
    from console.core.remote import RemoteControl
    from console.core.settings import ClusterSettings

    real = broker_cluster.broker_url
    scheme = real.split("://", 1)[0]
    dead = (
        f"{scheme}://ctl:pw@127.0.0.1:{_dead_port()}/x"
        if _is_rabbit(broker_cluster)
        else f"redis://127.0.0.1:{_dead_port()}/0"
    )
    settings = ClusterSettings.resolve(
        broker=f"{dead};{real}", result_backend=broker_cluster.backend_url
    )
    res = RemoteControl(settings).inspect("ping", timeout=3)
    assert sorted(res.replies) == sorted(broker_cluster.hostnames)
    names = {d.name for d in queue_depths(settings, with_consumers=False)}
    assert "celery" in names


@pytest.mark.parametrize(
    "what", ["active", "reserved", "scheduled", "revoked", "stats", "registered", "active-queues"]
)
def test_inspect_every_method_on_both_brokers(
    broker_cluster: LocalCluster, broker_env: dict[str, str], what: str
) -> None:
    res = invoke("inspect", what, "--json", "--timeout", "5")
    assert res.exit_code == 0, res.stderr
    assert sorted(json.loads(res.stdout)) == sorted(broker_cluster.hostnames)


def test_control_and_query_task_on_both_brokers(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    tid = str(uuid.uuid4())
    q = invoke("inspect", "query-task", tid, "--json", "--timeout", "5")
    assert q.exit_code == 0, q.stderr
    assert json.loads(q.stdout) == {h: {} for h in broker_cluster.hostnames}
    # a control that changes nothing on the shared workers (a task they do not have)
    rl = invoke("control", "rate-limit", "no.such.task", "10/m", "--yes", "--json")
    # celery control --json's shape: [{worker: reply}, ...], every worker answered
    assert sorted(h for item in json.loads(rl.stdout) for h in item) == sorted(
        broker_cluster.hostnames
    ), rl.stderr


def test_rabbitmq_bad_credentials_vhost_and_frozen_node_exit_3(
    rabbitmq, rabbit_vhost: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_pw = rabbit_vhost.replace(rabbitmq.password, "wrong-pw-123")
    bad_vhost = rabbit_vhost.rsplit("/", 1)[0] + "/no-such-vhost"
    for url in (bad_pw, bad_vhost):
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        res = invoke("status", "--json")
        assert res.exit_code == 3, res.stderr
        assert res.stderr.count("\n") == 1 and "unreachable" in res.stderr
        assert "wrong-pw-123" not in res.stderr and rabbitmq.password not in res.stderr
    monkeypatch.setenv("CELERY_BROKER_URL", rabbit_vhost)
    rabbitmq.freeze()
    try:
        started = time.monotonic()
        res = invoke("--connect-timeout", "0.5", "status", "--json")
        elapsed = time.monotonic() - started
    finally:
        rabbitmq.thaw()
    assert res.exit_code == 3, res.stderr
    assert elapsed < 3.0, f"a frozen broker took {elapsed:.1f}s to report"
