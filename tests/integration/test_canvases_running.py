"""Running canvases of tests/apps/canvases on a cluster of their own whose tasks sleep
3 s, so steps can be caught running; ``ctl revoke --tree`` beside Celery's answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.cli_runner import invoke
from tests.integration.test_canvases_app import APP, URLS, ctl_json, point

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- running steps


def _slow(make_cluster: Callable, monkeypatch: pytest.MonkeyPatch, track_started: bool) -> Any:
    from tests.apps.canvases import app as canvases_app

    monkeypatch.setenv("CANVASES_PAUSE", "3")
    monkeypatch.setenv("CANVASES_RESULT_EXTENDED", "0")
    monkeypatch.setenv("CANVASES_TRACK_STARTED", "1" if track_started else "0")
    c = make_cluster(workers=("slow",), app_module=APP, queues="celery", concurrency=4)
    for key, value in {
        "CELERY_BROKER_URL": c.broker_url,
        "CELERY_RESULT_BACKEND": c.backend_url,
        "CELERY_APP": APP,
        "NO_COLOR": "1",
    }.items():
        monkeypatch.setenv(key, value)
    point(canvases_app, c)
    return canvases_app


@pytest.fixture
def slow_app(make_cluster: Callable, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A cluster of its own whose tasks sleep 3 s (Celery's defaults otherwise)."""
    yield _slow(make_cluster, monkeypatch, track_started=False)


@pytest.fixture
def tracked_app(make_cluster: Callable, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The same with ``task_track_started``: a running task has a STARTED record in the
    backend, with its ``parent_id`` and ``group_id``."""
    yield _slow(make_cluster, monkeypatch, track_started=True)


def wait_active(app: Any, ids: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = app.control.inspect(timeout=0.5).active() or {}
        running = {t["id"] for tasks in active.values() for t in tasks}
        if set(ids) <= running:
            return
        time.sleep(0.1)
    pytest.fail(f"never running together: {ids}")


def test_running_steps_linked_and_terminated(slow_app: Any) -> None:
    """``chain(download, resize, upload)`` with ``resize`` running: the first id leads to
    it through the backend (the first step's ``children``), the workers say it runs;
    ``--terminate`` stops the chain there.  The last id, not sent yet, is found nowhere:
    it exists only inside the running step's message (exit 1, nothing revoked)."""
    from celery import chain

    from tests.apps.canvases.tasks import download, resize, upload

    res = chain(download.s(URLS[0]), resize.s("800x600"), upload.s("s3://b/")).delay()
    first, middle, last = res.parent.parent.id, res.parent.id, res.id
    wait_active(slow_app, [middle])
    plan = ctl_json("--tree", "--dry-run", first)["tree"]
    by_id = {m["id"]: m for m in plan["members"]}
    assert "active" in by_id[middle]["found_in"] and by_id[first]["state"] == "SUCCESS"
    assert by_id[first]["next"] == [middle] and plan["revoke"] == [middle]
    ghost = invoke("revoke", "--tree", "--dry-run", last)
    assert ghost.exit_code == 1 and "found nowhere" in ghost.stderr
    doc = ctl_json("--tree", "--terminate", first)
    assert doc["revoked"] == [middle]
    deadline = time.monotonic() + 8
    while slow_app.backend.get_task_meta(middle)["status"] != "REVOKED":
        assert time.monotonic() < deadline, "the running step was not terminated"
        time.sleep(0.1)
    time.sleep(0.5)
    assert slow_app.backend.get_task_meta(last)["status"] == "PENDING"  # never sent


def test_tutorial_group_revoke_terminate_beside_celery(tracked_app: Any) -> None:
    """The tutorial's second half: the second group of ``chain(group, group)`` running;
    ``GroupResult(tasks.id, tasks.children).revoke(terminate=True)`` is Celery's answer,
    ``ctl revoke --tree --terminate`` is given only the id a worker log shows (a member's)
    and finds the other through the STARTED records (``task_track_started``)."""
    from celery import chain, group
    from celery.result import GroupResult

    from tests.apps.canvases.tasks import add

    tasks = chain(group(add.si(1, 2), add.si(2, 3)), group(add.si(3, 4), add.si(4, 5))).delay()
    second = [r.id for r in tasks.children]
    wait_active(tracked_app, second, timeout=15)
    celery_ids = {r.id for r in GroupResult(tasks.id, tasks.children).results}
    doc = ctl_json("--tree", "--terminate", second[0])
    assert celery_ids == set(doc["revoked"])
    for tid in second:
        deadline = time.monotonic() + 8
        while tracked_app.backend.get_task_meta(tid)["status"] != "REVOKED":
            assert time.monotonic() < deadline, f"{tid} not terminated"
            time.sleep(0.1)


def test_running_group_without_track_started_says_what_it_knows(slow_app: Any) -> None:
    """With Celery's defaults a running task is in no message and no backend record, and
    ``inspect active`` carries no group or parent: ctl revokes what it can link (the
    given member), lists it, and the group id itself is found nowhere (exit 1)."""
    from celery import chain, group

    from tests.apps.canvases.tasks import add

    tasks = chain(group(add.si(1, 2), add.si(2, 3)), group(add.si(3, 4), add.si(4, 5))).delay()
    second = [r.id for r in tasks.children]
    wait_active(slow_app, second, timeout=15)
    plan = ctl_json("--tree", "--dry-run", second[0])["tree"]
    assert plan["revoke"] == [second[0]]
    assert "active" in {s for m in plan["members"] for s in m["found_in"]}
    res = invoke("revoke", "--tree", "--dry-run", tasks.id)
    assert res.exit_code == 1 and "found nowhere" in res.stderr
