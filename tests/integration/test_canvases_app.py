"""The tutorials' canvases on a cluster of their own (tests/apps/canvases, real workers).

Each test builds a canvas the way the tutorials do, then puts ``ctl revoke --tree``
beside Celery's own answer on the same cluster: ``GroupResult(id, children).revoke()``
(what it revokes is the group's children) and ``inspect revoked`` (what the workers
recorded).  Canvases that must stay unsent are parked in a queue nobody consumes
(a Redis list: the messages are read, never taken) or held by a countdown.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli_runner import invoke

pytestmark = pytest.mark.integration

APP = "tests.apps.canvases"
URLS = [
    "https://example.com/image1.jpg",
    "https://example.com/image2.jpg",
    "https://example.com/image3.jpg",
]


@pytest.fixture(scope="module", params=["defaults", "result_extended"])
def canvases_cluster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One worker of the app, run with Celery's defaults (as the tutorials do) and again
    with ``result_extended`` (the backend then also stores name, args, worker)."""
    import os

    from console.demo.cluster import LocalCluster

    saved = os.environ.get("CANVASES_RESULT_EXTENDED")
    os.environ["CANVASES_RESULT_EXTENDED"] = "1" if request.param == "result_extended" else "0"
    c = LocalCluster(workers=("canvas",), app_module=APP, queues="celery", concurrency=4)
    try:
        c.start()
        yield c
    finally:
        # the tests' AsyncResults unsubscribe from the backend when collected: let them go
        # while its Redis still runs, not at interpreter exit against a dead port
        import gc

        gc.collect()
        c.stop()
        if saved is None:
            os.environ.pop("CANVASES_RESULT_EXTENDED", None)
        else:
            os.environ["CANVASES_RESULT_EXTENDED"] = saved


