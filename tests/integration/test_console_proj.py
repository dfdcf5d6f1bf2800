"""The console on the tutorial app (``-A proj``): custom task ids, task queues only.

``ClusterSettings(app="proj")`` finds the app the way ``celery -A proj`` does
(its ``__init__`` does not import ``proj/celery.py``); the console lists tasks
sent with custom ids, revokes one by its id, and its Queues screen lists the
task queues, never the app's ``dead_letter_queue`` list.
"""

from __future__ import annotations

import redis
from textual.widgets import DataTable

from console.core.settings import ClusterSettings
from console.ui.model import T_STATE
from tests.integration.proj_cluster import PROJ_PATH, proj_app, wait_dead_letters
from tests.integration.test_console_actions import SIZE, confirm, console, sync, wait_until


@sync
async def test_console_custom_ids_and_task_queues(proj_cluster, monkeypatch) -> None:
    monkeypatch.chdir(PROJ_PATH)
    monkeypatch.setenv("CELERY_BROKER_URL", proj_cluster.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", proj_cluster.backend_url)
    proj_app(proj_cluster)
    from proj.tasks import add, explode, sleepy

    explode.apply_async(("for the dead letters",), task_id="explode:console").get(propagate=False)
    r = redis.Redis.from_url(proj_cluster.broker_url)
    wait_dead_letters(r, 1)
    settings = ClusterSettings.resolve(app="proj")
    assert settings.app.main == "proj"
    app = console(settings, initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: app.model.status is not None and app.model.status.mode == "live",
            20,
            "the live feed",
        )
        running = sleepy.apply_async((30,), task_id="report:2026/12/03#1")
        waiting = add.apply_async((1, 2), task_id="nightly-report-2026-12-03", countdown=300)
        await wait_until(
            pilot,
            lambda: (row := app.model.tasks.get(running.id)) and row[T_STATE] == "STARTED",
            25,
            "the task with a custom id to start",
        )
        await wait_until(
            pilot, lambda: waiting.id in app.model.tasks, 15, "the waiting custom-id task"
        )
        app.request_action("revoke", waiting.id)
        await confirm(pilot, app, waiting.id)
        assert app.action_log[-1].ok, app.action_log[-1].summary
        app.request_action("terminate", running.id, params={"signal": "SIGKILL"})
        await pilot.pause()
        from console.ui.screens.form import FormScreen

        if isinstance(app.screen, FormScreen):
            await pilot.click("#ok")
            await pilot.pause()
        await confirm(pilot, app, running.id)
        await wait_until(
            pilot,
            lambda: app.model.tasks[running.id][T_STATE] == "REVOKED",
            15,
            "the custom-id task REVOKED in the console",
        )
        app.action_show("queues")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count > 0, 15, "the queue rows")
        names = {str(k.value) for k in table.rows}
        assert {"celery", "images", "reports"} <= names
        assert "dead_letter_queue" not in names
    assert running.state == "REVOKED"
