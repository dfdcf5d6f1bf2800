"""Real workers of the tutorial-layout app ``tests/apps/proj`` (``celery -A proj worker``).

* :class:`ProjCluster`: a :class:`LocalCluster` whose workers run ``-A proj`` with
  ``tests/apps/proj`` on ``PYTHONPATH``, broker and result backend in the SAME
  Redis db (db 0), as the tutorials do.
* ``proj_cluster`` (module scope): one worker ``w1`` consuming ``celery,images``
  (``reports`` is routed but consumed by nobody).
* ``make_proj_cluster``: a factory for tests that need their own cluster.
* :func:`proj_env` / :func:`proj_app`: the environment and an in-process
  ``proj`` app pointed at a cluster (to send tasks with custom ids).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.core.redis_server import EmbeddedRedis
from console.demo.cluster import LocalCluster
from tests.conftest import let_results_go

APPS = Path(__file__).resolve().parents[1] / "apps"
PROJ_PATH = str(APPS / "proj")
LOOKUP_PATH = str(APPS / "lookup")


@dataclass
class ProjCluster(LocalCluster):
    app_module: str = "proj"
    queues: str = "celery,images"
    workers: tuple[str, ...] = ("w1",)
    concurrency: int = 1

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PYTHONPATH"] = PROJ_PATH + os.pathsep + env.get("PYTHONPATH", "")
        return env

    @property
    def backend_url(self) -> str:
        # one Redis db for broker and results (the tutorials' setup)
        return self.result_backend or self.broker_url


def proj_env(cluster: LocalCluster, **extra: str) -> dict[str, str]:
    """Environment for ``ctl -A proj`` / ``celery -A proj`` subprocesses."""
    env = dict(os.environ)
    env.update(
        {
            "CELERY_BROKER_URL": cluster.broker_url,
            "CELERY_RESULT_BACKEND": cluster.backend_url,
            "PYTHONPATH": PROJ_PATH + os.pathsep + str(APPS.parents[1]),
            "NO_COLOR": "1",
        }
    )
    env.pop("CELERY_APP", None)
    env.update(extra)
    return env


def proj_app(cluster: LocalCluster) -> Any:
    """The ``proj`` app imported in this process, pointed at ``cluster``."""
    if PROJ_PATH not in sys.path:
        sys.path.insert(0, PROJ_PATH)
    import proj.tasks  # noqa: F401  (registers the tasks and the task_failure handler)
    from celery.app.defaults import DEFAULTS
    from proj.celery import app

    # ClusterSettings(app="proj") pins URLs and no-retry options on this same
    # (module-global) app: give it back its defaults before pointing it elsewhere
    app.backend_cls = None
    for key in (
        "broker_connection_max_retries",
        "broker_connection_timeout",
        "broker_connection_retry_on_startup",
        "redis_socket_connect_timeout",
        "redis_socket_timeout",
        "result_backend_transport_options",
    ):
        app.conf[key] = DEFAULTS[key]
    app.conf.broker_url = cluster.broker_url
    app.conf.result_backend = cluster.backend_url
    app.conf.broker_read_url = app.conf.broker_write_url = cluster.broker_url
    app._pool = None
    # the producer pool and the backend were built for the previous cluster's URL
    app.__dict__.pop("amqp", None)
    app.__dict__.pop("backend", None)
    app._backend_cache = None  # Celery 5.7 caches the backend per app and per thread
    local = getattr(app, "_local", None)
    if local is not None and hasattr(local, "backend"):
        del local.backend
    return app


@pytest.fixture(scope="module")
def proj_cluster() -> Iterator[ProjCluster]:
    c = ProjCluster()
    c.start()
    try:
        yield c
    finally:
        let_results_go()
        c.stop()


@pytest.fixture
def make_proj_cluster() -> Iterator[Callable[..., ProjCluster]]:
    started: list[ProjCluster] = []

    def factory(**kwargs: Any) -> ProjCluster:
        c = ProjCluster(**kwargs)
        started.append(c)
        return c.start()

    try:
        yield factory
    finally:
        for c in started:
            let_results_go()
            c.stop()


def fresh_redis() -> EmbeddedRedis:
    return EmbeddedRedis().start()


def wait_dead_letters(client: Any, count: int, timeout: float = 10.0) -> None:
    """Wait until ``dead_letter_queue`` holds ``count`` entries.

    The worker stores a failure's result before it sends ``task_failure``, so the
    handler's LPUSH may come just after ``result.get()`` returned.
    """
    import time

    deadline = time.monotonic() + timeout
    while client.llen("dead_letter_queue") < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"dead_letter_queue has {client.llen('dead_letter_queue')}")
        time.sleep(0.05)
