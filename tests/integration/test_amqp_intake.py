"""The console's event intake on a real RabbitMQ (no mocks): real workers, floods, a frozen broker.

* events of real sample_proj workers reach the console state through the
  whole LiveFeed pipeline (task names and states);
* a flood larger than the queue cap while the consumer does not read is
  counted (``dropped``, a gap), never LIVE with 0 gaps -- stock Celery's
  receiver drops it silently (5 s TTL);
* a frozen broker (SIGSTOP) shows as not live within seconds (AMQP
  heartbeats) and the source reconnects after thaw;
* no queue is left behind once the console stops.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from console.core.brokers.amqp_events import AmqpEventSource
from console.core.feed import LiveFeed
from console.core.intake import make_source
from console.core.settings import ClusterSettings
from console.demo.cluster import LocalCluster
from tests.perf.bench_amqp_intake import build_messages, publish
from tests.rabbitmq import EmbeddedRabbitMQ

pytestmark = pytest.mark.integration


def _vhost_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))


def queues(rabbitmq: EmbeddedRabbitMQ, url: str) -> list[str]:
    out = rabbitmq._ctl("list_queues", "-p", _vhost_of(url), "--silent", "name")
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def publish_events(url: str, count: int) -> None:
    """``count`` task events through Celery's own EventDispatcher (the workers' path)."""
    app = Celery("ctl-test-publisher", broker=url, set_as_current=False)
    with app.connection_for_write() as conn:
        dispatcher = app.events.Dispatcher(conn, hostname="flood@test", enabled=True)
        for i in range(count):
            dispatcher.send("task-received", uuid=f"flood-{i}", name="sample_proj.tasks.add")
        dispatcher.close()


def drain(source: Any, idle: float = 1.5) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    last = time.monotonic()
    while time.monotonic() - last < idle:
        batch = source.read_batch(0.1)
        if batch:
            got.extend(batch)
            last = time.monotonic()
    return got


def test_make_source_picks_the_amqp_source(rabbit_vhost: str) -> None:
    app = Celery("ctl-test", broker=rabbit_vhost, set_as_current=False)
    assert isinstance(make_source(app, url=rabbit_vhost), AmqpEventSource)


def test_real_worker_events_reach_the_console_state(
    rabbit_vhost: str,
    make_cluster: Callable[..., LocalCluster],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = make_cluster(workers=("alpha",), broker_url_override=rabbit_vhost)
    monkeypatch.setenv("CELERY_BROKER_URL", rabbit_vhost)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", c.backend_url)
    settings = ClusterSettings(broker_url=rabbit_vhost, result_backend=c.backend_url)
    feed = LiveFeed(settings, initial_resync=False)
    feed.start()
    try:
        wait_for(lambda: feed.status.mode == "live", 20, "the feed to go live")
        sender = Celery(
            "ctl-test-sender", broker=rabbit_vhost, backend=c.backend_url, set_as_current=False
        )
        results = [sender.send_task("sample_proj.tasks.add", args=(i, i)) for i in range(5)]
        assert [r.get(timeout=30) for r in results] == [0, 2, 4, 6, 8]
        tasks: dict[str, Any] = {}
        workers: dict[str, Any] = {}

        def all_succeeded() -> bool:
            delta = feed.poll()
            if delta is not None:
                tasks.update({row[0]: row for row in delta.tasks})
                workers.update({row[0]: row for row in delta.workers})
            return all(
                r.id in tasks
                and "SUCCESS" in tasks[r.id]
                and "sample_proj.tasks.add" in tasks[r.id]
                for r in results
            )

        wait_for(all_succeeded, 20, "the five tasks to show SUCCESS in the console state")
        assert c.hostnames[0] in workers
        assert feed.status.mode == "live" and feed.status.gaps == 0
    finally:
        feed.stop()


@pytest.mark.parametrize("no_ack", [True, False], ids=["no-ack", "acks"])
def test_flood_over_the_cap_is_counted_as_a_gap(
    rabbitmq: EmbeddedRabbitMQ, rabbit_vhost: str, no_ack: bool
) -> None:
    app = Celery("ctl-test", broker=rabbit_vhost, set_as_current=False)
    source = AmqpEventSource(
        app, url=rabbit_vhost, max_queued=500, prefetch=100, no_ack=no_ack, max_buffer=16_384
    )
    source.start(require_connection=True)
    # more than the broker's socket buffers and the channel's unsent deliveries hold (~10 MB)
    total = 50_000
    try:
        # the consumer does not read: the broker keeps the rest in the queue, capped at 500
        publish(rabbit_vhost, build_messages(total))
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(got) + source.status.dropped < total:
            got += source.read_batch(0.1)
        got += drain(source, idle=1.0)
        st = source.status
        # every event is either read or counted as dropped: nothing vanishes silently
        assert len(got) + st.dropped == total, (len(got), st)
        assert st.dropped >= total // 3, st
        assert st.gaps == 1 and st.mode == "live"
        assert "dropped" in st.message
        assert source.take_gap() is True
    finally:
        source.close()


def test_gap_reaches_the_feed_status(rabbit_vhost: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header's status (LiveFeed.status) says there was a gap."""
    monkeypatch.setenv("CELERY_BROKER_URL", rabbit_vhost)
    # a tiny cap for the intake process: set through make_source's kwargs
    settings = ClusterSettings(broker_url=rabbit_vhost)
    feed = LiveFeed(settings, initial_resync=False)
    # acks with a window of 10: the intake falls behind a fast publisher at once
    feed.config["source_options"] = {"max_queued": 50, "prefetch": 10, "no_ack": False}
    feed.start()
    try:
        wait_for(lambda: feed.status.mode == "live", 20, "the feed to go live")
        publish(rabbit_vhost, build_messages(20_000))
        wait_for(lambda: feed.poll() and feed.status.gaps >= 1, 20, "a gap in the feed status")
        assert "dropped" in feed.status.message
    finally:
        feed.stop()


