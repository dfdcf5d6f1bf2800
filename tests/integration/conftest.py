"""``broker_cluster``: the same cases on Redis and on RabbitMQ (parametrized, session scope).

On RabbitMQ the workers use a vhost of the session's node (Redis still holds the
results); ``broker_env`` points ``ctl`` at whichever cluster runs, with
``CTL_BROKER_API`` set to the node's management API (its port is not 15672).

``proj_cluster`` / ``make_proj_cluster``: the tutorial-layout app (tests/apps/proj).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.demo.cluster import LocalCluster
from tests.conftest import let_results_go
from tests.integration.proj_cluster import make_proj_cluster, proj_cluster  # noqa: F401


@pytest.fixture(scope="session", params=["redis", "rabbitmq"])
def broker_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    if request.param == "redis":
        yield request.getfixturevalue("cluster")
        return
    node = request.getfixturevalue("rabbitmq")
    vhost = node.add_vhost("shared")
    c = LocalCluster(workers=("alpha", "bravo"), concurrency=2, broker_url_override=node.url(vhost))
    c.start()
    try:
        yield c
    finally:
        let_results_go()
        c.stop()
        node.delete_vhost(vhost)


@pytest.fixture
def broker_env(
    broker_cluster: LocalCluster, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        "CELERY_BROKER_URL": broker_cluster.broker_url,
        "CELERY_RESULT_BACKEND": broker_cluster.backend_url,
        "NO_COLOR": "1",
    }
    if broker_cluster.broker_url_override:
        env["CTL_BROKER_API"] = request.getfixturevalue("rabbitmq").api_url()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
