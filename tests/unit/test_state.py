"""ClusterState: task state machine, out-of-order events, eviction, workers, rates."""

from __future__ import annotations

import json
import math

import pytest

from console.core.clock import FixedClock
from console.core.state import ClusterState, TaskRow, WorkerRow

T0 = 1_767_225_600.0


def ev(type_: str, uuid: str = "t1", ts: float = T0, **fields: object) -> dict:
    d: dict = {"type": type_, "uuid": uuid, "timestamp": ts, "hostname": "celery@alpha"}
    d.update(fields)
    return d


def received(uuid: str = "t1", ts: float = T0, **fields: object) -> dict:
    base = {
        "name": "proj.add",
        "args": "(1, 2)",
        "kwargs": "{}",
        "retries": 0,
        "root_id": uuid,
        "parent_id": None,
    }
    base.update(fields)
    return ev("task-received", uuid, ts, **base)


def lifecycle(
    uuid: str,
    ts: float,
    name: str = "proj.add",
    host: str = "celery@alpha",
    final: str = "task-succeeded",
) -> list[dict]:
    return [
        received(uuid, ts, name=name, hostname=host),
        ev("task-started", uuid, ts + 0.1, hostname=host),
        ev(final, uuid, ts + 0.2, hostname=host, result="3", runtime=0.1),
    ]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def state(clock: FixedClock) -> ClusterState:
    return ClusterState(max_tasks=1000, clock=clock)


# --------------------------------------------------------------------------- task states


def test_full_lifecycle(state: ClusterState) -> None:
    state.apply(ev("task-sent", ts=T0 - 1, name="proj.add", hostname="client@x"))
    assert state.tasks["t1"].state == "PENDING"
    state.apply_batch(lifecycle("t1", T0))
    t = state.tasks["t1"]
    assert t.state == "SUCCESS"
    assert (t.name, t.args, t.kwargs, t.result, t.runtime) == ("proj.add", "(1, 2)", "{}", "3", 0.1)
    assert t.hostname == "celery@alpha"  # the worker, not the client that sent it
    d = state.task_detail("t1")
    assert d is not None
    assert [s for s, _ in d["timeline"]] == ["PENDING", "RECEIVED", "STARTED", "SUCCESS"]
    assert [ts for _, ts in d["timeline"]] == sorted(ts for _, ts in d["timeline"])
    json.dumps(d)  # JSON-able
    state.check_invariants()


def test_late_received_does_not_overwrite_success(state: ClusterState) -> None:
    state.apply(ev("task-succeeded", ts=T0 + 2, result="3", runtime=0.5))
    state.apply(ev("task-started", ts=T0 + 1))
    state.apply(received(ts=T0))
    t = state.tasks["t1"]
    assert t.state == "SUCCESS"
    assert t.name == "proj.add" and t.args == "(1, 2)"  # filled in by the late event
    assert t.result == "3" and t.runtime == 0.5
    assert t.timestamp == T0 + 2
    assert [s for s, _ in state.task_detail("t1")["timeline"]] == ["RECEIVED", "STARTED", "SUCCESS"]
    assert state.stats.by_state["SUCCESS"] == 1
    assert state.stats.by_state["RECEIVED"] == 0
    state.check_invariants()


def test_failure_then_late_started(state: ClusterState) -> None:
    state.apply(ev("task-failed", ts=T0 + 2, exception="KeyError('x')", traceback="Traceback..."))
    state.apply(ev("task-started", ts=T0 + 1))
    t = state.tasks["t1"]
    assert t.state == "FAILURE"
    assert t.exception == "KeyError('x')" and t.traceback == "Traceback..."