def test_frozen_broker_shows_not_live_then_live_after_thaw(
    rabbitmq: EmbeddedRabbitMQ, rabbit_vhost: str
) -> None:
    app = Celery("ctl-test", broker=rabbit_vhost, set_as_current=False)
    # the source the console picks (Celery's receiver has no heartbeat: it stayed LIVE)
    source = make_source(app, url=rabbit_vhost, connect_timeout=1.0)
    source.start(require_connection=True)
    try:
        assert source.status.mode == "live"
        rabbitmq.freeze()
        frozen = time.monotonic()
        try:
            wait_for(lambda: source.status.mode != "live", 8, "not live while frozen")
            noticed = time.monotonic() - frozen
            assert noticed <= 7.0, noticed
            time.sleep(1.0)
            assert source.status.mode != "live"
        finally:
            rabbitmq.thaw()
        wait_for(lambda: source.status.mode == "live", 30, "live again after thaw")
        st = source.status
        assert st.reconnects == 1 and st.gaps == 1, st
        publish_events(rabbit_vhost, 10)
        assert len(drain(source, idle=1.0)) == 10
    finally:
        source.close()


def test_no_queue_left_behind(rabbitmq: EmbeddedRabbitMQ, rabbit_vhost: str) -> None:
    app = Celery("ctl-test", broker=rabbit_vhost, set_as_current=False)
    source = AmqpEventSource(app, url=rabbit_vhost)
    source.start(require_connection=True)
    mine = {source.queue_name, source.dead_letter_queue}
    assert mine <= set(queues(rabbitmq, rabbit_vhost))
    source.close()
    wait_for(lambda: not mine & set(queues(rabbitmq, rabbit_vhost)), 10, "queues deleted")
    assert queues(rabbitmq, rabbit_vhost) == []


def test_failover_list_goes_to_the_node_that_answers(rabbit_vhost: str) -> None:
    """``amqp://down;amqp://up`` as Celery accepts it: the source connects to the second."""
    sp = urllib.parse.urlsplit(rabbit_vhost)
    down = rabbit_vhost.replace(f":{sp.port}/", ":1/")
    url = f"{down};{rabbit_vhost}"
    app = Celery("ctl-test", broker=url, set_as_current=False)
    source = make_source(app, url=url, connect_timeout=1.0)
    source.start(require_connection=True)
    try:
        assert source.status.mode == "live"
        assert "ctl-test-pw" not in source.status.message
        publish_events(rabbit_vhost, 5)
        assert len(drain(source, idle=1.0)) == 5
    finally:
        source.close()


def test_ctl_events_on_rabbitmq_prints_events_and_leaves_no_queue(
    rabbitmq: EmbeddedRabbitMQ, rabbit_vhost: str
) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), NO_COLOR="1", CELERY_BROKER_URL=rabbit_vhost)
    env.pop("CELERY_RESULT_BACKEND", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "events", "--limit", "20", "--duration", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=str(root),
    )
    try:
        wait_for(
            lambda: any(q.startswith("ctl.console.") for q in queues(rabbitmq, rabbit_vhost)),
            20,
            "ctl events' queue",
        )
        publish_events(rabbit_vhost, 20)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["uuid"] for e in events] == [f"flood-{i}" for i in range(20)]
    wait_for(lambda: not queues(rabbitmq, rabbit_vhost), 10, "no queue left behind")


def test_ctl_events_unreachable_amqp_broker_exit_3_masked(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), NO_COLOR="1")
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    url = "amqp://ctl:topsecretpw@127.0.0.1:1//"
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "--broker", url, "events", "--limit", "1"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        timeout=60,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert "topsecretpw" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "unreachable" in err
