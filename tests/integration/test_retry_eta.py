"""Issue 11.7: a retried task's newest attempt does not keep the eta of an earlier one.

A real ``proj`` worker runs a task sent with a countdown (attempt 1 has an eta)
that retries at once (attempt 2 has none).  The events, read by ``ctl events
--json``, go through ctl's ClusterState and through Celery's own
``celery.events.state.State`` side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.proj_cluster import PROJ_PATH, proj_app, proj_env

CTL = str(Path(sys.executable).with_name("ctl"))


def test_newest_attempt_has_its_own_eta(proj_cluster) -> None:
    from celery.events.state import State

    from console.core.state import ClusterState

    proj_app(proj_cluster)
    from proj.tasks import retry_now

    events = subprocess.Popen(
        [CTL, "-A", "proj", "events", "-T", "task-*", "--duration", "15"],
        cwd=PROJ_PATH,
        env=proj_env(proj_cluster),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)  # the event receiver is listening
        tid = "retry-now-eta-1"
        assert retry_now.apply_async(countdown=1, task_id=tid).get(timeout=30) == 1
        time.sleep(1.5)  # the last events reach ctl events
    finally:
        events.terminate()
        out, err = events.communicate(timeout=30)
    stream = [json.loads(line) for line in out.splitlines() if line.strip()]
    mine = [e for e in stream if e.get("uuid") == tid]
    received = [e for e in mine if e["type"] == "task-received"]
    assert len(received) == 2, (mine, err)
    assert received[0]["eta"] and received[1]["eta"] is None

    ours = ClusterState()
    theirs = State()
    for event in stream:
        ours.apply(dict(event))
        theirs.event({"local_received": event.get("timestamp"), **event})
    detail = ours.task_detail(tid)
    assert detail is not None
    assert theirs.tasks[tid].eta is None  # Celery's answer
    assert detail["eta"] is None, detail["eta"]
    assert detail["state"] == "SUCCESS" == theirs.tasks[tid].state
