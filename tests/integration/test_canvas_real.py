"""canvas_tree on real canvases run by REAL workers (session ``cluster``: alpha + bravo).

The event stream is captured with Celery's own EventReceiver in a thread, fed to a
ClusterState, and the tree shape / node states of ``canvas_tree`` are checked, with
and without the result backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import chain, chord, group

from console.core.canvas import CanvasNode, canvas_tree
from console.core.state import ClusterState

pytestmark = pytest.mark.integration

FINAL = {"SUCCESS", "FAILURE", "REVOKED", "REJECTED"}


class Capture:
    """Every event of the cluster, captured in a thread by celery's EventReceiver."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.receiver: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="canvas-capture", daemon=True)

    def _on_event(self, event: dict) -> None:
        with self.lock:
            self.events.append(event)
        self.ready.set()

    def _run(self) -> None:
        try:
            with self.app.connection() as conn:
                self.receiver = self.app.events.Receiver(conn, handlers={"*": self._on_event})
                # wakeup=True makes every worker send a heartbeat: our "ready" signal
                self.receiver.capture(limit=None, timeout=None, wakeup=True)
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def start(self) -> Capture:
        self.thread.start()
        assert self.ready.wait(20), "no event from the workers within 20 s"
        assert self.error is None, self.error
        return self

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.should_stop = True
        self.thread.join(5)

    def state(self) -> ClusterState:
        state = ClusterState(max_tasks=100_000)
        with self.lock:
            state.apply_batch([dict(e) for e in self.events])
        state.check_invariants()
        return state


@pytest.fixture
def capture(sample_app: Any) -> Iterator[Capture]:
    cap = Capture(sample_app).start()
    try:
        yield cap
    finally:
        cap.stop()


def settled_tree(
    cap: Capture, task_id: str, expected_tasks: int, backend: Any = None, timeout: float = 15.0
) -> CanvasNode:
    """The tree once the events of ``expected_tasks`` finished tasks have arrived."""
    deadline = time.monotonic() + timeout
    tree = None
    while time.monotonic() < deadline:
        tree = canvas_tree(cap.state(), task_id, backend=backend)
        if tree is not None:
            tasks = tree.tasks()
            if len(tasks) >= expected_tasks and all(t.state in FINAL for t in tasks):
                return tree
        time.sleep(0.2)
    raise AssertionError(f"canvas never settled: {tree.shape() if tree else None}")


def test_chain(capture: Capture, sample_app: Any) -> None:
    from sample_proj.tasks import add, mul

    res = chain(add.s(1, 2), add.s(3), mul.s(2)).apply_async()
    assert res.get(timeout=30) == 12
    first = res.parent.parent.id
    tree = settled_tree(capture, first, 3)
    assert tree.shape() == ("chain", ["add", "add", "mul"])
    assert [n.id for n in tree.tasks()] == [first, res.parent.id, res.id]
    assert tree.state == "SUCCESS"
    assert all(n.runtime is not None and n.runtime >= 0 for n in tree.tasks())
    # any member gives the same tree
    assert canvas_tree(capture.state(), res.id).shape() == tree.shape()


def test_chain_with_group_is_a_chord(capture: Capture, sample_app: Any) -> None:
    from sample_proj.tasks import add, xsum

    res = chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s()).apply_async()
    assert res.get(timeout=30) == 7  # (2+1) + (2+2)
    tree = settled_tree(capture, res.id, 4)
    assert tree.shape() == ("chain", ["add", ("chord", [("group", ["add", "add"]), "xsum"])])
    chord_node = tree.children[1]
    assert chord_node.kind == "chord" and chord_node.children[1].id == res.id
    assert chord_node.state == "SUCCESS"


def test_chain_with_failing_step(capture: Capture, sample_app: Any) -> None:
    from sample_proj.tasks import add, always_fails

    res = chain(add.s(1, 1), always_fails.si("nope"), add.s(5)).apply_async()
    with pytest.raises(Exception):  # noqa: B017 - the task's own exception class
        res.get(timeout=30)
    first = res.parent.parent.id
    tree = settled_tree(capture, first, 2)
    # the third step is never sent: only the first message knew about it
    assert tree.shape() == ("chain", ["add", "always_fails"])
    assert [n.state for n in tree.tasks()] == ["SUCCESS", "FAILURE"]
    assert tree.state == "FAILURE"


