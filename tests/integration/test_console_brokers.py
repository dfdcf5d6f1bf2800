"""The console's Queues screen and Revoke-canvas confirmation on Redis and on RabbitMQ."""

from __future__ import annotations

import uuid

import pytest

from console.core.settings import ClusterSettings
from console.demo.cluster import LocalCluster
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
            pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "the confirmation"
        )
        text = str(app.screen.query_one("#confirm-text", Static).render())
        if broker_cluster.broker_url_override:
            assert "Cannot read queued messages" in text
        else:
            assert "Cannot read" not in text
        await pilot.press("n")