def test_retry_then_started_again_is_a_real_transition(state: ClusterState) -> None:
    state.apply(received(ts=T0))
    state.apply(ev("task-started", ts=T0 + 1))
    state.apply(ev("task-retried", ts=T0 + 2, exception="TransientError()"))
    assert state.tasks["t1"].state == "RETRY"
    state.apply(received(ts=T0 + 3, retries=1))
    assert state.tasks["t1"].state == "RECEIVED"
    assert state.tasks["t1"].retries == 1
    state.apply(ev("task-started", ts=T0 + 4))
    assert state.tasks["t1"].state == "STARTED"
    state.apply(ev("task-succeeded", ts=T0 + 5, result="'ok'"))
    assert state.tasks["t1"].state == "SUCCESS"
    assert state.stats.transitions["RETRY"] == 1
    assert state.stats.transitions["STARTED"] == 2
    state.check_invariants()


def test_late_event_of_previous_attempt_does_not_undo_retry(state: ClusterState) -> None:
    state.apply(ev("task-retried", ts=T0 + 2))
    state.apply(ev("task-started", ts=T0 + 1))  # of the first attempt, arrives late
    assert state.tasks["t1"].state == "RETRY"


def test_stale_retry_does_not_undo_success(state: ClusterState) -> None:
    state.apply(ev("task-succeeded", ts=T0 + 5))
    state.apply(ev("task-retried", ts=T0 + 2))
    assert state.tasks["t1"].state == "SUCCESS"


def test_revoked_and_rejected(state: ClusterState) -> None:
    state.apply(received("a", T0))
    state.apply(ev("task-revoked", "a", T0 + 1, terminated=True, signum=15, expired=False))
    state.apply(ev("task-started", "a", T0 + 0.5))  # late: stays revoked
    assert state.tasks["a"].state == "REVOKED"
    state.apply(received("b", T0))
    state.apply(ev("task-rejected", "b", T0 + 1, requeue=False))
    assert state.tasks["b"].state == "REJECTED"
    assert state.stats.by_state["REVOKED"] == 1 and state.stats.by_state["REJECTED"] == 1
    assert state.task_rate(10.0) == pytest.approx(2 / 10)


def test_duplicate_events_are_idempotent(state: ClusterState) -> None:
    for e in lifecycle("t1", T0) * 3:
        state.apply(dict(e))
    assert state.stats.tasks_seen == 1
    assert state.stats.transitions["SUCCESS"] == 1
    assert state.worker_row("celery@alpha").succeeded == 1
    state.check_invariants()


def test_task_row(state: ClusterState) -> None:
    state.apply(received(args="(" + "x" * 500 + ")", parent_id="p1", root_id="r1"))
    row = state.task_row("t1")
    assert isinstance(row, TaskRow)
    assert row.state == "RECEIVED" and row.received == T0 and row.started is None
    assert len(row.args) == 200 and row.args.endswith("…")
    assert (row.parent_id, row.root_id) == ("p1", "r1")
    assert state.tasks["t1"].args.startswith("(xxx")  # the record keeps the full string


def test_huge_traceback_is_capped_and_marked(clock: FixedClock) -> None:
    state = ClusterState(max_tasks=10, clock=clock, max_text=1000)
    state.apply(ev("task-failed", traceback="T" * 5000, exception=["not", "a", "string"]))
    t = state.tasks["t1"]
    assert t.traceback.startswith("T" * 1000) and "truncated 4000 chars" in t.traceback
    assert t.exception == "['not', 'a', 'string']"


def test_children_index(state: ClusterState) -> None:
    state.apply(received("p", T0))
    state.apply(received("c1", T0 + 1, parent_id="p", root_id="p"))
    state.apply(received("c2", T0 + 1, parent_id="p", root_id="p"))
    assert state.children_of("p") == ["c1", "c2"]
    assert sorted(state.in_root("p")) == ["c1", "c2"]
    assert state.task_detail("p")["children"] == ["c1", "c2"]
    state.check_invariants()


# --------------------------------------------------------------------------- eviction


