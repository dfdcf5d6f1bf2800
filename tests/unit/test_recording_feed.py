"""ReplayFeed / StaticFeed and delta merging (no broker)."""

from __future__ import annotations

import time

import pytest

from console.core.clock import FixedClock
from console.core.feed import (
    FeedStatus,
    RateHistory,
    ReplayFeed,
    StateDelta,
    StaticFeed,
    merge_deltas,
)
from console.core.recording import Recorder


def _state(clock=None, max_tasks=100_000):
    from console.core.state import ClusterState

    return ClusterState(max_tasks=max_tasks, clock=clock or FixedClock())


def lifecycle(uuid: str, t: float, host: str = "w1@h") -> list[dict]:
    return [
        {
            "type": "task-received",
            "uuid": uuid,
            "name": "proj.add",
            "args": "(1, 2)",
            "kwargs": "{}",
            "hostname": host,
            "timestamp": t,
            "clock": 1,
        },
        {"type": "task-started", "uuid": uuid, "hostname": host, "timestamp": t + 0.1, "clock": 2},
        {
            "type": "task-succeeded",
            "uuid": uuid,
            "result": "3",
            "runtime": 0.1,
            "hostname": host,
            "timestamp": t + 0.2,
            "clock": 3,
        },
    ]


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    events = [{"type": "worker-online", "hostname": "w1@h", "timestamp": 1000.0, "freq": 2.0}]
    for i in range(20):
        events += lifecycle(f"t{i}", 1000.0 + i * 0.05)
    with Recorder(path) as rec:
        rec.write_batch(events)
    return path


def test_replay_load_all_full_then_quiet(recording):
    feed = ReplayFeed(recording, speed=0, clock=FixedClock(), state=_state())
    assert feed.status.mode == "replay"
    assert feed.load_all() == 61
    delta = feed.poll()
    assert delta.full and len(delta.tasks) == 20 and {r.state for r in delta.tasks} == {"SUCCESS"}
    assert [w.hostname for w in delta.workers] == ["w1@h"]
    assert delta.status.mode == "replay-done" and "61 events" in delta.status.message
    assert feed.poll() is None
    detail = feed.task_detail("t3")
    assert detail is not None and feed.task_detail("nope") is None


def test_replay_realtime_in_a_thread(recording):
    feed = ReplayFeed(recording, speed=10.0, clock=time.time, state=_state(clock=time.time))
    feed.start()
    try:
        deadline = time.monotonic() + 5
        seen: dict[str, str] = {}
        modes = set()
        while time.monotonic() < deadline:
            delta = feed.poll()
            if delta is not None:
                modes.add(delta.status.mode)
                seen.update({r.uuid: r.state for r in delta.tasks})
            if feed.done and len(seen) == 20 and feed.poll() is None:
                break
            time.sleep(0.01)
        # 1.15 s of recording at 10x: done quickly but not instantly
        assert feed.done and len(seen) == 20 and set(seen.values()) == {"SUCCESS"}
        assert "replay" in modes or "replay-done" in modes
        assert feed.status.mode == "replay-done"
    finally:
        feed.stop()


def test_replay_stop_interrupts(tmp_path):
    path = tmp_path / "slow.jsonl"
    with Recorder(path) as rec:
        rec.write_batch(lifecycle("a", 0.0) + lifecycle("b", 100.0))
    feed = ReplayFeed(path, speed=1.0, clock=time.time, state=_state(clock=time.time), max_gap=None)
    feed.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    feed.stop()
    assert time.monotonic() - t0 < 1.0
    assert not feed.done or feed.applied < 6


def test_static_feed():
    state = _state()
    state.apply_batch(lifecycle("x", 1.0))
    feed = StaticFeed(state)
    feed.start()
    delta = feed.poll()
    assert delta.full and [r.uuid for r in delta.tasks] == ["x"]
    assert feed.poll() is None
    state.apply_batch(lifecycle("y", 2.0))
    delta = feed.poll()
    assert not delta.full and [r.uuid for r in delta.tasks] == ["y"]
    feed.stop()


def test_merge_newer_wins_and_removals():
    a = StateDelta(
        tasks=[("t1", "old"), ("t2", "x")],
        removed=["t9"],
        workers=[("w", 1)],
        status=FeedStatus(mode="live"),
        full=True,
    )
    b = StateDelta(
        tasks=[("t1", "new"), ("t9", "back")],
        removed=["t2"],
        workers=[("w", 2), ("v", 1)],
        stats={"n": 2},
        rate=3.0,
        status=FeedStatus(mode="reconnecting", gaps=1),
    )
    m = merge_deltas(a, b)
    assert dict(m.tasks) == {"t1": "new", "t9": "back"}
    assert m.removed == ["t2"]
    assert dict(m.workers) == {"w": 2, "v": 1}
    assert m.full and m.stats == {"n": 2} and m.rate == 3.0 and m.status.gaps == 1
    c = StateDelta(tasks=[("z", 1)], full=True)
    assert merge_deltas(m, c) is c


def test_rate_history_by_event_time():
    h = RateHistory(length=5)
    h.add_events(
        [
            {"type": "task-succeeded", "timestamp": 100.2},
            {"type": "task-failed", "timestamp": 100.9},
            {"type": "task-started", "timestamp": 101.0},
            {"type": "task-succeeded", "timestamp": 103.5},
        ]
    )
    assert h.history() == [0.0, 2.0, 0.0, 0.0, 1.0]
    assert h.history(now=105.0) == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert h.rate(window=5) == pytest.approx(0.6)
