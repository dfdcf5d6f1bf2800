"""A real worker SIGKILLed mid-task: offline after heartbeat expiry, its task flagged lost."""

from __future__ import annotations

import signal
import time

from celery import Celery

from console.core.intake import RedisEventSource
from console.core.state import ClusterState


def test_sigkilled_worker_goes_offline_and_its_task_is_possibly_lost(make_cluster):
    c = make_cluster(workers=("victim",), concurrency=1)
    host = c.hostnames[0]
    source = RedisEventSource(c.broker_url)
    source.start(require_connection=True)
    state = ClusterState()
    try:
        app = Celery("killed", broker=c.broker_url, backend=c.backend_url)
        task_id = app.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 60}).id

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state.apply_batch(source.read_batch(timeout=0.2))
            if (
                task_id in state.tasks
                and state.tasks[task_id].state == "STARTED"
                and host in state.workers
            ):
                break
        assert state.tasks[task_id].state == "STARTED"
        assert state.worker_status(host) == "online"

        c.process("victim").signal_group(signal.SIGKILL)  # no worker-offline is ever sent
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state.apply_batch(source.read_batch(timeout=0.2))
            state.expire_workers()
            if state.worker_status(host) == "offline":
                break
        assert state.worker_status(host) == "offline"
        row = state.task_row(task_id)
        assert row.state == "STARTED" and row.lost
    finally:
        source.close()
