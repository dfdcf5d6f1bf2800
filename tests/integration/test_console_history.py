"""The console starts with the past: what workers hold and what the result backend stored.

Real workers run tasks *before* the console starts; a LiveFeed (the console's
intake process) must then know them -- finished ones from the result backend
(Redis with ``result_extended`` on and off, SQLite), active / reserved /
scheduled ones from remote control -- and every answer is compared with
Celery's own (``AsyncResult``, ``inspect()``) on the same cluster.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult

from console.core.backfill import backend_records
from console.core.feed import LiveFeed
from console.core.intake import make_source
from console.core.settings import ClusterSettings
from console.core.state import ClusterState
from tests.integration.test_intake import collect, lifecycle_seen

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _restore_celery_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """ClusterSettings.app exports the broker URL to os.environ: undo it after each test."""
    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.setenv(key, os.environ.get(key, ""))
        if not os.environ[key]:
            monkeypatch.delenv(key)


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _client(cluster: Any, backend: str | None = None) -> Celery:
    app = Celery(
        "client", broker=cluster.broker_url, backend=backend or cluster.backend_url,
        set_as_current=False,
    )  # fmt: skip
    app.conf.broker_read_url = app.conf.broker_write_url = cluster.broker_url
    return app


def _feed(cluster: Any, history: int, backend: str | None = None) -> LiveFeed:
    settings = ClusterSettings.resolve(
        broker=cluster.broker_url, result_backend=backend or cluster.backend_url
    )
    feed = LiveFeed(settings, rate_hz=20, history=history)
    feed.start()
    return feed


def _detail(feed: LiveFeed, uuid: str, timeout: float = 20.0, **want: Any) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        d = feed.task_detail(uuid)
        if d is None or any(d.get(k) != v for k, v in want.items()):
            return None
        return d

    found: dict[str, Any] = _wait(ready, timeout, f"{uuid} {want} in the console")
    return found


def test_console_starts_with_finished_active_reserved_and_scheduled_tasks(make_cluster) -> None:
    c = make_cluster(workers=("past",), concurrency=1)
    client = _client(c)
    ok = client.send_task("sample_proj.tasks.add", args=(40, 2))
    assert ok.get(timeout=30) == 42
    bad = client.send_task("sample_proj.tasks.always_fails", kwargs={"reason": "nightly"})
    bad.get(timeout=30, propagate=False)
    busy = client.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 15})
    _wait(lambda: busy.state == "STARTED", 20, "sleepy started")
    queued = client.send_task("sample_proj.tasks.add", args=(1, 1))  # behind sleepy
    later = client.send_task("sample_proj.tasks.add", args=(2, 2), countdown=300)
    # Celery's own view of the worker, side by side
    insp = client.control.inspect(timeout=2)
    reserved = _wait(lambda: insp.reserved(), 10, "reserved")[c.hostnames[0]]
    scheduled = _wait(lambda: insp.scheduled(), 10, "scheduled")[c.hostnames[0]]
    assert queued.id in {r["id"] for r in reserved}
    eta = next(s["eta"] for s in scheduled if s["request"]["id"] == later.id)

    feed = _feed(c, history=100)
    try:
        d = _detail(feed, ok.id)
        view = AsyncResult(ok.id, app=client)
        assert (d["state"], d["name"], d["args"]) == (view.state, view.name, "(40, 2)")
        assert d["result"] == repr(view.result) == "42"
        assert d["worker"] == view.worker == c.hostnames[0]
        assert d["succeeded"] == view.date_done.timestamp()
        assert d["source"] == "backend" and d["missing"] == []
        d = _detail(feed, bad.id)
        view = AsyncResult(bad.id, app=client)
        assert d["state"] == view.state == "FAILURE"
        assert d["exception"] == f"ValueError({str(view.result)!r})"
        assert "always_fails" in d["traceback"] and d["kwargs"] == "{'reason': 'nightly'}"
        d = _detail(feed, busy.id)
        assert d["state"] == "STARTED" and d["name"] == "sample_proj.tasks.sleepy"
        assert d["source"] == "events"  # inspect active, not the backend's STARTED record
        d = _detail(feed, queued.id)
        assert (d["state"], d["name"], d["args"]) == ("RECEIVED", "sample_proj.tasks.add", "(1, 1)")
        d = _detail(feed, later.id)
        assert (d["state"], d["eta"]) == ("RECEIVED", eta)
        # live events take over: the sleepy task finishes, the queued one runs
        assert busy.get(timeout=40) == 15
        _detail(feed, busy.id, state="SUCCESS")
        d = _detail(feed, queued.id, state="SUCCESS")
        assert d["result"] == "2"
        _wait(lambda: feed.status.loading == "", 10, "the progress line to go")
    finally:
        feed.stop()

    feed = _feed(c, history=0)  # 0: remote control only, nothing from the backend
    try:
        _detail(feed, later.id)
        time.sleep(1.0)
        assert feed.task_detail(ok.id) is None
    finally:
        feed.stop()
    later.revoke()


def test_without_result_extended_the_backend_gives_state_and_result_only(
    make_cluster, tmp_path, monkeypatch
) -> None:
    # the same project, with result_extended off (as a user's celeryconfig would have it)
    (tmp_path / "plain_proj.py").write_text(
        "from sample_proj.celery import app\n\napp.conf.result_extended = False\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    c = make_cluster(workers=("plain",), concurrency=1, app_module="plain_proj")
    client = _client(c)
    ok = client.send_task("sample_proj.tasks.add", args=(3, 4))
    assert ok.get(timeout=30) == 7
    view = AsyncResult(ok.id, app=client)
    assert view.name is None and view.args is None  # Celery's own view has no name either

    feed = _feed(c, history=100)
    try:
        d = _detail(feed, ok.id)
        assert (d["state"], d["result"]) == (view.state, repr(view.result))
        assert d["name"] is None and d["args"] is None
        assert d["source"] == "backend"
        assert d["missing"] == ["name", "hostname", "args", "kwargs"]
    finally:
        feed.stop()


def test_sqlite_backend_and_a_task_seen_only_as_started(make_cluster, tmp_path) -> None:
    backend = f"db+sqlite:///{tmp_path / 'results.sqlite'}"
    c = make_cluster(workers=("db",), concurrency=1, result_backend=backend)
    client = _client(c, backend)
    client.conf.result_extended = True  # the database backend's TaskExtended table
    settings = ClusterSettings.resolve(broker=c.broker_url, result_backend=backend)
    source = make_source(settings.app, kind="auto")
    source.start(require_connection=True)
    try:
        collect(source, lambda evs: True, timeout=0.5)  # subscription settles
        res = client.send_task("sample_proj.tasks.add", args=(20, 22))
        events = collect(source, lifecycle_seen(res.id))
    finally:
        source.close()
    bad = client.send_task("sample_proj.tasks.always_fails", kwargs={"reason": "db"})
    bad.get(timeout=30, propagate=False)
    received = next(e for e in events if e["type"] == "task-received")

    # a console that connected after task-received: only task-started / -succeeded
    state = ClusterState()
    state.apply_batch([e for e in events if e["type"] != "task-received"])
    assert state.tasks[res.id].name is None
    records, hist = backend_records(settings, limit=100)
    assert hist.stopped is None and hist.total == 2
    state.merge_backend(records)
    t = state.tasks[res.id]
    assert (t.name, t.args, t.kwargs) == (received["name"], received["args"], received["kwargs"])
    assert t.state == "SUCCESS" and t.result == "42"
    assert t.retries == received["retries"] == 0
    assert state.task_detail(res.id)["backend_fields"] == ["name", "args", "kwargs", "retries"]
    state.check_invariants()

    feed = _feed(c, history=100, backend=backend)
    try:
        d = _detail(feed, bad.id)
        view = AsyncResult(bad.id, app=client)
        assert d["state"] == view.state == "FAILURE" and d["name"] == view.name
        assert d["exception"] == f"ValueError({str(view.result)!r})"
        assert _detail(feed, res.id)["result"] == "42"
    finally:
        feed.stop()


def test_a_resync_after_a_gap_loads_what_finished_meanwhile(make_cluster) -> None:
    """The intake loop's resync on a gap (a reconnect): the backend's record of a task that
    finished while the console was cut off completes the task it saw start."""
    import multiprocessing

    from console.core.feed import _IntakeLoop

    c = make_cluster(workers=("gap",), concurrency=1)
    up_r, up_w = multiprocessing.Pipe(duplex=False)
    down_r, _down_w = multiprocessing.Pipe(duplex=False)
    config = {"broker_url": c.broker_url, "result_backend": c.backend_url, "history": 100}
    loop = _IntakeLoop(config, up_w, down_r)
    try:
        client = _client(c)
        res = client.send_task("sample_proj.tasks.add", args=(5, 6))
        assert res.get(timeout=30) == 11
        done = AsyncResult(res.id, app=client).date_done.timestamp()
        # seen starting, then the connection dropped: task-succeeded never arrived
        loop.state.apply(
            {"type": "task-started", "uuid": res.id, "hostname": c.hostnames[0],
             "timestamp": done - 0.2}
        )  # fmt: skip
        assert loop.state.tasks[res.id].state == "STARTED"
        loop._resync("gap")
        assert loop.resync_thread is not None
        loop.resync_thread.join(30)
        assert not loop.resync_thread.is_alive()
        while not loop.backfill_out.empty():
            loop._merge_backfill()
        t = loop.state.tasks[res.id]
        assert (t.state, t.name, t.args, t.result) == ("SUCCESS", "sample_proj.tasks.add",
                                                       "(5, 6)", "11")  # fmt: skip
        assert t.succeeded == done and loop.loading == ""
        assert "resynced after gap: 1 workers" in loop.resync_message
    finally:
        loop.source.close()
        up_r.close()


def test_a_backend_that_cannot_be_listed_is_named_in_the_header(cluster) -> None:
    """rpc:// results go only to the caller: the console says why it has no past."""
    feed = _feed(cluster, history=100, backend="rpc://")
    try:
        _wait(
            lambda: feed.status.loading.startswith("history not loaded") or None,
            20,
            "the header's note on the history",
        )
        assert "rpc" in feed.status.loading
        time.sleep(1.0)  # the note stays (it is not a progress line)
        assert feed.status.loading.startswith("history not loaded")
    finally:
        feed.stop()
