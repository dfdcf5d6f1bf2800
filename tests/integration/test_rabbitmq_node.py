"""The RabbitMQ fixture itself: a real node, a vhost per test, a real worker on it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from console.demo.cluster import LocalCluster

pytestmark = pytest.mark.integration


def test_worker_on_rabbitmq_answers_celery_ping(
    rabbit_vhost: str, make_cluster: Callable[..., LocalCluster]
) -> None:
    c = make_cluster(workers=("alpha",), broker_url_override=rabbit_vhost)
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "sample_proj", "inspect", "ping", "--json"],
        env=c.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "alpha@" in out.stdout
