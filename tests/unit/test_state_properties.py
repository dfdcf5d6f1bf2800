"""Property-based tests: no event sequence crashes ClusterState or breaks its invariants."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.core.canvas import canvas_tree
from console.core.clock import FixedClock
from console.core.state import STATES, WORKER_STATUSES, ClusterState

T0 = 1_767_225_600.0
TASK_TYPES = [
    "task-sent",
    "task-received",
    "task-started",
    "task-succeeded",
    "task-failed",
    "task-retried",
    "task-revoked",
    "task-rejected",
]
WORKER_TYPES = ["worker-online", "worker-heartbeat", "worker-offline"]

UUIDS = st.sampled_from([f"u{i}" for i in range(12)])
HOSTS = st.sampled_from(["w1", "w2", "w3"])
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([1e300, -1.0, math.nan, "", "x" * 300]),
)

well_formed_task = st.fixed_dictionaries(
    {
        "type": st.sampled_from(TASK_TYPES),
        "uuid": UUIDS,
        "timestamp": st.floats(min_value=T0, max_value=T0 + 100),
        "hostname": HOSTS,
        "clock": st.integers(min_value=0, max_value=10_000),
    },
    optional={
        "name": st.sampled_from(["a", "b", "c"]),
        "parent_id": UUIDS,
        "root_id": UUIDS,
        "retries": st.integers(min_value=0, max_value=5),
        "result": st.text(max_size=5),
        "runtime": st.floats(min_value=0, max_value=10),
        "args": st.text(max_size=5),
    },
)
well_formed_worker = st.fixed_dictionaries(
    {
        "type": st.sampled_from(WORKER_TYPES),
        "hostname": HOSTS,
        "timestamp": st.floats(min_value=T0, max_value=T0 + 100),
    },
    optional={
        "freq": st.floats(min_value=0.1, max_value=60),
        "active": st.integers(0, 10),
        "processed": st.integers(0, 10**6),
        "loadavg": st.lists(st.floats(0, 10), max_size=3),
    },
)
KEYS = [
    "type",
    "uuid",
    "timestamp",
    "hostname",
    "clock",
    "name",
    "parent_id",
    "root_id",
    "retries",
    "result",
    "runtime",
    "args",
    "kwargs",
    "freq",
    "active",
    "loadavg",
    "exception",
    "traceback",
    "eta",
    "expires",
    "local_received",
    "pid",
    "processed",
]
malformed = st.one_of(
    junk,
    st.dictionaries(st.sampled_from(KEYS), junk, max_size=8),
    # well-formed with some fields replaced by junk
    st.tuples(
        st.one_of(well_formed_task, well_formed_worker),
        st.dictionaries(st.sampled_from(KEYS[1:]), junk, max_size=4),
    ).map(lambda pair: {**pair[0], **pair[1]}),
    st.builds(lambda t: {"type": t, "uuid": "u1"}, st.text(max_size=12)),
)
events = st.lists(
    st.one_of(well_formed_task, well_formed_task, well_formed_worker, malformed), max_size=60
)
actions = st.lists(
    st.tuples(
        st.sampled_from(["apply", "advance", "expire", "drain"]),
        events,
        st.floats(min_value=0, max_value=10),
    ),
    min_size=1,
    max_size=5,
)


def check(state: ClusterState) -> None:
    state.check_invariants()
    assert len(state.tasks) <= state.max_tasks
    stats = state.stats
    assert sum(stats.by_state.values()) == stats.tasks_seen
    assert sum(stats.tracked_by_state.values()) == len(state.tasks)
    for uuid, t in state.tasks.items():
        assert t.state in STATES
        row = state.task_row(uuid)
        assert row.uuid == uuid
        json.dumps(state.task_detail(uuid))
    for parent, kids in state.children_index.items():
        for kid in kids:
            assert state.tasks[kid].parent_id == parent
    for host in state.workers:
        assert state.worker_status(host) in WORKER_STATUSES
        assert state.worker_row(host).status in WORKER_STATUSES
    json.dumps(stats.as_dict())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=actions, max_tasks=st.integers(min_value=1, max_value=8))
def test_no_sequence_crashes_or_breaks_invariants(actions, max_tasks: int) -> None:
    clock = FixedClock(T0)
    state = ClusterState(max_tasks=max_tasks, clock=clock, max_workers=2, max_names=2)
    seen_evicted: set[str] = set()
    for action, batch, seconds in actions:
        if action == "apply":
            for e in batch:
                state.apply(e)
        elif action == "advance":
            state.apply_batch(batch)
            clock.advance(seconds)
        elif action == "expire":
            state.expire_workers()
        else:
            changed, evicted, workers = state.drain_changes()
            assert changed <= set(state.tasks)
            assert not (evicted & set(state.tasks))
            assert workers <= set(state.workers) | seen_evicted | workers
            seen_evicted |= evicted
        check(state)
    for uuid in list(state.tasks)[:3]:
        tree = canvas_tree(state, uuid)
        assert tree is not None and tree.count() <= 2_000
        json.dumps(tree.to_dict())


@settings(max_examples=150, deadline=None)
@given(order=st.permutations(range(4)), retry=st.booleans())
def test_final_state_independent_of_arrival_order(order: list[int], retry: bool) -> None:
    """received/started/succeeded (+ a retry before) in any order end in SUCCESS."""
    evs = [
        {"type": "task-received", "uuid": "t", "timestamp": T0 + 1, "hostname": "w", "name": "n"},
        {"type": "task-started", "uuid": "t", "timestamp": T0 + 2, "hostname": "w"},
        {
            "type": "task-succeeded",
            "uuid": "t",
            "timestamp": T0 + 3,
            "hostname": "w",
            "result": "1",
        },
        {
            "type": "task-retried" if retry else "task-sent",
            "uuid": "t",
            "timestamp": T0 + 0.5,
            "hostname": "w",
        },
    ]
    state = ClusterState(clock=FixedClock(T0))
    for i in order:
        state.apply(evs[i])
    t = state.tasks["t"]
    assert t.state == "SUCCESS" and t.name == "n" and t.result == "1"
    assert state.stats.by_state["SUCCESS"] == 1
    check(state)
