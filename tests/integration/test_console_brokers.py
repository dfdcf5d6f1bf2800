"""The console's Queues, Workers, Tasks and Canvas screens (and the Revoke-canvas
confirmation) on Redis and on RabbitMQ: the same cases, parametrized over
``broker_cluster`` (real broker, real workers, Redis result backend)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from console.core.settings import ClusterSettings
from console.demo.cluster import LocalCluster
from console.ui.model import T_NAME, T_STATE, W_STATUS
from tests.integration.test_brokers_cli import _delete_queue, _publish
from tests.integration.test_console_actions import SIZE, console, sync, wait_until

pytestmark = pytest.mark.integration


def _settings(c: LocalCluster, env: dict[str, str], app: str | None = None) -> ClusterSettings:
    return ClusterSettings.resolve(
        app=app,
        broker=c.broker_url,
        result_backend=c.backend_url,
        broker_api=env.get("CTL_BROKER_API"),
    )


@sync
async def test_queues_screen_shows_waiting_messages(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    queue = "parked"  # a task queue of the app that no worker consumes
    _delete_queue(broker_cluster.broker_url, queue)
    _publish(broker_cluster.broker_url, queue, 9)
    try:
        settings = _settings(broker_cluster, broker_env, app="tests.integration.parked_app")
        app = console(settings, initial="queues")
        async with app.run_test(size=SIZE) as pilot:

            def depth() -> int | None:
                rows = {d.name: d for d in getattr(app.screen, "depths", [])}
                return rows[queue].messages if queue in rows else None

            await wait_until(pilot, lambda: depth() == 9, 20, f"{queue} with 9 messages")
            rows = {d.name: d for d in app.screen.depths}
            assert rows["celery"].consumers == 2
            assert app.screen.error is None
    finally:
        _delete_queue(broker_cluster.broker_url, queue)


@sync
async def test_revoke_canvas_says_what_it_cannot_read_before_confirming(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    from textual.widgets import Static

    from console.ui.screens.confirm import ConfirmScreen

    app = console(_settings(broker_cluster, broker_env), initial="workers")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.request_action("revoke_canvas", str(uuid.uuid4()))
        await pilot.pause(0.2)
        await wait_until(
            pilot,
            # pushed is not composed: wait for its text too (a loaded machine shows the gap)
            lambda: isinstance(app.screen, ConfirmScreen) and app.screen.query("#confirm-text"),
            5,
            "the confirmation",
        )
        text = str(app.screen.query_one("#confirm-text", Static).render())
        if broker_cluster.broker_url_override:
            assert "Cannot read queued messages" in text
        else:
            assert "Cannot read" not in text
        await pilot.press("n")


@contextlib.asynccontextmanager
async def _live_console(
    c: LocalCluster, env: dict[str, str], initial: str
) -> AsyncIterator[tuple[Any, Any]]:
    """The console on ``initial``, its event feed live (so no event sent next is missed)."""
    app = console(_settings(c, env), initial=initial)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: app.model.status is not None and app.model.status.mode == "live",
            20,
            "the feed live",
        )
        yield app, pilot


def _sender(c: LocalCluster) -> Any:
    from celery import Celery

    return Celery(
        "ctl-test-sender", broker=c.broker_url, backend=c.backend_url, set_as_current=False
    )


@sync
async def test_workers_screen_lists_the_workers(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    from textual.widgets import DataTable

    async with _live_console(broker_cluster, broker_env, "workers") as (app, pilot):
        hosts = set(broker_cluster.hostnames)
        await wait_until(
            pilot,
            lambda: hosts <= {h for h, w in app.model.workers.items() if w[W_STATUS] == "online"},
            30,
            "both workers online in the console",
        )
        table = app.screen.query_one(DataTable)
        await wait_until(
            pilot,
            lambda: hosts <= {str(k.value) for k in table.rows},
            10,
            "both worker rows on the Workers screen",
        )


@sync
async def test_tasks_screen_shows_finished_tasks(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    from console.ui.widgets.task_list import TaskList

    async with _live_console(broker_cluster, broker_env, "tasks") as (app, pilot):
        sender = _sender(broker_cluster)
        results = [sender.send_task("sample_proj.tasks.mul", args=(i, 7)) for i in range(4)]
        assert [r.get(timeout=30) for r in results] == [0, 7, 14, 21]
        task_list = app.screen.query_one(TaskList)

        def shown() -> bool:
            # what the Tasks screen's list holds (its window), not only the model
            rows: dict[str, Any] = {row[0]: row for row in task_list.window.rows}
            return all(
                r.id in rows
                and rows[r.id][T_STATE] == "SUCCESS"
                and rows[r.id][T_NAME] == "sample_proj.tasks.mul"
                for r in results
            )

        await wait_until(pilot, shown, 20, "the four tasks SUCCESS on the Tasks screen")


def _tree_ids(node: Any) -> list[str]:
    out = [str(node.data)] if node.data else []
    for child in node.children:
        out += _tree_ids(child)
    return out


def _chain(c: LocalCluster, x: int, y: int, z: int) -> tuple[Any, list[str]]:
    """add(x, y) | add(z) | mul(2), finished; its result and its three task ids in order."""
    sender = _sender(c)
    add = "sample_proj.tasks.add"
    res = (
        sender.signature(add, args=(x, y))
        | sender.signature(add, args=(z,))
        | sender.signature("sample_proj.tasks.mul", args=(2,))
    ).apply_async()
    assert res.get(timeout=30) == (x + y + z) * 2
    return res, [res.parent.parent.id, res.parent.id, res.id]


async def _open_canvas(app: Any, pilot: Any, uuid: str, members: list[str]) -> tuple[Any, str]:
    """The Canvas screen of ``uuid`` once it shows ``members`` (reloaded like "r"
    until then, 20 s at most); its Tree and its bar's text."""
    from textual.widgets import Static, Tree

    app.open_canvas(uuid)
    await wait_until(
        pilot,
        lambda: app.current_mode == "canvas" and app.screen.query(Tree),
        5,
        "the Canvas screen",
    )
    deadline = time.monotonic() + 20
    tree = app.screen.query_one(Tree)
    while _tree_ids(tree.root) != members and time.monotonic() < deadline:
        app.screen.load()  # a canvas that settled after the first load
        await pilot.pause(0.5)
        tree = app.screen.query_one(Tree)
    return tree, str(app.screen.query_one("#canvas-bar", Static).render())


