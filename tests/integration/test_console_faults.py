"""The console while Redis goes away and comes back (real Redis, real worker, real LiveFeed)."""

from __future__ import annotations

import asyncio
import time

from console.core.settings import ClusterSettings
from console.ui.app import create_app


def _header_text(app) -> str:
    static = app.screen.query_one("#hdr-status")
    return str(static.render())


async def _wait(pilot, predicate, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        await pilot.pause(0.05)
        if predicate():
            return time.monotonic() - started
    raise AssertionError(f"condition not met within {timeout}s; header: {_header_text(pilot.app)}")


def test_redis_stop_shows_disconnected_keeps_state_and_recovers(make_cluster):
    c = make_cluster(workers=("faulty",), concurrency=1)
    settings = ClusterSettings.resolve(broker=c.broker_url, result_backend=c.backend_url)
    app = create_app(settings=settings, refresh=0.1, poll_interval=60.0, cursor_blink=False)
    host = c.hostnames[0]

    async def scenario() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            mode = lambda: getattr(app.model.status, "mode", None)  # noqa: E731
            await _wait(pilot, lambda: mode() == "live" and host in app.model.workers, 20)

            c.redis.kill()
            took = await _wait(pilot, lambda: mode() in ("disconnected", "reconnecting"), 5)
            assert took < 2.5, f"feed flagged only after {took:.2f}s"
            assert "STALE" in _header_text(app)
            # the last known state stays on screen
            assert host in app.model.workers
            # no busy loop while Redis is down: the UI process stays mostly idle
            cpu0 = time.process_time()
            await pilot.pause(1.5)
            assert time.process_time() - cpu0 < 1.0

            c.redis.start()  # same port, data gone
            await _wait(pilot, lambda: mode() == "live", 20)
            # resync through remote control brings the worker back without new traffic
            await _wait(
                pilot,
                lambda: (
                    host in app.model.workers and app.model.workers[host][1] in ("online", "late")
                ),
                20,
            )
            assert "STALE" not in _header_text(app)
            assert (app.model.status.gaps or 0) >= 1

    asyncio.run(scenario())
