"""A revoke the console sent says so until the worker confirms (issue 15.5), on a real cluster.

A worker with one process and prefetch 1 runs a long task and holds a second one
(reserved: RECEIVED).  Revoking the held task from the Tasks screen: Celery's own
``inspect revoked`` lists it at once, but the worker emits ``task-revoked`` only
when it gets to the task, so until then the row says "revoke sent" (before:
RECEIVED, as if nothing had been done).  Terminating the running task frees the
process; the worker then discards the held task and the row says REVOKED.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from console.ui.widgets.task_list import TaskList
from tests.integration.test_console_actions import (
    SIZE,
    confirm,
    console,
    settings_for,
    sync,
    wait_until,
)


def painted_state(tl: TaskList, uuid: str) -> str:
    for y in range(1, tl.size.height):
        row = tl.row_at(int(tl.scroll_offset.y) + y - 1)
        if row is not None and row[0] == uuid:
            return tl.render_line(y).text[:12].strip()
    return ""


@sync
async def test_revoke_sent_until_the_worker_confirms(make_cluster: Any) -> None:
    c = make_cluster(workers=("held",), concurrency=1, worker_args=["--prefetch-multiplier", "1"])
    host = c.hostnames[0]
    sender = Celery("revoke-sent", broker=c.broker_url, backend=c.backend_url)
    sender.conf.broker_write_url = sender.conf.broker_read_url = c.broker_url
    settings = settings_for(c)
    app = console(settings, initial="tasks")
    async with app.run_test(size=SIZE) as pilot:
        running = sender.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 120})
        tl = app.screen.query_one(TaskList)
        await wait_until(
            pilot, lambda: "STARTED" in painted_state(tl, running.id), 30, "the long task runs"
        )
        held = sender.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 1})
        await wait_until(
            pilot, lambda: "RECEIVED" in painted_state(tl, held.id), 30, "the held task"
        )
        app.screen.set_quick("waiting")
        await wait_until(pilot, lambda: tl.selected == held.id, 10, "the held task selected")
        await pilot.press("x")
        await wait_until(pilot, lambda: getattr(app.screen, "shown_at", None), 5, "the dialog")
        await confirm(pilot, app, held.id)
        assert app.action_log[-1].ok, app.action_log[-1].summary
        app.screen.set_quick("all")
        # Celery's answer: revoked on the worker; no event yet (the process is busy)
        revoked = sender.control.inspect(timeout=1.0).revoked() or {}
        assert held.id in revoked.get(host, [])
        await wait_until(
            pilot, lambda: painted_state(tl, held.id) == "revoke sent", 10, "revoke sent"
        )
        await pilot.pause(1.0)
        assert painted_state(tl, held.id) == "revoke sent"
        # free the process: the worker reaches the held task, discards it, reports it
        sender.control.revoke(running.id, terminate=True, signal="SIGKILL")
        await wait_until(
            pilot, lambda: "REVOKED" in painted_state(tl, held.id), 30, "REVOKED confirmed"
        )
