"""Autoscale is offered only on workers started with ``--autoscale`` (issue 15.4).

A real worker with ``--autoscale=3,1`` and one without, side by side: Celery's own
``stats`` reply has an ``autoscaler`` key only for the first.  On the console the
autoscale key opens the form for that worker and sets max/min (checked in Celery's
``stats``); on the other it says "not started with --autoscale" and sends nothing
(before: the form, the dialog, then Celery's "Autoscale not enabled" error).
"""

from __future__ import annotations

from typing import Any

from console.core.remote import RemoteControl
from console.ui.screens.form import FormScreen
from tests.integration.test_console_actions import (
    SIZE,
    confirm,
    console,
    fill_form,
    select_worker,
    settings_for,
    sync,
    wait_until,
)


@sync
async def test_autoscale_only_where_the_worker_autoscales(make_cluster: Any) -> None:
    plain = make_cluster(workers=("plain",), concurrency=1)
    scaling = make_cluster(
        workers=("scaling",), concurrency=1, redis=plain.redis, worker_args=["--autoscale=3,1"]
    )
    try:
        await _check(plain, scaling)
    finally:
        scaling.stop()  # before the Redis it shares with ``plain`` goes


async def _check(plain: Any, scaling: Any) -> None:
    settings = settings_for(plain)
    rc = RemoteControl(settings)
    p_host, s_host = plain.hostnames[0], scaling.hostnames[0]
    stats = rc.inspect("stats", timeout=2.0).replies
    assert "autoscaler" in stats[s_host] and "autoscaler" not in stats[p_host]  # Celery's answer

    app = console(settings)
    async with app.run_test(size=SIZE) as pilot:
        await select_worker(pilot, app, p_host)
        await wait_until(pilot, lambda: p_host in app.screen.stats, 10, "the stats answer")
        before = len(app.action_log)
        await pilot.press("a")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, FormScreen), "autoscale offered without --autoscale"
        assert len(app.action_log) == before  # nothing sent

        await select_worker(pilot, app, s_host)
        await wait_until(pilot, lambda: s_host in app.screen.stats, 10, "the stats answer")
        await pilot.press("a")
        await fill_form(pilot, app, max="4", min="2")
        await confirm(pilot, app, "max=4", "min=2", s_host)
        assert app.action_log[-1].ok, app.action_log[-1].summary
    scaler = rc.inspect("stats", destination=[s_host], timeout=2.0).replies[s_host]["autoscaler"]
    assert (scaler["max"], scaler["min"]) == (4, 2), scaler