def test_eviction_finished_first_oldest_first_and_stats_survive(clock: FixedClock) -> None:
    state = ClusterState(max_tasks=5, clock=clock)
    state.apply(received("open1", T0))
    state.apply(received("open2", T0 + 0.5))
    for i in range(3):
        state.apply_batch(lifecycle(f"done{i}", T0 + 1 + i))
    assert len(state.tasks) == 5
    state.drain_changes()
    state.apply(received("new1", T0 + 10))
    assert "done0" not in state.tasks  # oldest finished goes first
    assert {"open1", "open2", "done1", "done2", "new1"} == set(state.tasks)
    changed, evicted, _ = state.drain_changes()
    assert evicted == {"done0"} and "new1" in changed
    state.apply(received("new2", T0 + 11))
    state.apply(received("new3", T0 + 12))
    assert "done1" not in state.tasks and "done2" not in state.tasks
    state.apply(received("new4", T0 + 13))  # no finished left: oldest unfinished
    assert "open1" not in state.tasks and "open2" in state.tasks
    assert len(state.tasks) == 5
    stats = state.stats
    assert stats.by_state["SUCCESS"] == 3  # evicted tasks still counted
    assert stats.evicted == 4
    assert stats.tasks_seen == 9
    assert stats.by_name["proj.add"]["SUCCESS"] == 3
    assert stats.tracked_by_state["SUCCESS"] == 0
    state.check_invariants()


def test_many_tasks_stay_bounded(clock: FixedClock) -> None:
    state = ClusterState(max_tasks=100, clock=clock)
    for i in range(2000):
        state.apply_batch(
            lifecycle(f"t{i}", T0 + i, final="task-failed" if i % 3 else "task-succeeded")
        )
        if i % 7 == 0:
            state.apply(received(f"open{i}", T0 + i, parent_id=f"t{i - 1}"))
    assert len(state.tasks) == 100
    assert state.stats.by_state["FAILURE"] + state.stats.by_state["SUCCESS"] == 2000
    state.check_invariants()
    # the lazy eviction queues are compacted
    assert len(state._finished_q) + len(state._open_q) <= 2 * 100 + 1024


def test_task_names_capped_with_other_bucket(clock: FixedClock) -> None:
    state = ClusterState(max_tasks=50, clock=clock, max_names=10)
    for i in range(30):
        state.apply(received(f"t{i}", T0, name=f"proj.task{i}"))
    names = state.stats.by_name
    assert len(names) <= 11 + 1
    assert names["(other)"]["RECEIVED"] >= 20
    assert sum(sum(v.values()) for v in names.values()) == 30
    state.check_invariants()


# --------------------------------------------------------------------------- workers


def heartbeat(host: str = "celery@alpha", ts: float = T0, **fields: object) -> dict:
    d = {
        "type": "worker-heartbeat",
        "hostname": host,
        "timestamp": ts,
        "freq": 2.0,
        "active": 1,
        "processed": 10,
        "loadavg": [0.5, 0.4, 0.3],
        "sw_ident": "py-celery",
        "sw_ver": "5.7.0",
        "sw_sys": "Linux",
        "pid": 123,
        "clock": 5,
    }
    d.update(fields)
    return d


def test_worker_online_late_offline_by_heartbeat_expiry(
    state: ClusterState, clock: FixedClock
) -> None:
    state.apply({**heartbeat(), "type": "worker-online"})
    assert state.worker_status("celery@alpha") == "online"
    state.drain_changes()
    clock.advance(2.4)
    assert state.worker_status("celery@alpha") == "online"
    clock.advance(0.2)  # 2.6 s > freq + 0.5
    assert state.worker_status("celery@alpha") == "late"
    assert state.expire_workers() == ["celery@alpha"]
    assert state.drain_changes()[2] == {"celery@alpha"}
    clock.advance(1.3)  # 3.9 s: still within freq * 2
    assert state.expire_workers() == []
    clock.advance(0.2)  # 4.1 s > freq * 2: vanished without worker-offline
    assert state.expire_workers() == ["celery@alpha"]
    assert state.worker_row("celery@alpha").status == "offline"
    state.apply(heartbeat(ts=T0 + 5))  # back
    assert state.worker_status("celery@alpha") == "online"


