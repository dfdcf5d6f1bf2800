"""The console's canvas of a canvas that is still waiting (tests/apps/canvases, real workers).

A chord or ``chain(group, group)`` sent with a countdown (the worker holds the ETA
messages, in Redis's ``unacked``) or to a queue nobody consumes (a Redis list, read and
never taken) exists whole only in its messages: events know at most the received header
tasks, each its own root, and the backend knows nothing yet.  The console's LiveFeed
must draw the same canvas as ``ctl revoke --tree --dry-run --json`` (the same code reads
the messages), every member with its kind, and the Canvas screen must show it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.test_canvases_app import (  # noqa: F401  (fixtures)
    URLS,
    app,
    canvases_cluster,
    ctl_json,
    parked,
    purge,
)
from tests.integration.test_console_actions import SIZE, console, sync, wait_until

pytestmark = pytest.mark.integration


def _xsum_chord() -> Any:
    from celery import chord

    from tests.apps.canvases.tasks import add, xsum

    return chord([add.s(i, i) for i in range(3)], xsum.s())


def _pipelines_chord() -> Any:
    from celery import chain, chord

    from tests.apps.canvases.tasks import download, notify_completion, resize, upload

    return chord(
        [chain(download.s(u), resize.s("800x600"), upload.s("s3://bucket/images/")) for u in URLS],
        notify_completion.s(),
    )


def _chain_of_groups() -> Any:
    from celery import chain, group

    from tests.apps.canvases.tasks import add

    return chain(group(add.si(1, 2), add.si(2, 3)), group(add.si(3, 4), add.si(4, 5)))


PIPELINE = ("chain", ["download", "resize", "upload"])
CANVASES: dict[str, tuple[Callable[[], Any], Any]] = {
    "xsum chord": (
        _xsum_chord,
        ("chord", [("group", ["add", "add", "add"]), ("callback", "xsum")]),
    ),
    "chord of three pipelines": (
        _pipelines_chord,
        ("chord", [("group", [PIPELINE, PIPELINE, PIPELINE]), ("callback", "notify_completion")]),
    ),
    "chain(group, group)": (
        _chain_of_groups,
        ("chord", [("group", ["add", "add"]), ("group", ["add", "add"])]),
    ),
}


@pytest.fixture(scope="module")
def feed(canvases_cluster: Any) -> Iterator[Any]:  # noqa: F811
    from console.core.feed import LiveFeed
    from console.core.settings import ClusterSettings

    settings = ClusterSettings.resolve(
        broker=canvases_cluster.broker_url, result_backend=canvases_cluster.backend_url
    )
    live = LiveFeed(settings, rate_hz=20, initial_resync=False)
    live.start()
    try:
        deadline = time.monotonic() + 20
        while live.status.mode != "live" and time.monotonic() < deadline:
            live.poll()
            time.sleep(0.1)
        assert live.status.mode == "live"
        yield live
    finally:
        live.stop()


def short(name: Any) -> str:
    return str(name or "?").rsplit(".", 1)[-1]


def json_shape(d: dict) -> Any:
    """(kind, [...]) / task short name / ("callback", name): ``ctl revoke --tree`` JSON."""
    if d["kind"] in ("task", "callback"):
        return short(d["name"]) if d["kind"] == "task" else ("callback", short(d["name"]))
    return (d["kind"], [json_shape(c) for c in d["children"]])


def node_shape(n: Any) -> Any:
    """The same for a console CanvasNode (a chord body task is role ``callback``)."""
    if n.kind == "task":
        return ("callback", short(n.name)) if n.role == "callback" else short(n.name)
    return (n.kind, [node_shape(c) for c in n.children])


def json_ids(d: dict) -> Any:
    """Ids and missing counts, nested: what must be the same in both."""
    kids = [json_ids(c) for c in d.get("children") or []]
    if d["kind"] in ("task", "callback"):
        return d["id"]
    if d["kind"] == "chain":
        return ("chain", kids)
    return (d["kind"], d["id"], d.get("missing", 0), kids)


def node_ids(n: Any) -> Any:
    kids = [node_ids(c) for c in n.children]
    if n.kind == "task":
        return n.id
    if n.kind == "chain":
        return ("chain", kids)
    missing = n.missing if n.kind == "group" else 0
    return (n.kind, n.id.removeprefix("chord:"), missing, kids)


def send(make: Callable[[], Any], how: str, queue: str) -> Any:
    sig = make()
    if how == "countdown":
        return sig.apply_async(countdown=120)
    return sig.apply_async(queue=queue)


def canvas_ids(result: Any) -> tuple[list[str], list[str]]:
    """Every task id of the result tree, and the first steps among them (what a worker
    holding the countdown has received: what the Tasks screen lists)."""
    out: list[str] = []
    firsts: list[str] = []
    stack = [result]
    while stack:
        cur = stack.pop()
        if cur is None:
            continue
        if getattr(cur, "results", None) is not None:  # a GroupResult
            stack.extend(cur.results)
        else:
            out.append(cur.id)
            if cur.parent is None:
                firsts.append(cur.id)
        stack.append(getattr(cur, "parent", None))
    return list(dict.fromkeys(out)), firsts


@pytest.fixture(scope="module", autouse=True)
def results_let_go(canvases_cluster: Any) -> Iterator[None]:  # noqa: F811
    """A group's results wait on their members (``then``: held by the app's backend) until
    they finish, and these never do.  Before the cluster stops, drop the backend (and so
    the results): they unsubscribe while its Redis still runs, not when a later test's app
    drops it (against a dead port)."""
    yield
    import gc

    from tests.apps.canvases import app as canvases_app
    from tests.integration.test_canvases_app import point

    point(canvases_app, canvases_cluster)
    gc.collect()


@pytest.mark.parametrize("how", ["countdown", "parked"])
@pytest.mark.parametrize("name", list(CANVASES))
def test_console_feed_draws_a_waiting_canvas_like_revoke_tree(
    app: Any,  # noqa: F811
    feed: Any,
    name: str,
    how: str,
) -> None:
    from console.core.feed import CANVAS_BACKEND_BUDGET_S

    make, expected = CANVASES[name]
    queue = parked()
    result = send(make, how, queue)
    result_id = result.id
    ids, firsts = canvas_ids(result)
    try:
        if how == "countdown":  # the worker has taken the ETA messages (task-received)
            time.sleep(0.5)
        doc = ctl_json("--tree", "--dry-run", result_id)["tree"]
        [top] = doc["canvas"]
        assert json_shape(top) == expected
        members = {m["id"] for m in doc["members"] if m["kind"] == "task"}
        assert set(ids) <= members
        # the console's feed, from the callback / last group and from a first member
        for tid in (result_id, firsts[0]):
            feed.poll()
            started = time.monotonic()
            tree = feed.canvas(tid)
            # bounded: backend budget, one scan of the queues, workers' replies meanwhile
            assert (
                time.monotonic() - started
                < feed.request_timeout + 2 * CANVAS_BACKEND_BUDGET_S + 0.5
            )
            assert tree is not None, f"{name} ({how}): no canvas for {tid}"
            assert node_shape(tree) == expected, (tid, tree.shape())
            assert node_ids(tree) == json_ids(top)
            assert {t.id for t in tree.tasks()} == members
            assert all(t.state in ("PENDING", "RECEIVED") for t in tree.tasks())
            assert any(n.source == "message" for n in tree.walk())
    finally:
        if how == "parked":
            purge(queue)
        else:
            app.control.revoke(ids)


@sync
async def test_console_canvas_screen_shows_a_waiting_chord(
    app: Any,  # noqa: F811
    canvases_cluster: Any,  # noqa: F811
) -> None:
    """The Canvas screen, on the real cluster: the chord of three pipelines held by a
    countdown, opened on one of its first steps (a task the Tasks screen lists)."""
    from textual.widgets import Static, Tree

    from console.core.settings import ClusterSettings

    settings = ClusterSettings.resolve(
        broker=canvases_cluster.broker_url, result_backend=canvases_cluster.backend_url
    )
    capp = console(settings, initial="tasks")
    labels: list[str] = []
    async with capp.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: capp.model.status is not None and capp.model.status.mode == "live",
            20,
            "the live feed",
        )
        ids, firsts = canvas_ids(_pipelines_chord().apply_async(countdown=120))
        try:
            # a download step: received by the worker, listed on the Tasks screen
            await wait_until(pilot, lambda: firsts[0] in capp.model.tasks, 15, "the download")
            capp.open_canvas(firsts[0])
            await pilot.pause()

            def bar() -> str:
                return str(capp.screen.query_one("#canvas-bar", Static).render())

            await wait_until(pilot, lambda: "node(s)" in bar(), 15, "the canvas")
            tree = capp.screen.query_one(Tree)
            stack = [tree.root]
            while stack:
                node = stack.pop()
                labels.append(node.label.plain)
                stack.extend(node.children)
            # every task by its id (the labels show ids of up to 40 characters)
            assert all(any(tid in label for label in labels) for tid in ids), labels
            assert "queued messages" in bar(), bar()
        finally:
            app.control.revoke(ids)
    assert labels[0].startswith("chord "), labels
    assert sum(1 for label in labels if label.startswith("group ")) == 1
    assert sum(1 for label in labels if label.startswith("chain ")) == 3
    callbacks = [label for label in labels if label.startswith("callback ")]
    assert len(callbacks) == 1 and "notify_completion" in callbacks[0]
