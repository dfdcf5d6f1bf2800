"""The committed demo recording (snapshot-test input) has what the console needs."""

from __future__ import annotations

from pathlib import Path

from console.core.clock import FixedClock
from console.core.feed import ReplayFeed
from console.core.recording import RecordingReader

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_events.jsonl.gz"


def _new_state(clock):
    from console.core.state import ClusterState

    return ClusterState(max_tasks=100_000, clock=clock)


def test_demo_recording_contents():
    assert DEMO.stat().st_size < 200_000
    reader = RecordingReader(DEMO)
    events = list(reader)
    assert reader.malformed == 0
    assert 1000 <= len(events) <= 3000
    kinds = {e["type"] for e in events}
    assert {
        "worker-online",
        "worker-heartbeat",
        "task-sent",
        "task-received",
        "task-started",
        "task-succeeded",
        "task-failed",
        "task-retried",
        "task-revoked",
    } <= kinds
    workers = {e["hostname"] for e in events if e["type"] == "worker-heartbeat"}
    assert workers == {"alpha@demo", "bravo@demo"}
    names = {e.get("name") for e in events if e["type"] == "task-received"}
    assert {
        "sample_proj.pipeline.download",
        "sample_proj.pipeline.notify",
        "sample_proj.tasks.flaky",
        "sample_proj.tasks.sleepy",
    } <= names
    # canvas links: chains/chord members have parents
    assert any(e.get("parent_id") for e in events if e["type"] == "task-received")
    hostile = [
        e for e in events if "\x1b]52;c;" in str(e.get("args", "")) + str(e.get("kwargs", ""))
    ]
    assert hostile and any("[bold red]" in e["args"] for e in hostile)
    # rebased right before FixedClock()'s instant, so replayed workers look alive
    last = max(e["timestamp"] for e in events)
    assert FixedClock()() - 2 < last < FixedClock()()
    text = DEMO.read_bytes()
    assert b"redis://" not in text


def test_demo_replay_is_deterministic():
    rows = []
    for _ in range(2):
        clock = FixedClock()
        feed = ReplayFeed(DEMO, speed=0, clock=clock, state=_new_state(clock))
        n = feed.load_all()
        delta = feed.poll()
        assert delta is not None and delta.full and n > 1000
        assert feed.status.mode == "replay-done"
        rows.append((sorted(delta.tasks), sorted(delta.workers), delta.rate_history, delta.rate))
    assert rows[0] == rows[1]
    tasks = {r.uuid: r for r in rows[0][0]}
    states = {r.state for r in tasks.values()}
    assert {"SUCCESS", "FAILURE", "REVOKED", "STARTED"} <= states
    assert any(v > 0 for v in rows[0][2])  # finished tasks per second, by event time
