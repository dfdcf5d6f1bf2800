"""The task view service (console/core/taskview.py): windows, filters, sorts, throttling.

Pure data: rows are plain tuples shaped like TaskRow.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from console.core.feed import StateDelta
from console.core.state import TaskRow
from console.core.taskview import (
    T_NAME,
    T_STATE,
    T_TS,
    T_UUID,
    TaskViewer,
    Throttle,
    ViewHost,
    ViewSpec,
)

STATES = ("RECEIVED", "STARTED", "SUCCESS", "FAILURE", "RETRY", "REVOKED")


def row(
    i: int,
    name: str = "proj.add",
    state: str = "SUCCESS",
    ts: float | None = None,
    host: str = "alpha@h",
    args: str = "(1, 2)",
) -> TaskRow:
    uid = f"{i:08d}-0000-0000-0000-000000000000"
    return TaskRow(
        uid,
        name,
        state,
        host,
        100.0 + i,
        100.0 + i,
        0.5,
        0,
        args,
        "{}",
        uid,
        None,
        float(i) if ts is None else ts,
        False,
    )


def delta(rows: list[tuple], removed: list[str] = (), full: bool = False) -> Any:
    return SimpleNamespace(tasks=list(rows), changed=[], removed=list(removed), full=full)


def viewer_with(rows: list[tuple]) -> TaskViewer:
    v = TaskViewer()
    v.apply(delta(rows, full=True))
    return v


def brute(rows: dict[str, tuple], spec: ViewSpec) -> list[str]:
    """The list the viewer must produce, computed the obvious way."""
    from console.core.taskview import FIELD_FILTERS, QUICK_FILTERS, TASK_SORTS, _hay_text

    states = QUICK_FILTERS[spec.quick]
    out = [r for r in rows.values() if states is None or r[T_STATE] in states]
    for term in spec.query.lower().split():
        name, sep, value = term.partition(":")
        if sep and name in FIELD_FILTERS:
            out = [r for r in out if value in str(r[FIELD_FILTERS[name]] or "").lower()]
        else:
            out = [r for r in out if term in _hay_text(r)]
    index = TASK_SORTS[spec.sort][1]
    known = sorted(
        (r for r in out if r[index] is not None), key=lambda r: r[index], reverse=spec.reverse
    )
    return [r[T_UUID] for r in known] + [r[T_UUID] for r in out if r[index] is None]


def test_window_is_a_slice_with_counts_and_cursor() -> None:
    v = viewer_with([row(i) for i in range(1000)])
    spec = ViewSpec(offset=10, limit=5, cursor=row(500)[T_UUID])
    w = v.window(spec)
    assert (w.total, w.matched, w.offset) == (1000, 1000, 10)
    assert [r[T_TS] for r in w.rows] == [989.0, 988.0, 987.0, 986.0, 985.0]  # newest first
    assert w.cursor_index == 499
    # no rows asked: no sorting at all, just the counts
    idle = viewer_with([row(i) for i in range(1000)])
    assert idle.window(ViewSpec(limit=0, query="x")).rows == [] and idle._sorted is None
    # offset past the end is clamped to the last row
    assert v.window(ViewSpec(offset=5000, limit=3)).rows == [row(0)]


def test_unknown_values_sort_last_both_ways_and_mixed_types_do_not_raise() -> None:
    rows = [row(1, ts=5.0), row(2, ts=None), row(3, ts=7.0)]
    rows[1] = rows[1][:T_TS] + (None,) + rows[1][T_TS + 1 :]
    v = viewer_with(rows)
    for reverse in (True, False):
        ids = v.ids(ViewSpec(reverse=reverse))
        assert ids[-1] == row(2)[T_UUID]
    mixed = [row(1, name="b"), row(2, name=None), row(3, name=3)]  # type: ignore[arg-type]
    v = viewer_with(mixed)
    assert len(v.ids(ViewSpec(sort="name", reverse=False))) == 3


def test_field_filters_quick_filters_and_words() -> None:
    rows = [
        row(
            i,
            name="proj.add" if i % 2 else "proj.pipeline.resize",
            state=STATES[i % len(STATES)],
            host="alpha@h" if i < 50 else "bravo@h",
        )
        for i in range(100)
    ]
    v = viewer_with(rows)
    by_id = {r[T_UUID]: r for r in rows}
    for spec in (
        ViewSpec(query="pipeline"),
        ViewSpec(query="state:failure"),
        ViewSpec(query="worker:bravo resize"),
        ViewSpec(quick="failed"),
        ViewSpec(quick="running", query="alpha"),
        ViewSpec(query="nothing-like-this"),
    ):
        assert v.ids(spec) == brute(by_id, spec), spec


def test_typing_narrows_the_previous_result_and_matches_a_full_filter() -> None:
    rows = [row(i, name=f"proj.task{i % 37}") for i in range(2000)]
    v = viewer_with(rows)
    by_id = {r[T_UUID]: r for r in rows}
    for typed in ("t", "ta", "tas", "task", "task1", "task12", "task1", "task 3"):
        assert v.ids(ViewSpec(query=typed)) == brute(by_id, ViewSpec(query=typed)), typed


def test_stale_windows_keep_the_order_but_show_current_rows() -> None:
    v = viewer_with([row(i) for i in range(10)])
    spec = ViewSpec(limit=10)
    first = [r[T_UUID] for r in v.window(spec).rows]
    # task 0 becomes the newest and fails; task 9 is evicted; task 10 arrives
    v.apply(delta([row(0, state="FAILURE", ts=99.0), row(10, ts=50.0)], removed=[row(9)[T_UUID]]))
    stale = v.window(spec, fresh=False)
    assert [r[T_UUID] for r in stale.rows] == [u for u in first if u != row(9)[T_UUID]]
    assert stale.rows[-1][T_STATE] == "FAILURE"  # the row is current, its place is not (yet)
    assert (
        len(v.ids(spec, fresh=False)) == 9
    )  # evicted: gone at once; new: shown by the next fresh window
    assert (
        stale.matched == 9 and stale.total == 10
    )  # the new one is listed by the next fresh window
    fresh = v.window(spec, fresh=True)
    assert [r[T_TS] for r in fresh.rows][:2] == [99.0, 50.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.sampled_from(STATES), st.integers(0, 5)), max_size=80
    ),
    st.sampled_from(["", "add", "state:failure", "worker:bravo", "1"]),
    st.sampled_from(["all", "failed", "running"]),
    st.sampled_from(["timestamp", "name", "state", "uuid"]),
    st.booleans(),
)
def test_any_sequence_of_changes_gives_the_obvious_list(
    changes: list[tuple[int, str, int]], query: str, quick: str, sort: str, reverse: bool
) -> None:
    v = TaskViewer()
    truth: dict[str, tuple] = {}
    for i, state, what in changes:
        r = row(
            i,
            state=state,
            name="proj.add" if what % 2 else "proj.mul",
            host="bravo@h" if what > 2 else "alpha@h",
            ts=float(what * 100 + i),
        )
        if what == 0 and r[T_UUID] in truth:
            del truth[r[T_UUID]]
            v.apply(delta([], removed=[r[T_UUID]]))
        else:
            truth[r[T_UUID]] = r
            v.apply(delta([r]))
    spec = ViewSpec(query=query, quick=quick, sort=sort, reverse=reverse, limit=1000)
    got = v.window(spec).rows
    want = brute(truth, spec)
    assert sorted(r[T_UUID] for r in got) == sorted(want)
    index = {"timestamp": T_TS, "name": T_NAME, "state": T_STATE, "uuid": T_UUID}[sort]
    assert [r[index] for r in got] == [truth[u][index] for u in want]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_view_host_trades_rows_for_windows_and_throttles_resorts() -> None:
    rows = {r[T_UUID]: r for r in (row(i) for i in range(100))}
    clock = Clock()
    host = ViewHost(lambda: list(rows.values()), Throttle(ratio=4.0, free=0.0, clock=clock))
    d = StateDelta(tasks=[row(200)])
    assert host.absorb(d).tasks == [row(200)] and d.window is None  # no view asked yet: rows pass
    w = host.request(ViewSpec(limit=3, seq=1))
    assert w.total == 100 and [r[T_TS] for r in w.rows] == [99.0, 98.0, 97.0]
    # data arrives: the delta loses its rows, carries a window instead
    d = host.absorb(StateDelta(tasks=[row(300)]))
    assert d.tasks == [] and d.window is not None and d.window.rows[0][T_TS] == 300.0
    # a re-sort that cost time holds the next one back: same order, current rows
    host.throttle.spent(0.5)  # "that sort took 0.5 s": next fresh one at t = 2.0
    d = host.absorb(StateDelta(tasks=[row(400), row(299, state="FAILURE", ts=299.0)]))
    assert d.window is None or d.window.rows[0][T_TS] == 300.0
    assert host.due is False
    clock.t = 2.5
    assert host.due is True
    w = host.refresh()
    assert w is not None and w.rows[0][T_TS] == 400.0
    assert host.refresh() is None  # nothing new since: nothing sent


def test_local_feed_answers_a_view_at_the_next_poll(tmp_path: Any) -> None:
    from console.core.clock import FixedClock
    from console.core.feed import StaticFeed
    from console.core.state import ClusterState

    clock = FixedClock()
    state = ClusterState(max_tasks=1000, clock=clock)
    for i in range(50):
        state.apply(
            {
                "type": "task-received",
                "uuid": f"t{i:03d}",
                "name": "proj.add" if i % 2 else "proj.mul",
                "hostname": "alpha@h",
                "timestamp": 1000.0 + i,
                "args": "()",
                "kwargs": "{}",
            }
        )
    feed = StaticFeed(state)
    first = feed.poll()
    assert first is not None and len(first.tasks) == 50 and first.window is None
    feed.request_view(ViewSpec(query="mul", limit=10, seq=1))
    d = feed.poll()
    assert d is not None and d.window is not None and d.window.matched == 25
    assert all(r[T_NAME] == "proj.mul" for r in d.window.rows) and len(d.window.rows) == 10
    state.apply(
        {
            "type": "task-received",
            "uuid": "t999",
            "name": "proj.mul",
            "hostname": "alpha@h",
            "timestamp": 2000.0,
            "args": "()",
            "kwargs": "{}",
        }
    )
    d = feed.poll()
    assert (
        d is not None and d.tasks == [] and d.window.matched == 26 and d.window.rows[0][0] == "t999"
    )


def test_a_request_wakes_the_intake_event_wait() -> None:
    """The intake loop waits for events in read_batch; a UI request must end that wait
    (console/core/feed/intake_loop.py IntakeLoop._read_requests calls source.wake())."""
    import threading
    import time as _time

    from console.core.intake import RedisEventSource

    source = RedisEventSource("redis://127.0.0.1:1/0")  # never started: nothing will arrive
    threading.Timer(0.2, source.wake).start()
    t0 = _time.monotonic()
    assert source.read_batch(timeout=30) == []
    assert _time.monotonic() - t0 < 20, "wake() did not end the wait"


def test_a_new_word_is_answered_quickly_then_completed(monkeypatch: Any) -> None:
    """ViewHost(quick=True): the first answer to a new word with many matches is the first
    screenful in the last order with the exact count; finish() then sends the full,
    current window.  A word with few matches is answered in one step."""
    import console.core.taskview as taskview

    monkeypatch.setattr(taskview, "QUICK_SORT_MAX", 100)  # "many" = over 100 here
    rows = {
        r[T_UUID]: r
        for r in (row(i, name="proj.resize" if i % 4 == 0 else "proj.add") for i in range(2000))
    }
    host = ViewHost(
        lambda: list(rows.values()), quick=True, hold=60.0
    )  # no re-sort during the test
    host.request(ViewSpec(limit=20, seq=1))  # the plain list: sorted once
    host.absorb(StateDelta(tasks=[row(5000, name="proj.resize", ts=9999.0)]))  # newer than the sort
    spec = ViewSpec(query="resize", limit=20, seq=2)
    quick = host.request(spec)
    assert quick.matched == 501  # exact: every row's text was searched
    assert len(quick.rows) == 20 and all(r[T_NAME] == "proj.resize" for r in quick.rows)
    assert [r[T_TS] for r in quick.rows] == sorted((r[T_TS] for r in quick.rows), reverse=True)
    full = host.finish()
    assert full is not None and full.matched == 501
    assert full.rows[0][T_TS] == 9999.0  # the complete list is current: the new task is first
    assert host.finish() is None  # nothing owed any more
    # typing on narrows the full result: no quick step (it is cheap), same rows as a fresh list
    narrowed = host.request(ViewSpec(query="resize 19", limit=20, seq=3))
    assert host.finish() is None
    assert all("19" in r[8] or "19" in r[T_UUID] for r in narrowed.rows)
    # a word with few matches (<= QUICK_SORT_MAX): the full answer at once
    rare = host.request(ViewSpec(query="00001999", limit=20, seq=4))
    assert host.finish() is None
    assert [r[T_UUID] for r in rare.rows] == [row(1999)[T_UUID]] and rare.matched == 1


def test_a_full_delta_never_shrinks_the_view() -> None:
    """A full delta carries at most ``max_rows`` task rows (the rest follow later); the view
    over the state still counts and shows every task (it used to drop to those rows)."""
    from console.core.feed import DeltaBuilder, FeedStatus
    from console.core.feed.common import view_host
    from console.core.state import ClusterState

    st = ClusterState(max_tasks=1000)
    for i in range(300):
        st.apply({"type": "task-received", "uuid": f"t{i:04d}", "name": "p.add", "timestamp": i})
    builder = DeltaBuilder(st, max_rows=100)
    host = view_host(st)
    host.absorb(builder.build(FeedStatus(), 0.0, []))  # the first delta: every row
    assert host.request(ViewSpec(limit=5, seq=1)).total == 300
    d = host.absorb(builder.build(FeedStatus(), 0.0, [], full=True))
    assert len(d.tasks) == 0 and host.viewer is not None and len(host.viewer) == 300
    w = host.viewer.window(ViewSpec(limit=5, seq=2))
    assert (w.total, w.matched) == (300, 300)
    assert [r.uuid for r in w.rows] == ["t0299", "t0298", "t0297", "t0296", "t0295"]
    # the rows of a window are the state's current ones
    st.apply({"type": "task-started", "uuid": "t0299", "hostname": "w@h", "timestamp": 400})
    assert host.viewer.window(ViewSpec(limit=1, seq=3)).rows[0].state == "STARTED"


def test_the_filter_text_exists_only_while_words_are_searched() -> None:
    """A viewer over the state holds no copy of the rows, and the filter text only while
    words are searched (console/core/taskview.py HAY_IDLE_S)."""
    from console.core.feed import StateDelta
    from console.core.state import ClusterState
    from console.core.taskview import HAY_IDLE_S

    st = ClusterState()
    for i in range(50):
        name = "p.resize" if i % 5 == 0 else "p.add"
        st.apply({"type": "task-received", "uuid": f"t{i:02d}", "name": name, "timestamp": i})
    v = TaskViewer(st)
    assert v.window(ViewSpec(limit=100, seq=1)).matched == 50 and v._hay is None
    assert v.window(ViewSpec(query="resize", limit=100, seq=2)).matched == 10
    assert v._hay is not None and len(v._hay) == 50
    st.apply({"type": "task-received", "uuid": "t99", "name": "p.resize", "timestamp": 99})
    v.apply(StateDelta(tasks=[st.task_row("t99")]))  # kept up to date while it is used
    assert v.window(ViewSpec(query="resize", limit=100, seq=3)).matched == 11
    v._hay_used -= HAY_IDLE_S + 1  # a minute without a word searched
    v.apply(StateDelta(tasks=[st.task_row("t99")]))
    assert v._hay is None
    assert v.window(ViewSpec(query="resize", limit=100, seq=4)).matched == 11  # rebuilt


def test_a_view_over_the_state_takes_ids_not_rows_and_searches_current_text() -> None:
    """The intake builds no TaskRows for a view that reads the state (``rows=False``):
    deltas carry the changed ids, the filter text of those tasks is brought up to date
    on the next search, and the ids never reach the UI."""
    from console.core.feed import DeltaBuilder, FeedStatus
    from console.core.feed.common import view_host
    from console.core.state import ClusterState

    st = ClusterState(max_tasks=1000)
    for i in range(40):
        st.apply({"type": "task-received", "uuid": f"t{i:02d}", "name": "p.add", "timestamp": i})
    builder = DeltaBuilder(st, max_rows=10)
    host = view_host(st)
    assert not host.reads_state  # no view asked for yet: rows travel to the UI
    first = builder.build(FeedStatus(), 0.0, [])
    assert len(first.tasks) == 10 and first.changed == []
    host.request(ViewSpec(query="started", limit=50, seq=1))
    assert host.reads_state and host.viewer is not None
    d = builder.build(FeedStatus(), 0.0, [], rows=False)  # the other 30, uncapped
    assert d.tasks == [] and len(d.changed) == 30
    assert {r.uuid for r in first.tasks} | set(d.changed) == set(st.tasks)
    d = host.absorb(d)
    assert d.changed == [] and d.tasks == []  # nothing but the window goes to the UI
    assert host.viewer._hay is not None  # "started" is a word: the filter text exists
    for i in (3, 7):
        st.apply({"type": "task-started", "uuid": f"t{i:02d}", "hostname": "w@h", "timestamp": 50})
    host.viewer.apply(builder.build(FeedStatus(), 0.0, [], rows=False))
    assert host.viewer._hay_dirty == {"t03", "t07"}  # noted, not rebuilt yet
    w = host.viewer.window(ViewSpec(query="started", limit=50, seq=2))
    assert sorted(r.uuid for r in w.rows) == ["t03", "t07"] and not host.viewer._hay_dirty
    st.apply({"type": "task-succeeded", "uuid": "t03", "hostname": "w@h", "timestamp": 51})
    host.absorb(builder.build(FeedStatus(), 0.0, [], rows=False))
    w = host.viewer.window(ViewSpec(query="started", limit=50, seq=3))
    assert [r.uuid for r in w.rows] == ["t07"]  # t03's text is current: no longer started


def test_the_filter_text_is_built_in_steps_once_the_filter_opens() -> None:
    """``words`` (the filter input is open): the intake builds the filter text between
    event batches, so the first key typed does not wait for all of it; tasks that change
    or go meanwhile are searched as they are now."""
    from console.core.feed import DeltaBuilder, FeedStatus
    from console.core.feed.common import view_host
    from console.core.state import ClusterState

    st = ClusterState(max_tasks=10_000)
    for i in range(5000):
        name = "p.resize" if i % 10 == 0 else "p.add"
        st.apply({"type": "task-received", "uuid": f"t{i:04d}", "name": name, "timestamp": i})
    builder = DeltaBuilder(st)
    host = view_host(st, hold=0.5)
    host.request(ViewSpec(limit=10, seq=1))
    host.absorb(builder.build(FeedStatus(), 0.0, [], rows=False))
    assert host.viewer is not None and not host.prepare(1.0)  # filter closed: nothing built
    assert host.viewer._hay is None
    host.request(ViewSpec(limit=10, seq=2, words=True))
    steps = 0
    while host.prepare(0.0):  # the smallest step: one chunk of 1,000 per call
        steps += 1
        if steps == 2:  # changes between the steps
            st.apply({"type": "task-started", "uuid": "t0001", "hostname": "w@h", "timestamp": 9})
            st.apply({"type": "task-received", "uuid": "new1", "name": "p.resize", "timestamp": 9})
            host.absorb(builder.build(FeedStatus(), 0.0, [], rows=False))
    assert steps == 4 and host.viewer._hay_todo is None
    w = host.request(ViewSpec(query="resize", limit=1000, seq=3, words=True))
    host.finish()
    expect = {f"t{i:04d}" for i in range(0, 5000, 10)} | {"new1"}
    assert w.matched == len(expect)
    full = host.viewer.window(ViewSpec(query="resize", limit=1000, seq=4))
    assert {r.uuid for r in full.rows} == expect
    assert host.viewer.window(ViewSpec(query="w@h", limit=10, seq=5)).matched == 1
