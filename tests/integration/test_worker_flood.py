"""A flood of forged worker hostnames stays bounded in the UI (issue 16.6).

Real redis-server, a real LiveFeed (intake process), the UI's own model
(``console.ui.model.UIModel``) fed by ``poll()`` as the console does, and a
separate publisher process sending 100,000 ``worker-heartbeat`` messages with
distinct hostnames at 40,000/s (kombu's exact Redis envelope, tests/perf/publish_events.py).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

from console.core.feed import LiveFeed
from console.core.settings import ClusterSettings
from tests.integration.test_intake import wait_for

FLOOD = textwrap.dedent(
    """
    import sys, time
    from tests.perf.publish_events import envelope, publish, resp_publish, topic_for
    url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    now = time.time()
    frames = []
    for i in range(count):
        ev = {"hostname": f"{prefix}{i}@flood", "utcoffset": 0, "pid": 1, "clock": i + 1,
              "freq": 2.0, "active": 0, "processed": 0, "loadavg": [0.0, 0.0, 0.0],
              "sw_ident": "py-celery", "sw_ver": "5.5.0", "sw_sys": "Linux",
              "timestamp": now, "type": "worker-heartbeat"}
        frames.append(resp_publish(topic_for(ev), envelope(ev)))
    print(publish(url, count, rate=40_000, frames=frames), flush=True)
    """
)


def flood(url: str, prefix: str, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", FLOOD, url, prefix, str(count)])


def publish_real_task(url: str, task_id: str) -> None:
    from tests.perf.publish_events import envelope as make_envelope
    from tests.perf.publish_events import publish, resp_publish, topic_for

    ev = {
        "hostname": "real@host",
        "uuid": task_id,
        "name": "sample_proj.tasks.add",
        "args": "(1, 2)",
        "kwargs": "{}",
        "retries": 0,
        "eta": None,
        "expires": None,
        "root_id": task_id,
        "parent_id": None,
        "timestamp": time.time(),
        "type": "task-received",
        "clock": 1,
        "pid": 1,
        "utcoffset": 0,
    }
    publish(url, 1, frames=[resp_publish(topic_for(ev), make_envelope(ev))])


def test_hostname_flood_is_capped_counted_and_the_intake_stays_live(redis_server) -> None:
    from console.ui.model import UIModel

    settings = ClusterSettings.resolve(broker=redis_server.url)
    feed = LiveFeed(settings, rate_hz=10, initial_resync=False)
    feed.start()
    model = UIModel()

    def pump() -> None:
        delta = feed.poll()
        if delta is not None:
            model.apply(delta)
        assert len(model.workers) <= 5_000, len(model.workers)

    try:
        wait_for(lambda: feed.status.mode == "live", 20, "live")
        time.sleep(0.3)
        first = flood(redis_server.url, "f", 100_000)
        # a real event right behind the flood shows within a couple of seconds
        # (each refused hostname cost a scan of 5,000 workers: 196 s for this flood)
        assert first.wait(120) == 0
        real = str(uuid.uuid4())
        publish_real_task(redis_server.url, real)
        sent = time.monotonic()
        while real not in model.tasks and time.monotonic() - sent < 10:
            pump()
            time.sleep(0.02)
        latency = time.monotonic() - sent
        assert real in model.tasks, "the real event never showed during the flood"
        assert latency < 2.5, f"the real event took {latency:.1f} s"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pump()
            st = model.stats
            if st.get("worker_events", 0) >= 100_000:
                break
            time.sleep(0.05)
        st = model.stats
        assert st["worker_events"] == 100_000, (st.get("worker_events"), feed.status)
        # the cap held, and every hostname it kept out is counted
        assert len(model.workers) == 5_000
        assert st["workers_refused"] + st["workers_evicted"] >= 95_000
        # once the forged heartbeats expired (freq 2 s -> offline after 4 s), new
        # hostnames evict them, and the evicted ones leave the UI
        time.sleep(4.5)
        second = flood(redis_server.url, "s", 1_000)
        assert second.wait(60) == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pump()
            if sum(1 for h in model.workers if h.startswith("s")) == 1_000:
                break
            time.sleep(0.05)
        newcomers = sum(1 for h in model.workers if h.startswith("s"))
        assert newcomers == 1_000, newcomers
        assert len(model.workers) == 5_000
        assert model.stats["workers_evicted"] >= 1_000
    finally:
        feed.stop()