def test_worker_offline_event_and_stale_heartbeat(state: ClusterState, clock: FixedClock) -> None:
    state.apply(heartbeat(ts=T0))
    state.apply({"type": "worker-offline", "hostname": "celery@alpha", "timestamp": T0 + 1})
    assert state.worker_status("celery@alpha") == "offline"
    state.apply(heartbeat(ts=T0 + 0.5))  # sent before the offline, arrived after
    assert state.worker_status("celery@alpha") == "offline"
    state.apply({**heartbeat(ts=T0 + 10), "type": "worker-online"})
    assert state.worker_status("celery@alpha") == "online"


def test_worker_fields_and_rates(state: ClusterState, clock: FixedClock) -> None:
    state.apply(heartbeat())
    for i in range(20):
        state.apply_batch(
            lifecycle(f"a{i}", T0 + i, final="task-failed" if i < 5 else "task-succeeded")
        )
    for i in range(10):
        state.apply_batch(lifecycle(f"b{i}", T0 + i, host="celery@bravo"))
    row = state.worker_row("celery@alpha")
    assert isinstance(row, WorkerRow)
    assert (row.active, row.processed, row.pid, row.sw_ver, row.freq) == (1, 10, 123, "5.7.0", 2.0)
    assert row.loadavg == (0.5, 0.4, 0.3)
    assert (row.succeeded, row.failed) == (15, 5)
    assert row.rate == pytest.approx(20 / 10)
    assert state.worker_rate("celery@bravo") == pytest.approx(10 / 10)
    assert state.task_rate(10.0) == pytest.approx(30 / 10)
    clock.advance(5)
    for i in range(10):
        state.apply_batch(lifecycle(f"c{i}", T0 + 100 + i))
    assert state.task_rate(10.0) == pytest.approx(40 / 10)
    assert state.task_rate(3.0) == pytest.approx(10 / 3)
    clock.advance(30)
    assert state.task_rate(10.0) == 0.0
    assert state.worker_row("celery@alpha").rate == 0.0


def test_worker_cap_evicts_offline_first(clock: FixedClock) -> None:
    state = ClusterState(max_tasks=10, clock=clock, max_workers=3)
    for i in range(3):
        state.apply(heartbeat(f"w{i}"))
    state.apply({"type": "worker-offline", "hostname": "w1", "timestamp": T0})
    state.apply(heartbeat("w3"))
    assert set(state.workers) == {"w0", "w2", "w3"}
    state.apply(heartbeat("w4"))  # all online: the newcomer is not tracked
    assert len(state.workers) == 3 and "w4" not in state.workers
    state.check_invariants()


def test_worker_cap_counts_refusals_and_evicts_the_expired_oldest_first(clock: FixedClock) -> None:
    """16.6: a full cap refuses newcomers (counted) until someone expires, then the
    offline worker seen longest ago goes; the delta names it so the UI drops it too."""
    from console.core.feed import FeedStatus, _DeltaBuilder

    state = ClusterState(max_tasks=10, clock=clock, max_workers=3)
    builder = _DeltaBuilder(state)
    for i in range(3):
        state.apply(heartbeat(f"w{i}"))
        clock.advance(0.5)
    builder.build(FeedStatus(), 0.0, [])
    for i in range(100):
        state.apply(heartbeat(f"flood{i}"))
    assert set(state.workers) == {"w0", "w1", "w2"}
    assert state.stats.workers_refused == 100 and state.stats.as_dict()["workers_refused"] == 100
    clock.advance(4.1)  # w0 expired (freq 2 s x 2), w1 and w2 not yet
    state.apply(heartbeat("w1"))
    state.apply(heartbeat("w2"))
    state.apply(heartbeat("new0"))
    assert set(state.workers) == {"w1", "w2", "new0"}
    assert state.stats.workers_evicted == 1
    delta = builder.build(FeedStatus(), 0.0, [])
    assert delta.workers_removed == ["w0"]
    assert "new0" in {row.hostname for row in delta.workers}
    state.apply({"type": "worker-offline", "hostname": "w2", "timestamp": T0})
    state.apply(heartbeat("new1"))  # an offline event makes room at once
    assert set(state.workers) == {"w1", "new0", "new1"}
    state.check_invariants()


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "task-received",
        [],
        {},
        {"type": None},
        {"type": ["x"]},
        {"type": "task-received"},
        {"type": "task-received", "uuid": 5},
        {"type": "task-received", "uuid": ""},
        {"type": "task-received", "uuid": "x" * 1000},
        {"type": "worker-heartbeat"},
        {"type": "worker-heartbeat", "hostname": {"a": 1}},
        {"type": "not-an-event"},
    ],
)
def test_malformed_events_are_counted_and_skipped(state: ClusterState, bad: object) -> None:
    state.apply(bad)  # type: ignore[arg-type]
    assert state.stats.malformed + state.stats.unknown == 1
    assert not state.tasks and not state.workers


