"""The console's Workers and Tasks screens on a RabbitMQ cluster (real node, real workers).

Driven with Pilot as in test_console_actions.py: the app is built by the one
constructor, its LiveFeed reads the AMQP event stream (AmqpEventSource), and
the screens must show the workers and the tasks they ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import DataTable

from console.core.settings import ClusterSettings
from console.demo.cluster import LocalCluster
from console.ui.model import T_NAME, T_STATE, W_STATUS
from console.ui.widgets.task_list import TaskList
from tests.integration.test_amqp_intake import queues, wait_for
from tests.integration.test_console_actions import SIZE, console, sync, wait_until
from tests.rabbitmq import EmbeddedRabbitMQ

pytestmark = pytest.mark.integration


@sync
async def test_workers_and_tasks_screens_on_rabbitmq(
    rabbitmq: EmbeddedRabbitMQ,
    rabbit_vhost: str,
    make_cluster: Callable[..., LocalCluster],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = make_cluster(workers=("alpha", "bravo"), broker_url_override=rabbit_vhost)
    monkeypatch.setenv("CELERY_BROKER_URL", rabbit_vhost)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", c.backend_url)
    settings = ClusterSettings.resolve(broker=rabbit_vhost, result_backend=c.backend_url)
    app = console(settings, initial="workers")
    async with app.run_test(size=SIZE) as pilot:
        hosts = set(c.hostnames)
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
        from celery import Celery

        sender = Celery(
            "ctl-test-sender", broker=rabbit_vhost, backend=c.backend_url, set_as_current=False
        )
        results = [sender.send_task("sample_proj.tasks.mul", args=(i, 3)) for i in range(4)]
        assert [r.get(timeout=30) for r in results] == [0, 3, 6, 9]
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_mode == "tasks", 5, "the Tasks screen")
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
        assert task_list.matched >= 4
        assert app.model.status.mode == "live"
        assert any(q.startswith("ctl.console.") for q in queues(rabbitmq, rabbit_vhost))
    # the console stopped: its event queues went with its connection
    await asyncio.sleep(0)
    wait_for(
        lambda: not [q for q in queues(rabbitmq, rabbit_vhost) if q.startswith("ctl.console.")],
        10,
        "the console's event queues to be gone",
    )
