"""ClusterState.merge_backend: records from the result backend, merged with events' precedence.

Plain data only (the readers are tested against real backends in
tests/integration/test_console_history.py).
"""

from __future__ import annotations

from typing import Any

from console.core.backfill import record_of
from console.core.state import ClusterState

T0 = 1_700_000_000.0


def _state(**kw: Any) -> ClusterState:
    return ClusterState(clock=lambda: T0 + 1000, **kw)


def _rec(uuid: str, state: str, done: float | None, **fields: Any) -> dict[str, Any]:
    return {"uuid": uuid, "state": state, "done": done, **fields}


def test_a_newer_event_beats_an_older_backend_record() -> None:
    st = _state()
    # the task was retried: the backend still says FAILURE from the first run (t0+10) ...
    st.apply({"type": "task-received", "uuid": "a", "name": "n", "timestamp": T0 + 20})
    st.apply({"type": "task-started", "uuid": "a", "hostname": "w1", "timestamp": T0 + 21})
    st.merge_backend([_rec("a", "FAILURE", T0 + 10, exception="E('old')")])
    t = st.tasks["a"]
    assert t.state == "STARTED"  # a higher-ranked state, but older than the latest event
    assert t.timestamp == T0 + 21
    # ... the record fills in what events did not say, nothing else
    assert t.exception == "E('old')"
    st.check_invariants()


def test_a_backend_record_never_overrides_what_an_event_said() -> None:
    st = _state()
    st.apply({"type": "task-succeeded", "uuid": "b", "result": "'live'", "timestamp": T0 + 5})
    st.merge_backend([_rec("b", "SUCCESS", T0 + 5, result="'stored'", name="tasks.b")])
    t = st.tasks["b"]
    assert t.state == "SUCCESS" and t.result == "'live'"
    assert t.name == "tasks.b"  # only filled in
    assert st.task_detail("b")["backend_fields"] == ["name"]
    assert st.task_detail("b")["source"] == "events"


def test_a_newer_final_record_completes_a_task_that_finished_while_away() -> None:
    st = _state()
    st.apply({"type": "task-started", "uuid": "c", "hostname": "w1", "timestamp": T0})
    st.merge_backend([_rec("c", "SUCCESS", T0 + 3, result="42", name="tasks.add", args="(40, 2)")])
    t = st.tasks["c"]
    assert (t.state, t.result, t.timestamp, t.succeeded) == ("SUCCESS", "42", T0 + 3, T0 + 3)
    # the task seen only as task-started gets its name and arguments
    assert (t.name, t.args) == ("tasks.add", "(40, 2)")
    assert st.task_row("c").backend is True
    assert st.stats.by_name["tasks.add"] == {"SUCCESS": 1}
    assert st.stats.transitions["SUCCESS"] == 0  # events only
    assert st.task_rate(10.0) == 0.0  # history is not throughput
    assert "w1" in st.workers and st.workers["w1"].succeeded == 0
    st.check_invariants()


def test_events_after_the_backend_still_apply() -> None:
    st = _state()
    st.merge_backend([_rec("d", "RETRY", None, exception="Retry('x')")])
    assert st.tasks["d"].state == "RETRY"
    st.apply({"type": "task-received", "uuid": "d", "name": "n", "timestamp": T0 + 1})
    st.apply({"type": "task-succeeded", "uuid": "d", "result": "1", "timestamp": T0 + 2})
    assert st.tasks["d"].state == "SUCCESS"
    # a late older event still does not go back
    st.merge_backend([_rec("d", "FAILURE", T0 + 1.5)])
    assert st.tasks["d"].state == "SUCCESS"
    st.check_invariants()


def test_a_record_without_date_never_changes_a_tracked_state() -> None:
    st = _state()
    st.apply({"type": "task-received", "uuid": "e", "timestamp": T0})
    st.merge_backend([_rec("e", "STARTED", None, hostname="w2")])
    assert st.tasks["e"].state == "RECEIVED"
    assert st.tasks["e"].hostname == "w2"


def test_backend_only_tasks_no_workers_and_a_full_state_evicts_nothing() -> None:
    st = _state(max_tasks=3)
    for i in range(3):
        st.apply({"type": "task-received", "uuid": f"live{i}", "timestamp": T0 + i})
    assert st.merge_backend([_rec("old", "SUCCESS", T0 - 100, hostname="gone-worker")]) == 0
    assert set(st.tasks) == {"live0", "live1", "live2"}
    st2 = _state()
    st2.merge_backend([_rec("old", "FAILURE", T0 - 100, hostname="gone-worker")])
    assert "gone-worker" not in st2.workers  # a task of the past is no sign of life
    detail = st2.task_detail("old")
    assert detail["source"] == "backend" and detail["failed"] == T0 - 100
    assert detail["missing"] == ["name", "args", "kwargs"]  # result_extended off
    st2.check_invariants()


