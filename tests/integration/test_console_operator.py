"""Issue 13 in the console against a real cluster (real Redis, real sample_proj workers).

Retry (``r``), marks and bulk revoke / terminate, the filter language, the task detail
completed from the result backend, the context in the header.  Each test drives the
app with Pilot as a person would and checks Celery's own answer on the same cluster
(``inspect revoked``, ``AsyncResult``) beside what the console says.  Each fails on the
code before issue 13 (no ``r``, no marks, a detail that never read the backend).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from celery.result import AsyncResult
from textual.css.query import NoMatches

from console.core.remote import RemoteControl
from console.core.settings import ClusterSettings
from console.ui.model import T_STATE
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.task_detail import TaskDetailScreen
from console.ui.widgets.task_list import TaskList
from tests.integration.test_console_actions import (
    SIZE,
    confirm,
    console,
    fill_form,
    settings_for,
    sync,
    wait_until,
)


async def live(pilot: Any, app: Any) -> None:
    """The event receiver is connected (events sent before it are never seen)."""
    await wait_until(
        pilot, lambda: getattr(app.model.status, "mode", None) == "live", 20, "a live feed"
    )
    await pilot.pause(0.5)


def summary(app: Any) -> str:
    try:
        return str(app.screen.query_one("#detail-summary").render())
    except NoMatches:  # still mounting
        return ""


@sync
async def test_retry_a_failed_task_resends_its_exact_call(cluster: Any, sample_app: Any) -> None:
    reason = f"boom-{uuid.uuid4().hex[:8]}"
    app = console(settings_for(cluster), initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        old = sample_app.send_task("sample_proj.tasks.always_fails", args=(reason,))
        await wait_until(
            pilot,
            lambda: (r := app.model.tasks.get(old.id)) is not None and r[T_STATE] == "FAILURE",
            25,
            "the task to fail",
        )
        await pilot.press("slash", *f"id:{old.id}", "enter")
        await wait_until(
            pilot, lambda: app.screen.query_one(TaskList).selected == old.id, 10, "the row"
        )
        await pilot.press("r")
        text = await confirm(pilot, app, "sample_proj.tasks.always_fails", reason, old.id)
        assert "from backend" in text  # result_extended: the exact call
        done = app.action_log[-1]
        assert done.ok and done.action == "retry", done.summary
        new_id = done.result[old.id]
        assert new_id != old.id
    new = AsyncResult(new_id, app=sample_app)
    new.get(timeout=20, propagate=False)
    # Celery's own record of both: same name, args, kwargs, queue; the same failure
    old_meta = sample_app.backend.get_task_meta(old.id)
    new_meta = sample_app.backend.get_task_meta(new_id)
    for key in ("name", "args", "kwargs", "queue", "status"):
        assert new_meta[key] == old_meta[key], key
    assert str(new.result) == str(AsyncResult(old.id, app=sample_app).result)


@sync
async def test_marked_tasks_are_revoked_together(cluster: Any, sample_app: Any) -> None:
    settings = settings_for(cluster)
    app = console(settings, initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        sent = [
            sample_app.send_task("sample_proj.tasks.add", args=(i, i), countdown=120)
            for i in range(4)
        ]
        ids = [r.id for r in sent]
        await pilot.press("slash", *("id:" + "|".join(ids)), "enter")
        tl = app.screen.query_one(TaskList)
        await wait_until(pilot, lambda: tl.matched == 4, 25, "the four tasks, filtered")
        await pilot.press("home", "space", "space")  # two marked by hand ...
        await pilot.pause()
        assert len(app.screen.marks) == 2
        await pilot.press("asterisk")  # ... then every task the filter matches
        await wait_until(pilot, lambda: len(app.screen.marks) == 4, 10, "four marks")
        assert "4 marked" in str(app.screen.query_one("#tasks-bar").render())
        await pilot.press("x")
        text = await confirm(pilot, app, "4 tasks")
        assert sum(i in text for i in ids) == 3  # the first ids, not all of them
        done = app.action_log[-1]
        assert done.ok, done.summary
    # Celery's answer: every worker lists all four as revoked
    revoked = RemoteControl(settings).inspect("revoked", timeout=2.0).replies
    assert revoked and all(set(ids) <= set(r) for r in revoked.values()), revoked


@sync
async def test_marked_running_tasks_are_terminated_and_the_detail_names_the_signal(
    cluster: Any, sample_app: Any
) -> None:
    settings = settings_for(cluster)
    app = console(settings, initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await live(pilot, app)
        sent = [sample_app.send_task("sample_proj.tasks.sleepy", args=(60,)) for _ in range(2)]
        ids = [r.id for r in sent]
        await pilot.press("slash", *("id:" + "|".join(ids)), "enter")
        tl = app.screen.query_one(TaskList)
        await wait_until(
            pilot,
            lambda: tl.matched == 2 and all(r[T_STATE] == "STARTED" for r in tl.window.rows),
            25,
            "both tasks running",
        )
        await pilot.press("asterisk")
        await wait_until(pilot, lambda: len(app.screen.marks) == 2, 10, "two marks")
        await pilot.press("r")  # running: a retry would run them twice at once
        await wait_until(pilot, lambda: app.action_log, 15, "the retry's refusal")
        refusal = app.action_log[-1]
        assert not refusal.ok and "not finished (revoke it first)" in refusal.summary
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("X")
        await fill_form(pilot, app, signal="SIGTERM")
        await confirm(pilot, app, "2 tasks", "SIGTERM")
        assert app.action_log[-1].ok, app.action_log[-1].summary
        await wait_until(
            pilot,
            lambda: all(r[T_STATE] == "REVOKED" for r in tl.window.rows) and tl.window.rows,
            20,
            "both REVOKED",
        )
        await pilot.press("escape")  # the marks go
        assert not app.screen.marks
        app.open_task(ids[0])
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, TaskDetailScreen) and "terminated by SIGTERM" in summary(app)
            ),
            10,
            "the signal in the detail",
        )
        text = summary(app)
        assert "queue celery" in text  # task-sent: queue, routing key, exchange, sender
        assert "routing key celery" in text
    for r in sent:
        assert AsyncResult(r.id, app=sample_app).state == "REVOKED"


@sync
async def test_detail_of_a_task_the_events_never_showed_comes_from_the_backend(
    cluster: Any, sample_app: Any
) -> None:
    res = sample_app.send_task("sample_proj.tasks.add", args=(20, 22))
    assert res.get(timeout=20) == 42  # finished before the console started: no events
    app = console(settings_for(cluster), initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.open_task(res.id)
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, TaskDetailScreen) and "sample_proj.tasks.add" in summary(app)
            ),
            15,
            "the detail from the backend",
        )
        text = summary(app)
        assert "(from the backend)" in text and "SUCCESS" in text
        assert "queue celery" in text
        screen = app.screen
        assert str(screen.query_one("#detail-result").render()) == "42"
        assert "[20, 22]" in str(screen.query_one("#detail-args").render())
        assert screen.query_one("#detail-id").value == res.id  # selectable
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == res.id  # copy_to_clipboard (and OSC 52 to the terminal)
    # what Celery says of the same task
    meta = sample_app.backend.get_task_meta(res.id)
    assert meta["name"] == "sample_proj.tasks.add" and meta["args"] == [20, 22]


@sync
async def test_header_names_a_read_only_context_that_stays_read_only(
    cluster: Any, sample_app: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[contexts.prod-eu]\nbroker = "{cluster.broker_url}"\n'
        f'result_backend = "{cluster.backend_url}"\nread_only = true\n'
    )
    monkeypatch.setenv("CTL_CONFIG", str(config))
    for var in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CTL_READ_ONLY"):
        monkeypatch.delenv(var, raising=False)
    settings = ClusterSettings.resolve(context="prod-eu")
    res = sample_app.send_task("sample_proj.tasks.sleepy", args=(20,))
    rc = RemoteControl(settings_for(cluster))
    app = console(settings, initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one("#hdr-cluster")
        await wait_until(pilot, lambda: "prod-eu" in str(header.render()), 10, "the context")
        assert "[RO]" in str(header.render())
        app.read_only = False  # what a writable toggle would do: the context still wins
        assert app.read_only
        await pilot.press("slash", *f"id:{res.id}", "enter")
        tl = app.screen.query_one(TaskList)
        await wait_until(pilot, lambda: tl.selected == res.id, 25, "the task")
        await pilot.press("x", "y", "r", "y", "space", "X", "y")
        await pilot.pause(0.5)
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.action_log == []
    revoked = rc.inspect("revoked", timeout=2.0).replies
    assert not any(res.id in r for r in revoked.values())
    rc.revoke([res.id], terminate=True)