@pytest.fixture
def app(canvases_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.apps.canvases import app as canvases_app

    for key, value in {
        "CELERY_BROKER_URL": canvases_cluster.broker_url,
        "CELERY_RESULT_BACKEND": canvases_cluster.backend_url,
        "CELERY_APP": APP,
        "NO_COLOR": "1",
    }.items():
        monkeypatch.setenv(key, value)
    point(canvases_app, canvases_cluster)
    return canvases_app


def point(app: Any, cluster: Any) -> None:
    """Point the (module-global) app at ``cluster``; drop pools and backends cached for
    an earlier cluster (ctl pins broker_read_url / broker_write_url on this same app)."""
    app.conf.broker_url = cluster.broker_url
    app.conf.result_backend = cluster.backend_url
    app.conf.broker_read_url = app.conf.broker_write_url = cluster.broker_url
    app.conf.result_extended = os.environ.get("CANVASES_RESULT_EXTENDED") == "1"
    app._pool = None
    app.backend_cls = None
    app.__dict__.pop("backend", None)
    app.__dict__.pop("amqp", None)
    app._backend_cache = None
    if hasattr(app._local, "backend"):
        del app._local.backend
    # ctl builds apps of its own; canvases without an app of their own (chord, group)
    # pick the current one
    app.set_current()


def ctl_json(*args: str, code: int = 0) -> dict:
    res = invoke("revoke", *args, "--json")
    assert res.exit_code == code, (res.stdout, res.stderr)
    return json.loads(res.stdout)


def parked() -> str:
    return f"parked-{uuid.uuid4().hex[:8]}"


def purge(queue: str) -> None:
    invoke("purge", "-Q", queue, "--yes")


def shape(node: dict) -> Any:
    """("chord", [...]) / task short name: the structure, without ids."""
    if node["kind"] in ("task", "callback"):
        name = (node.get("name") or "?").rsplit(".", 1)[-1]
        return name if node["kind"] == "task" else ("callback", name)
    return (node["kind"], [shape(c) for c in node["children"]])


def celery_revoked(app: Any) -> set[str]:
    replies = app.control.inspect(timeout=1.0).revoked() or {}
    return {tid for ids in replies.values() for tid in ids}


def test_unknown_id_is_an_error_not_a_success(app: Any) -> None:
    ghost = str(uuid.uuid4())
    res = invoke("revoke", "--tree", ghost)
    assert res.exit_code == 1
    assert "found nowhere" in res.stderr and ghost in res.stderr
    assert ghost not in celery_revoked(app)  # nothing was broadcast
    doc = ctl_json("--tree", "--dry-run", ghost, code=1)
    assert doc["tree"]["unknown"] == [ghost] and doc["revoked"] == []


def test_chain_of_groups_second_group_id_like_group_result_revoke(app: Any) -> None:
    """The tutorial: ``tasks = chain(group, group).delay()``; ``tasks.id`` is the second
    group's id, which no task has."""
    from celery import chain, group
    from celery.result import GroupResult

    from tests.apps.canvases.tasks import add

    queue = parked()
    tasks = chain(group(add.si(1, 2), add.si(2, 3)), group(add.si(3, 4), add.si(4, 5))).apply_async(
        queue=queue
    )
    first = [r.id for r in tasks.parent.results]
    second = [r.id for r in tasks.children]
    try:
        plan = ctl_json("--tree", "--dry-run", tasks.id)["tree"]
        assert plan["unknown"] == []
        kinds = {m["id"]: m["kind"] for m in plan["members"]}
        assert kinds[tasks.id] == kinds[tasks.parent.id] == "group"
        groups = {m["id"]: m for m in plan["members"] if m["kind"] == "group"}
        # both groups, each with its own id and its own members
        assert sorted(groups[tasks.parent.id]["members"]) == sorted(first)
        assert sorted(groups[tasks.id]["members"]) == sorted(second)
        assert groups[tasks.parent.id]["callback"] == tasks.id  # chain(group, group) = chord
        [top] = plan["canvas"]
        assert shape(top) == ("chord", [("group", ["add", "add"]), ("group", ["add", "add"])])
        assert top["children"][0]["id"] == tasks.parent.id
        assert top["children"][1]["id"] == tasks.id

        doc = ctl_json("--tree", tasks.id)
        # Celery's own answer: GroupResult(id, children).revoke() revokes the children
        celery_ids = {r.id for r in GroupResult(tasks.id, tasks.children).results}
        assert celery_ids <= set(doc["revoked"])
        # ... and every other unfinished task of the canvas
        assert set(doc["revoked"]) == set(first) | set(second)
        assert tasks.id not in doc["revoked"]  # a group id is no task
        assert set(doc["revoked"]) <= celery_revoked(app)
    finally:
        purge(queue)


def test_group_id_with_members_in_the_backend(app: Any) -> None:
    """A finished group saved by the client (``GroupResult.save()``): restored from
    ``celery-taskset-meta-ID`` like ``GroupResult.restore`` does; nothing left -> exit 1."""
    from celery import group
    from celery.result import GroupResult

    from tests.apps.canvases.tasks import add

    res = group(add.si(1, 2), add.si(2, 3), add.si(3, 4)).delay()
    res.save()
    assert res.get(timeout=20) == [3, 5, 7]
    restored = GroupResult.restore(res.id, app=app)
    doc = ctl_json("--tree", "--dry-run", res.id)
    groups = [m for m in doc["tree"]["members"] if m["id"] == res.id]
    assert groups and sorted(groups[0]["members"]) == sorted(r.id for r in restored.results)
    assert groups[0]["state"] == "SUCCESS" and groups[0]["missing"] == 0
    out = invoke("revoke", "--tree", res.id)
    assert out.exit_code == 1 and "nothing left" in out.stderr


def test_chord_of_three_pipelines_structure_and_revoke(app: Any) -> None:
    """``chord([download | resize | upload] * 3, notify_completion.s())`` parked: the
    callback, the group, the three chains; revoking the chord's group id revokes all."""
    from celery import chain, chord

    from tests.apps.canvases.tasks import download, notify_completion, resize, upload

    queue = parked()
    result = chord(
        [chain(download.s(u), resize.s("800x600"), upload.s("s3://bucket/images/")) for u in URLS],
        notify_completion.s(),
    ).apply_async(queue=queue)
    gid = result.parent.id
    try:
        plan = ctl_json("--tree", "--dry-run", result.id)["tree"]
        [top] = plan["canvas"]
        pipeline = ("chain", ["download", "resize", "upload"])
        assert shape(top) == (
            "chord",
            [("group", [pipeline, pipeline, pipeline]), ("callback", "notify_completion")],
        )
        assert top["children"][0]["id"] == gid and top["callback"] == result.id
        assert top["children"][0]["missing"] == 0 and top["children"][0]["size"] == 3
        by_id = {m["id"]: m for m in plan["members"]}
        assert by_id[result.id]["role"] == "callback"
        uploads = [m for m in plan["members"] if (m["name"] or "").endswith(".upload")]
        assert len(uploads) == 3 and all(u["group_id"] == gid for u in uploads)
        human = invoke("revoke", "--tree", "--dry-run", gid)
        assert human.exit_code == 0, human.stderr
        lines = human.stdout.splitlines()
        assert lines[0].startswith("chord PENDING") and "would revoke 10 task(s):" in lines
        assert sum(1 for line in lines if line.strip().startswith("chain ")) == 3
        # the group id (result.parent.id) gives the same canvas
        doc = ctl_json("--tree", gid)
        assert len(doc["revoked"]) == 10 and result.id in doc["revoked"]
        assert set(doc["revoked"]) <= celery_revoked(app)
    finally:
        purge(queue)


def test_xsum_chord_header_running_counts_missing(app: Any) -> None:
    """A chord whose header members are running: ``.s`` (the chord size Celery keeps in
    the backend) says how many members there are, the workers say which are running."""
    from celery import chord

    from tests.apps.canvases.tasks import add, xsum

    result = chord([add.s(i, i) for i in range(3)], xsum.s()).apply_async(countdown=1.5)
    gid = result.parent.id
    time.sleep(0.5)  # the worker holds the ETA messages (reserved, in `unacked`)
    plan = ctl_json("--tree", "--dry-run", gid)["tree"]
    [top] = plan["canvas"]
    assert shape(top) == ("chord", [("group", ["add", "add", "add"]), ("callback", "xsum")])
    assert top["children"][0]["size"] == 3
    assert result.get(timeout=20) == 6


# --------------------------------------------------------------------------- canvas graph
# What the console's Canvas screen draws: console.core.canvas.canvas_tree over the events
# of the run (Celery's own EventReceiver) and the result backend, as the LiveFeed does.


@pytest.fixture
def capture(app: Any) -> Iterator[Any]:
    from tests.integration.test_canvas_real import Capture

    cap = Capture(app).start()
    try:
        yield cap
    finally:
        cap.stop()


def settled(cap: Any, task_id: str, tasks: int, backend: Any, timeout: float = 20.0) -> Any:
    from console.core.canvas import canvas_tree

    deadline = time.monotonic() + timeout
    tree = None
    while time.monotonic() < deadline:
        tree = canvas_tree(cap.state(), task_id, backend=backend)
        if tree is not None:
            done = [t for t in tree.tasks() if t.state == "SUCCESS"]
            if len(done) >= tasks and tree.state == "SUCCESS":
                return tree
        time.sleep(0.2)
    raise AssertionError(f"canvas never settled: {tree.shape() if tree else None}")


def test_graph_chain_of_si_tasks(capture: Any, app: Any) -> None:
    from celery import chain

    from tests.apps.canvases.tasks import add

    res = chain(add.si(1, 2), add.si(2, 3), add.si(3, 4)).delay()
    assert res.get(timeout=20) == 7
    tree = settled(capture, res.id, 3, app.backend)
    assert tree.shape() == ("chain", ["add", "add", "add"])
    # the worker really runs with (or without) result_extended
    assert ("name" in app.backend.get_task_meta(res.id)) is app.conf.result_extended
    assert [t.id for t in tree.tasks()] == [res.parent.parent.id, res.parent.id, res.id]


def test_graph_client_group(capture: Any, app: Any) -> None:
    from celery import group

    from tests.apps.canvases.tasks import add

    res = group(add.si(1, 2), add.si(2, 3), add.si(3, 4)).delay()
    assert res.get(timeout=20) == [3, 5, 7]
    tree = settled(capture, res.results[0].id, 3, app.backend)
    assert tree.shape() == ("group", ["add", "add", "add"])
    assert tree.id == res.id and tree.missing == 0
    assert sorted(t.id for t in tree.tasks()) == sorted(r.id for r in res.results)
    same_from_every_member(capture, tree, app.backend)


def test_graph_chain_of_two_groups_has_two_group_ids(capture: Any, app: Any) -> None:
    from celery import chain, group

    from tests.apps.canvases.tasks import add

    tasks = chain(group(add.si(1, 2), add.si(2, 3)), group(add.si(3, 4), add.si(4, 5))).delay()
    assert tasks.get(timeout=20) == [7, 9]
    tree = settled(capture, tasks.results[0].id, 4, app.backend)
    assert tree.shape() == ("chord", [("group", ["add", "add"]), ("group", ["add", "add"])])
    first, second = tree.children
    # Celery stores the second group's members with the *first* group's id; the second
    # group's own id (tasks.id) was only inside the first group's messages
    assert first.id == tasks.parent.id and second.id != first.id
    assert app.backend.get_task_meta(tasks.results[0].id)["group_id"] == tasks.parent.id
    assert sorted(t.id for t in second.tasks()) == sorted(r.id for r in tasks.results)
    same_from_every_member(capture, tree, app.backend)


def test_graph_xsum_chord(capture: Any, app: Any) -> None:
    from celery import chord

    from tests.apps.canvases.tasks import add, xsum

    res = chord((add.s(i, i) for i in range(4)), xsum.s()).delay()
    assert res.get(timeout=20) == 12
    tree = settled(capture, res.id, 5, app.backend)
    assert tree.shape() == ("chord", [("group", ["add", "add", "add", "add"]), "xsum"])
    group_node, callback = tree.children
    assert group_node.id == res.parent.id and group_node.missing == 0
    assert callback.id == res.id and callback.role == "callback"
    same_from_every_member(capture, tree, app.backend)


def test_graph_chord_of_three_pipelines(capture: Any, app: Any) -> None:
    from celery import chain, chord

    from tests.apps.canvases.tasks import download, notify_completion, resize, upload

    res = chord(
        [chain(download.s(u), resize.s("800x600"), upload.s("s3://bucket/images/")) for u in URLS],
        notify_completion.s(),
    ).delay()
    assert res.get(timeout=30).startswith("All done")
    tree = settled(capture, res.id, 10, app.backend)
    pipeline = ("chain", ["download", "resize", "upload"])
    assert tree.shape() == (
        "chord",
        [("group", [pipeline, pipeline, pipeline]), "notify_completion"],
    )
    assert tree.children[0].id == res.parent.id and tree.children[1].id == res.id
    same_from_every_member(capture, tree, app.backend)


def same_from_every_member(cap: Any, tree: Any, backend: Any) -> None:
    """The Canvas screen opens on whatever task the operator picked: every member of the
    canvas must give the same tree."""
    from console.core.canvas import canvas_tree

    state = cap.state()
    for task in tree.tasks():
        other = canvas_tree(state, task.id, backend=backend)
        assert other is not None and other.shape() == tree.shape(), task.name


def test_console_feed_reads_the_backend_for_the_canvas(app: Any, canvases_cluster: Any) -> None:
    """The console's LiveFeed builds the canvas in its intake process with the result
    backend: a client-sent chord is a chord of all its members, not ``add | xsum``."""
    from celery import chord

    from console.core.feed import CANVAS_BACKEND_BUDGET_S, LiveFeed
    from console.core.settings import ClusterSettings
    from tests.apps.canvases.tasks import add, xsum

    settings = ClusterSettings.resolve(
        broker=canvases_cluster.broker_url, result_backend=canvases_cluster.backend_url
    )
    feed = LiveFeed(settings, rate_hz=20, initial_resync=False)
    feed.start()
    try:
        deadline = time.monotonic() + 20
        while feed.status.mode != "live" and time.monotonic() < deadline:
            feed.poll()
            time.sleep(0.1)
        time.sleep(0.5)
        res = chord((add.s(i, i) for i in range(4)), xsum.s()).delay()
        assert res.get(timeout=20) == 12
        tree = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            feed.poll()
            started = time.monotonic()
            tree = feed.canvas(res.id)
            assert (
                time.monotonic() - started
                < feed.request_timeout + 2 * CANVAS_BACKEND_BUDGET_S + 0.5
            )
            if tree is not None and tree.state == "SUCCESS" and len(tree.tasks()) == 5:
                break
            time.sleep(0.3)
        assert tree is not None
        assert tree.shape() == ("chord", [("group", ["add", "add", "add", "add"]), "xsum"])
        assert tree.children[0].id == res.parent.id and tree.children[1].role == "callback"
    finally:
        feed.stop()