def test_bad_records_are_skipped() -> None:
    st = _state()
    bad: list[Any] = [
        {},
        {"uuid": 3, "state": "SUCCESS"},
        {"uuid": "x", "state": "PROGRESS"},  # a custom state
        {"uuid": "y", "state": ["SUCCESS"]},
        {"uuid": "z", "state": "SUCCESS", "done": float("nan"), "name": 7, "retries": "1"},
        None,
    ]
    st.merge_backend(bad)
    assert list(st.tasks) == ["z"]
    assert st.tasks["z"].name is None and st.tasks["z"].timestamp is None
    st.check_invariants()


def test_record_of_a_ctl_tasks_record() -> None:
    rec = record_of(
        {
            "id": "f",
            "state": "FAILURE",
            "name": "tasks.f",
            "worker": "w@h",
            "args": [1, "a"],
            "kwargs": {"k": 2},
            "result": {"exc_type": "ValueError"},
            "exception": {"type": "ValueError", "message": "boom"},
            "traceback": "Traceback ...",
            "date_done": "2026-12-03T08:00:00+00:00",
            "retries": 0,
            "parent_id": None,
        }
    )
    assert rec["args"] == "(1, 'a')" and rec["kwargs"] == "{'k': 2}"
    assert rec["exception"] == "ValueError('boom')" and rec["result"] is None
    assert rec["done"] == 1_796_284_800.0
    assert record_of({"id": "g", "state": "SUCCESS", "result": [1, 2]})["result"] == "[1, 2]"


def test_the_tasks_view_filters_backend_rows_on_since() -> None:
    import time

    from console.core.feed import StateDelta
    from console.core.taskview import TaskViewer, ViewSpec

    now = time.time()
    st = ClusterState(clock=lambda: now)
    st.merge_backend(
        [
            _rec("old", "FAILURE", now - 7200, name="tasks.report"),
            _rec("new", "FAILURE", now - 300, name="tasks.report"),
        ]
    )
    st.apply({"type": "task-received", "uuid": "live", "name": "tasks.report", "timestamp": now})
    viewer = TaskViewer()
    viewer.apply(StateDelta(tasks=[st.task_row(u) for u in st.tasks], full=True))

    def ids(query: str) -> list[str]:
        return viewer.ids(ViewSpec(query=query, limit=10))

    assert ids("since:1h") == ["live", "new"]
    assert ids("since:1") == ["live"]  # typing on: 1 s, then 1 h (not a narrowing)
    assert ids("since:1h") == ["live", "new"]
    assert ids("until:1h report") == ["old"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now - 3600))
    assert ids(f"since:{iso.lower()} state:failure") == ["new"]
    # not a time (yet): an error the bar shows, nothing listed, never everything
    bad = viewer.window(ViewSpec(query="since:soon", limit=10))
    assert bad.rows == [] and bad.error is not None and "bad time 'soon'" in bad.error


def test_the_header_shows_the_progress_line_while_the_past_loads() -> None:
    from console.core.feed import FeedStatus
    from console.ui.widgets.header import status_text

    loading = FeedStatus(mode="live", last_event=T0, loading="history: read 3,000 of ~100,000")
    assert status_text(loading).plain.endswith("│ history: read 3,000 of ~100,000")
    assert "history" not in status_text(FeedStatus(mode="live", last_event=T0)).plain
    forged = FeedStatus(mode="live", loading="history: \x1b[2Jx")
    assert "\x1b" not in status_text(forged).plain


def test_the_task_detail_says_what_came_from_the_backend() -> None:
    from console.ui.screens.task_detail import summary_text

    st = _state()
    st.merge_backend([_rec("p", "SUCCESS", T0, result="1")])
    text = summary_text(st.task_detail("p") or {}).plain
    assert "finished before the console connected); not stored there: name, worker" not in text
    assert "finished before the console connected); not stored there: name, hostname" in text
    st.apply({"type": "task-started", "uuid": "q", "hostname": "w", "timestamp": T0})
    st.merge_backend([_rec("q", "SUCCESS", T0 + 1, name="tasks.q", args="(1,)")])
    detail = st.task_detail("q") or {}
    assert detail["sources"] == {"name": "backend", "args": "backend", "state": "backend"}
    text = summary_text(detail).plain
    assert "name tasks.q  (from the backend)" in text and "source" not in text
    st.apply({"type": "task-received", "uuid": "r", "name": "n", "timestamp": T0})
    assert "source" not in summary_text(st.task_detail("r") or {}).plain