def test_top_level_chord_events_and_backend(capture: Capture, sample_app: Any) -> None:
    from sample_proj.tasks import add, xsum

    res = chord((add.s(i, i) for i in range(3)), xsum.s()).apply_async()
    assert res.get(timeout=30) == 6
    header = [r.id for r in res.parent.results]
    tree = settled_tree(capture, res.id, 2)
    # events link the callback only to the header member that finished last
    assert tree.shape() == ("chain", ["add", "xsum"])
    assert tree.tasks()[0].id in header
    # the backend (result_extended) knows the members' group id
    tree = settled_tree(capture, res.id, 2, backend=sample_app.backend)
    assert tree.kind == "chord"
    group_node, callback = tree.children
    assert group_node.kind == "group" and group_node.id == res.parent.id
    assert callback.id == res.id and callback.state == "SUCCESS"
    # the header group is not saved by default: the others are counted, not linked
    assert len(group_node.children) + group_node.missing == 3
    # a member's tree is its own unless the backend links it
    assert canvas_tree(capture.state(), header[0]) is not None


def test_chain_of_groups(capture: Capture, sample_app: Any) -> None:
    from sample_proj.tasks import add, xsum

    res = chain(add.s(1, 1), group(add.s(1), add.s(2)), group(xsum.s(), xsum.s())).apply_async()
    assert res.get(timeout=30) == [7, 7]
    body_ids = [r.id for r in res.results]
    tree = settled_tree(capture, body_ids[0], 5)
    assert tree.shape() == (
        "chain",
        ["add", ("chord", [("group", ["add", "add"]), ("group", ["xsum", "xsum"])])],
    )
    body = tree.children[1].children[1]
    assert sorted(n.id for n in body.children) == sorted(body_ids)


def test_image_pipeline_chord_of_chains(capture: Capture, sample_app: Any) -> None:
    from sample_proj.pipeline import process_images

    res = process_images.delay(["s3://in/a.png", "s3://in/b.png"])
    chord_id = res.get(timeout=30)
    tree = settled_tree(capture, chord_id, 8)
    link = ("chain", ["download", "resize", "upload"])
    expected_chord = ("chord", [("group", [link, link]), "notify"])
    # process_images returned right after launching the chord: its children count as the
    # next steps (docs/CANVAS.md), so the launcher and the chord form a chain
    assert tree.shape() in (
        ("chain", ["process_images", expected_chord]),
        ("process_images", [expected_chord]),
    )
    assert tree.tasks()[0].id == res.id
    notify = tree.find(chord_id)
    assert notify is not None and notify.name == "sample_proj.pipeline.notify"
    assert notify.state == "SUCCESS"
    assert len(tree.tasks()) == 8


def test_real_stream_retries_workers_and_stats(
    capture: Capture, sample_app: Any, cluster: Any
) -> None:
    """The same real stream drives the task state machine and the worker model."""
    from sample_proj.tasks import fetch_with_retry

    res = fetch_with_retry.delay("http://example.invalid/x", fail_times=1)
    assert "after 1 retries" in res.get(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = capture.state()
        t = state.tasks.get(res.id)
        if t is not None and t.state == "SUCCESS":
            break
        time.sleep(0.2)
    assert t is not None and t.state == "SUCCESS"
    detail = state.task_detail(res.id)
    kinds = [s for s, _ in detail["timeline"]]
    assert "RETRY" in kinds and kinds[-1] == "SUCCESS"
    assert detail["retries"] == 1
    assert state.stats.transitions["RETRY"] >= 1
    assert state.stats.transitions["STARTED"] >= 2  # started again after the retry
    # workers are known from task events at once; their heartbeat fields come
    # with the next worker-heartbeat (every 2 s): wait for one from each
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        state = capture.state()
        if all(
            h in state.workers and state.worker_row(h).last_heartbeat for h in cluster.hostnames
        ):
            break
        time.sleep(0.2)
    for host in cluster.hostnames:
        # "late" is possible: on a loaded machine a heartbeat can be a few seconds overdue
        assert state.worker_status(host) in ("online", "late"), host
        row = state.worker_row(host)
        assert row.sw_ver and row.pid and row.freq > 0 and row.last_heartbeat
    assert state.stats.malformed == 0
