"""The console against a real cluster (real Redis, real sample_proj workers): every action.

Each test drives the app with Pilot exactly as a person would (keys, forms,
the confirmation dialog) and then checks the cluster itself, not only what
the console says.  Session cluster for reversible actions; a private cluster
(``make_cluster``) for shutting a worker down.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from textual.widgets import DataTable

from console.core.remote import RemoteControl
from console.core.settings import ClusterSettings
from console.ui.app import ConsoleApp, create_app
from console.ui.model import T_STATE, W_STATUS
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.form import FormScreen
from console.ui.widgets.task_list import TaskList

SIZE = (160, 48)


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def wait_until(pilot: Any, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def settings_for(cluster: Any) -> ClusterSettings:
    return ClusterSettings.resolve(broker=cluster.broker_url, result_backend=cluster.backend_url)


def console(settings: ClusterSettings, initial: str = "workers") -> ConsoleApp:
    return create_app(
        settings,
        poll_interval=0,
        refresh=0.1,
        initial=initial,
        cursor_blink=False,
        action_timeout=3.0,
    )


async def fill_form(pilot: Any, app: ConsoleApp, **values: str) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, FormScreen), 5, "the parameter form")
    for name, value in values.items():
        app.screen.query_one(f"#field-{name}").value = value  # type: ignore[attr-defined]
    await pilot.click("#ok")
    await pilot.pause()


async def confirm(pilot: Any, app: ConsoleApp, *expect_in_description: str) -> str:
    await wait_until(
        pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "the confirmation dialog"
    )
    # as an operator does: answer once the dialog is on screen (earlier keys are dropped)
    await wait_until(pilot, lambda: app.screen.shown_at is not None, 5, "the dialog to be painted")
    description = app.screen.description  # type: ignore[attr-defined]
    for part in expect_in_description:
        assert part in description, description
    before = len(app.action_log)
    await pilot.press("y")
    await wait_until(pilot, lambda: len(app.action_log) > before, 15, "the action's answer")
    return description


async def select_worker(pilot: Any, app: ConsoleApp, host: str) -> None:
    await wait_until(pilot, lambda: host in app.model.workers, 20, f"worker {host} in the console")
    table = app.screen.query_one(DataTable)
    await wait_until(
        pilot,
        lambda: table.row_count >= 1 and host in [str(k.value) for k in table.rows],
        10,
        "the worker row",
    )
    table.move_cursor(row=table.get_row_index(host))
    await pilot.pause()
    assert app.screen.current_worker() == host  # type: ignore[attr-defined]


def pool_size(rc: RemoteControl, host: str) -> int:
    stats = rc.inspect("stats", destination=[host], timeout=2.0).replies[host]
    return len(stats["pool"]["processes"])


@sync
async def test_revoke_and_terminate_running_task(
    cluster: Any, cluster_env: Any, sample_app: Any
) -> None:
    settings = settings_for(cluster)
    res = sample_app.send_task("sample_proj.tasks.sleepy", args=(30,))
    app = console(settings, initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: (row := app.model.tasks.get(res.id)) and row[T_STATE] == "STARTED",
            25,
            "the sleepy task to start",
        )
        await pilot.press("slash", *res.id[:13], "enter")
        await pilot.pause()
        assert app.screen.query_one(TaskList).selected == res.id
        await pilot.press("X")
        await fill_form(pilot, app, signal="SIGKILL")
        await confirm(pilot, app, res.id, "SIGKILL")
        done = app.action_log[-1]
        assert done.ok, done.summary
        assert any(h in done.summary for h in cluster.hostnames), done.summary
        await wait_until(
            pilot,
            lambda: app.model.tasks[res.id][T_STATE] == "REVOKED",
            15,
            "the task to become REVOKED in the console",
        )
    assert res.state == "REVOKED"


@sync
async def test_rate_limit_and_time_limit(cluster: Any, cluster_env: Any) -> None:
    settings = settings_for(cluster)
    host = cluster.hostnames[0]
    rc = RemoteControl(settings)
    app = console(settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await select_worker(pilot, app, host)
            await pilot.press("l")
            await fill_form(pilot, app, task_name="sample_proj.tasks.xsum", rate_limit="1000/s")
            await confirm(pilot, app, "sample_proj.tasks.xsum", "1000/s", host)
            assert app.action_log[-1].ok, app.action_log[-1].summary
            assert f"{host}: ok: new rate limit set successfully" in app.action_log[-1].summary
            await pilot.press("L")
            await fill_form(pilot, app, task_name="sample_proj.tasks.xsum", soft="50", hard="60")
            await confirm(pilot, app, "soft=50s", "hard=60s")
            assert app.action_log[-1].ok, app.action_log[-1].summary
            # autoscale is not enabled on these workers: not offered (no form, nothing sent);
            # with --autoscale: tests/integration/test_console_autoscale.py
            await wait_until(pilot, lambda: host in app.worker_stats, 10, "the worker's stats")
            before = len(app.action_log)
            await pilot.press("a")
            await pilot.pause(0.3)
            assert not isinstance(app.screen, FormScreen)
            assert len(app.action_log) == before
        registered = rc.inspect(
            "registered",
            destination=[host],
            timeout=2.0,
            taskinfoitems=["rate_limit", "time_limit"],
        ).replies[host]
        line = next(x for x in registered if x.startswith("sample_proj.tasks.xsum"))
        assert "rate_limit=1000/s" in line and "time_limit=60.0" in line, line
    finally:
        rc.control(
            "rate_limit", destination=[host], task_name="sample_proj.tasks.xsum", rate_limit="0"
        )
        rc.control(
            "time_limit",
            destination=[host],
            task_name="sample_proj.tasks.xsum",
            soft=None,
            hard=None,
        )


@sync
async def test_pool_grow_and_shrink(cluster: Any, cluster_env: Any) -> None:
    settings = settings_for(cluster)
    host = cluster.hostnames[1]
    rc = RemoteControl(settings)
    before = pool_size(rc, host)
    app = console(settings)
    async with app.run_test(size=SIZE) as pilot:
        await select_worker(pilot, app, host)
        await pilot.press("plus")
        await confirm(pilot, app, "Grow the pool", host)
        assert app.action_log[-1].ok, app.action_log[-1].summary
        await wait_until(pilot, lambda: pool_size(rc, host) == before + 1, 10, "the pool to grow")
        await pilot.press("minus")
        await confirm(pilot, app, "Shrink the pool", host)
        assert app.action_log[-1].ok, app.action_log[-1].summary
        await wait_until(
            pilot, lambda: pool_size(rc, host) == before, 10, "the pool to shrink back"
        )


@sync
async def test_add_and_cancel_consumer(cluster: Any, cluster_env: Any) -> None:
    settings = settings_for(cluster)
    host = cluster.hostnames[0]
    rc = RemoteControl(settings)
    queue = "ctl-console-extra"

    def consumes() -> bool:
        replies = rc.inspect("active_queues", destination=[host], timeout=2.0).replies
        return queue in [q["name"] for q in replies.get(host, [])]

    app = console(settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await select_worker(pilot, app, host)
            await pilot.press("o")
            await fill_form(pilot, app, queue=queue)
            await confirm(pilot, app, queue, "start consuming")
            assert app.action_log[-1].ok, app.action_log[-1].summary
            assert consumes()
            await pilot.press("O")
            await fill_form(pilot, app, queue=queue)
            await confirm(pilot, app, queue, "stop consuming")
            assert app.action_log[-1].ok, app.action_log[-1].summary
            assert not consumes()
    finally:
        rc.control("cancel_consumer", destination=[host], queue=queue)


@sync
async def test_purge_queue(cluster: Any, cluster_env: Any, sample_app: Any) -> None:
    from kombu import Queue

    from console.core.queues import queue_depths

    settings = settings_for(cluster)
    queue = "ctl-console-purge"
    # one of the app's task queues (the Queues screen lists task queues only)
    settings.app.conf.task_queues = [Queue("celery"), Queue(queue)]
    for i in range(5):
        sample_app.send_task("sample_proj.tasks.add", args=(i, i), queue=queue)
    app = console(settings, initial="queues")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(
            pilot, lambda: queue in [str(k.value) for k in table.rows], 15, "the queue row"
        )
        table.move_cursor(row=table.get_row_index(queue))
        await pilot.pause()
        await pilot.press("P")
        await confirm(pilot, app, f"Purge queue {queue}", "cannot be undone")
        assert app.action_log[-1].ok, app.action_log[-1].summary
        assert "5 message(s) deleted" in app.action_log[-1].summary
    depth = {
        d.name: d.messages for d in queue_depths(settings, queues=[queue], with_consumers=False)
    }
    assert depth[queue] == 0


@sync
async def test_revoke_whole_canvas(cluster: Any, cluster_env: Any, sample_app: Any) -> None:
    from celery import chain

    settings = settings_for(cluster)
    add = sample_app.signature("sample_proj.tasks.add")
    rc = RemoteControl(settings)
    app = console(settings, initial="scheduled")
    async with app.run_test(size=SIZE) as pilot:
        # events are only seen once the console listens (resync covers active tasks only)
        await wait_until(
            pilot,
            lambda: app.model.status is not None and app.model.status.mode == "live",
            20,
            "the live feed",
        )
        res = chain(
            add.clone(args=(1, 1)), add.clone(args=(2, 2)), add.clone(args=(3, 3))
        ).apply_async(countdown=60)
        ids = [res.id, res.parent.id, res.parent.parent.id]
        first = ids[-1]
        await pilot.press("2")  # the Tasks screen: the feed sends the newest rows (the window)
        await wait_until(pilot, lambda: first in app.model.tasks, 20, "the first task of the chain")
        app.open_task(first)
        await pilot.pause()
        await pilot.press("C")
        await confirm(pilot, app, "canvas", first)
        assert app.action_log[-1].ok, app.action_log[-1].summary
    revoked: set[str] = set()
    for value in rc.inspect("revoked", timeout=2.0).replies.values():
        revoked.update(value)
    assert set(ids) <= revoked


@sync
async def test_shutdown_worker(make_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    private = make_cluster(workers=("solo",), concurrency=1)
    monkeypatch.setenv("CELERY_BROKER_URL", private.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", private.backend_url)
    settings = settings_for(private)
    host = private.hostnames[0]
    app = console(settings)
    async with app.run_test(size=SIZE) as pilot:
        await select_worker(pilot, app, host)
        await pilot.press("K")
        await confirm(pilot, app, "Shut down", host)
        assert app.action_log[-1].ok, app.action_log[-1].summary
        await wait_until(
            pilot, lambda: not private.process("solo").alive(), 20, "the worker process to exit"
        )
        await wait_until(
            pilot,
            lambda: app.model.workers[host][W_STATUS] == "offline",
            15,
            "the console to show the worker offline",
        )


@sync
async def test_purge_deletes_nothing_when_the_queue_grew_after_the_dialog(
    cluster: Any, cluster_env: Any, sample_app: Any
) -> None:
    """What was confirmed is what happens: the dialog showed 3 messages, the queue holds 5
    when the purge runs, so nothing is deleted and the outcome says both counts."""
    from kombu import Queue

    from console.core.queues import queue_depths
    from console.ui.actions import ActionRequest, execute

    settings = settings_for(cluster)
    queue = "ctl-console-purge-grew"
    settings.app.conf.task_queues = [Queue("celery"), Queue(queue)]
    for i in range(5):
        sample_app.send_task("sample_proj.tasks.add", args=(i, i), queue=queue)
    stale = execute(ActionRequest("purge", queue, {"count": "3"}), remote=None, settings=settings)
    assert not stale.ok and "now holds 5" in stale.summary and "not the 3 shown" in stale.summary
    depth = {
        d.name: d.messages for d in queue_depths(settings, queues=[queue], with_consumers=False)
    }
    assert depth[queue] == 5
    done = execute(ActionRequest("purge", queue, {"count": "5"}), remote=None, settings=settings)
    assert done.ok and "5 message(s) deleted" in done.summary
    depth = {
        d.name: d.messages for d in queue_depths(settings, queues=[queue], with_consumers=False)
    }
    assert depth[queue] == 0