@sync
async def test_canvas_screen_shows_a_chain(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    async with _live_console(broker_cluster, broker_env, "tasks") as (app, pilot):
        _res, members = _chain(broker_cluster, 1, 2, 3)
        await wait_until(
            pilot,
            lambda: all(
                (row := app.model.tasks.get(m)) is not None and row[T_STATE] == "SUCCESS"
                for m in members
            ),
            20,
            "the chain's three tasks in the console",
        )
        # the middle step: the whole chain either way
        tree, bar = await _open_canvas(app, pilot, members[1], members)
        assert _tree_ids(tree.root) == members, _tree_ids(tree.root)
        assert "4 node(s)" in bar and "from canvas graph" in bar, bar
        labels = [str(n.label) for n in (tree.root, *tree.root.children)]
        assert sum("SUCCESS" in label for label in labels) >= 3, labels


@sync
async def test_canvas_screen_shows_a_chain_finished_before_it_started(
    broker_cluster: LocalCluster, broker_env: dict[str, str]
) -> None:
    """No event of the chain reached this console: its members come from the result
    backend (the console's start-up history, or the canvas graph's own backend reads:
    the bar names the second; which one wins the race depends on timing)."""
    res, members = _chain(broker_cluster, 2, 2, 5)
    async with _live_console(broker_cluster, broker_env, "tasks") as (app, pilot):
        tree, bar = await _open_canvas(app, pilot, res.id, members)
        assert _tree_ids(tree.root) == members, (bar, _tree_ids(tree.root))
        assert "4 node(s)" in bar and "from canvas graph" in bar, bar
