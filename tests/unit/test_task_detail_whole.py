"""Task detail, whole (issue 13.5): the rare event fields kept, the backend fill, the summary.

Fails on the code before issue 13: the state dropped task-sent's queue / exchange /
routing key / sender and task-revoked's signal, and nothing read the backend.
"""

from __future__ import annotations

from console.core.detail import from_backend, signal_name
from console.core.state import ClusterState
from console.ui.screens.task_detail import summary_text
from tests.unit.test_state import T0, FixedClock, ev, lifecycle


def test_task_sent_and_revoked_fields_reach_the_detail() -> None:
    state = ClusterState(max_tasks=100, clock=FixedClock(T0))
    state.apply(
        ev(
            "task-sent",
            "t1",
            T0 - 1,
            name="proj.add",
            hostname="client@laptop",
            queue="images",
            exchange="",
            routing_key="images",
        )
    )
    state.apply_batch(lifecycle("t1", T0)[:2])
    state.apply(
        ev(
            "task-revoked",
            "t1",
            T0 + 1,
            terminated=True,
            signum=9,
            expired=False,
            hostname="celery@alpha",
        )
    )
    d = state.task_detail("t1")
    assert d is not None
    assert (d["queue"], d["exchange"], d["routing_key"], d["sender"]) == (
        "images",
        "",
        "images",
        "client@laptop",
    )
    assert d["terminated"] is True and d["signum"] == 9
    assert d["worker"] == "celery@alpha"  # the sender is not mistaken for the worker
    text = summary_text(d).plain
    assert "terminated by SIGKILL" in text
    assert "queue images  routing key images  exchange '' (default)" in text
    assert "sender client@laptop" in text
    # most tasks carry none of it: no allocation
    state.apply_batch(lifecycle("t2", T0))
    assert state.tasks["t2"].extra is None
    state.check_invariants()


def test_hostile_rare_fields_are_dropped_or_escaped() -> None:
    state = ClusterState(max_tasks=100, clock=FixedClock(T0))
    state.apply(
        ev("task-sent", "t1", T0, queue={"x": 1}, routing_key="a" * 10_000, hostname="\x1b[2Jc@h")
    )
    d = state.task_detail("t1")
    assert d is not None and d["queue"] is None and d["routing_key"] is None
    assert "\x1b" not in summary_text(d).plain


def test_running_task_shows_elapsed_time() -> None:
    d = {"uuid": "t", "name": "n", "state": "STARTED", "started": 100.0, "eta": "2026-12-03T08:00"}
    text = summary_text(d, now=112.5).plain
    assert "running for 12.5" in text and "eta 2026-12-03T08:00" in text
    assert "running for" not in summary_text({**d, "state": "SUCCESS"}, now=112.5).plain


def test_backend_fills_only_what_the_events_lack() -> None:
    detail = {"uuid": "t", "name": "proj.add", "state": "RECEIVED", "args": "(1, 2)"}
    record = {
        "known": True,
        "state": "FAILURE",
        "name": "other",
        "args": [9],
        "kwargs": {"k": 1},
        "queue": "celery",
        "worker": "w@h",
        "retries": 2,
        "result": {"exc_type": "ValueError", "exc_message": ["bad"]},
        "traceback": "Traceback ...",
        "children": [{"id": "c1", "group": None}],
    }
    filled = from_backend(detail, record)
    assert detail["name"] == "proj.add" and detail["args"] == "(1, 2)"  # the events win
    assert detail["kwargs"] == '{"k": 1}' and detail["queue"] == "celery"
    assert detail["exception"] == "ValueError(bad)" and detail["children"] == ["c1"]
    assert detail["state"] == "RECEIVED"  # a state the events know is not replaced
    assert {"kwargs", "queue", "exception", "traceback", "worker", "retries"} <= set(filled)
    assert "name" not in filled
    assert from_backend({}, {"known": False, "name": "x"}) == []


def test_signal_names() -> None:
    assert signal_name(15) == "SIGTERM" and signal_name("9") == "SIGKILL"
    assert signal_name(None) is None and signal_name(999) == "999"
