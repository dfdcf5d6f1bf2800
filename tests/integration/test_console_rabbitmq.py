"""The console's own AMQP event queues on a RabbitMQ cluster (real node, real workers).

Driven with Pilot as in test_console_actions.py: the app is built by the one
constructor and its LiveFeed reads the AMQP event stream (AmqpEventSource)
from a ``ctl.console.*`` queue that must go when the console stops.  What the
Workers, Tasks, Queues and Canvas screens show is checked on both brokers in
test_console_brokers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from console.core.settings import ClusterSettings
from console.demo.cluster import LocalCluster
from tests.integration.test_amqp_intake import queues, wait_for
from tests.integration.test_console_actions import SIZE, console, sync, wait_until
from tests.rabbitmq import EmbeddedRabbitMQ

pytestmark = pytest.mark.integration


@sync
async def test_console_event_queues_live_and_go_on_rabbitmq(
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
        await wait_until(
            pilot,
            lambda: app.model.status is not None and app.model.status.mode == "live",
            30,
            "the AMQP feed live",
        )
        await wait_until(
            pilot,
            lambda: set(c.hostnames) <= set(app.model.workers),
            30,
            "both workers seen through the AMQP event stream",
        )
        assert any(q.startswith("ctl.console.") for q in queues(rabbitmq, rabbit_vhost))
    # the console stopped: its event queues went with its connection
    await asyncio.sleep(0)
    wait_for(
        lambda: not [q for q in queues(rabbitmq, rabbit_vhost) if q.startswith("ctl.console.")],
        10,
        "the console's event queues to be gone",
    )