def test_bad_fields_are_dropped_rest_applied(state: ClusterState) -> None:
    state.apply(
        {
            "type": "task-received",
            "uuid": "t1",
            "timestamp": "yesterday",
            "clock": {"a": 1},
            "name": 7,
            "args": [1, 2],
            "retries": -3,
            "runtime": math.nan,
            "hostname": "celery@alpha",
            "root_id": 12,
            "parent_id": ["p"],
        }
    )
    state.apply(
        {
            "type": "task-succeeded",
            "uuid": "t1",
            "timestamp": 1e300,
            "runtime": math.inf,
            "result": b"bytes",
        }
    )
    t = state.tasks["t1"]
    assert t.state == "SUCCESS" and t.timestamp is None and t.runtime is None
    assert t.name is None and t.args == "[1, 2]" and t.retries is None and t.root_id is None
    assert t.result == "b'bytes'"
    assert state.stats.repaired == 2 and state.stats.malformed == 0
    json.dumps(state.task_detail("t1"))
    state.apply(heartbeat(freq="fast", loadavg="high", active=-1, pid=1.5, timestamp=math.nan))
    row = state.worker_row("celery@alpha")
    assert row.freq == 2.0 and row.loadavg is None and row.active == 0
    state.check_invariants()


def test_unknown_task_event_type_is_counted(state: ClusterState) -> None:
    state.apply(ev("task-custom-progress"))
    assert state.stats.unknown == 1 and "t1" not in state.tasks


def test_stats_as_dict_is_plain(state: ClusterState) -> None:
    state.apply_batch(lifecycle("t1", T0))
    d = state.stats.as_dict()
    json.dumps(d)
    assert d["by_state"]["SUCCESS"] == 1 and d["by_name"] == {"proj.add": {"SUCCESS": 1}}
    assert d["events"] == 3 and d["by_type"]["task-started"] == 1


def test_evicted_task_coming_back_with_tiny_cap(clock: FixedClock) -> None:
    state = ClusterState(max_tasks=1, clock=clock)
    for _ in range(3):
        for uuid in ("a", "b", "a", "c", "a"):
            state.apply(received(uuid, T0))
            state.apply(ev("task-succeeded", uuid, T0 + 1))
            state.apply(received(uuid, T0 + 2))  # late, after eviction of others
        assert len(state.tasks) == 1
        state.check_invariants()


def test_retry_ties_broken_by_lamport_clock(state: ClusterState) -> None:
    state.apply(ev("task-started", ts=T0, clock=10))
    state.apply(ev("task-retried", ts=T0, clock=12))
    assert state.tasks["t1"].state == "RETRY"
    state.apply(ev("task-started", ts=T0, clock=11))  # same timestamp, older clock
    assert state.tasks["t1"].state == "RETRY"
    state.apply(ev("task-started", ts=T0, clock=13))
    assert state.tasks["t1"].state == "STARTED"
