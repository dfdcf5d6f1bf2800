"""A worker that dies without worker-offline: offline after expiry, its tasks possibly lost."""

from __future__ import annotations

from console.core.clock import FixedClock
from console.core.state import ClusterState

T0 = 1_767_225_000.0


def _events(host: str = "w1@h"):
    return [
        {"type": "worker-online", "hostname": host, "timestamp": T0, "freq": 2.0},
        {
            "type": "task-received",
            "uuid": "t-run",
            "name": "job",
            "hostname": host,
            "timestamp": T0 + 0.1,
        },
        {"type": "task-started", "uuid": "t-run", "hostname": host, "timestamp": T0 + 0.2},
        {
            "type": "task-received",
            "uuid": "t-wait",
            "name": "job",
            "hostname": host,
            "timestamp": T0 + 0.3,
        },
        {
            "type": "task-received",
            "uuid": "t-done",
            "name": "job",
            "hostname": host,
            "timestamp": T0 + 0.3,
        },
        {"type": "task-succeeded", "uuid": "t-done", "hostname": host, "timestamp": T0 + 0.4},
    ]


def test_unfinished_tasks_of_expired_worker_are_flagged_lost():
    clock = FixedClock(T0 + 1)
    state = ClusterState(clock=clock)
    state.apply_batch(_events())
    state.expire_workers()
    assert not state.task_row("t-run").lost
    clock.advance(10)  # > 2 x freq without a heartbeat
    assert "w1@h" in state.expire_workers()
    assert state.worker_status("w1@h") == "offline"
    assert state.task_row("t-run").lost and state.task_detail("t-run")["lost"]
    assert state.task_row("t-wait").lost
    assert not state.task_row("t-done").lost
    changed, _, _ = state.drain_changes()
    assert {"t-run", "t-wait"} <= changed


def test_lost_flag_clears_when_the_task_reports_again():
    clock = FixedClock(T0 + 1)
    state = ClusterState(clock=clock)
    state.apply_batch(_events())
    clock.advance(10)
    state.expire_workers()
    assert state.task_row("t-run").lost
    state.apply(
        {"type": "task-succeeded", "uuid": "t-run", "hostname": "w1@h", "timestamp": T0 + 11}
    )
    assert not state.task_row("t-run").lost


def test_clean_worker_offline_does_not_flag_tasks():
    clock = FixedClock(T0 + 1)
    state = ClusterState(clock=clock)
    state.apply_batch(_events())
    state.apply({"type": "worker-offline", "hostname": "w1@h", "timestamp": T0 + 0.5})
    clock.advance(10)
    state.expire_workers()
    assert not state.task_row("t-run").lost
