"""Shared fixtures: a real redis-server and real sample_proj workers.

* ``redis_server`` (function scope): a fresh redis-server on a free port.
* ``cluster`` (session scope): Redis + workers ``alpha`` and ``bravo``; shared
  by read-mostly integration tests so the suite stays fast.  Tests that kill
  or restart things use ``make_cluster`` to get a private one.
* ``make_cluster`` (function scope): a factory; every cluster it starts is
  stopped at teardown, also when the test fails.
* ``cluster_env``: environment variables pointing ``ctl`` at ``cluster``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from console.core.redis_server import EmbeddedRedis
from console.demo.cluster import LocalCluster
from tests.rabbitmq import INSTALL_HINT, EmbeddedRabbitMQ, rabbitmq_available


def let_results_go() -> None:
    """Collect the tests' AsyncResults while their cluster's Redis still runs.

    Collected later (against a dead port), Celery's ``AsyncResult.__del__`` reconnects
    with retries from inside the garbage collector; when that happens during pytest's
    assertion rewriting, CPython 3.11 fails the run with "AST constructor recursion
    depth mismatch" after every test passed.
    """
    import gc

    gc.collect()


@pytest.fixture
def redis_server() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    c = LocalCluster(workers=("alpha", "bravo"), concurrency=2)
    c.start()
    try:
        yield c
    finally:
        let_results_go()
        c.stop()


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[EmbeddedRabbitMQ]:
    """One real RabbitMQ node for the session (tests take a vhost each).

    In CI (``CI`` set) a missing or failing RabbitMQ fails the tests that need
    it; elsewhere they are skipped with the install hint.
    """
    if not rabbitmq_available():
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    node = EmbeddedRabbitMQ().start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def rabbit_vhost(rabbitmq: EmbeddedRabbitMQ) -> Iterator[str]:
    """A fresh vhost on the session's RabbitMQ; yields its amqp:// URL."""
    name = rabbitmq.add_vhost()
    try:
        yield rabbitmq.url(name)
    finally:
        rabbitmq.delete_vhost(name)


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., LocalCluster]]:
    started: list[LocalCluster] = []

    def factory(**kwargs: object) -> LocalCluster:
        c = LocalCluster(**kwargs)  # type: ignore[arg-type]
        started.append(c)
        return c.start()

    try:
        yield factory
    finally:
        for c in started:
            let_results_go()
            c.stop()


@pytest.fixture
def cluster_env(cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "CELERY_BROKER_URL": cluster.broker_url,
        "CELERY_RESULT_BACKEND": cluster.backend_url,
        "NO_COLOR": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def sample_app(cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch):
    """The sample_proj app pointed at the session cluster (for sending tasks)."""
    from sample_proj import app

    # Celery's conf.broker_url / result_backend prefer these variables over
    # the configuration, and other tests may have left them set
    monkeypatch.setenv("CELERY_BROKER_URL", cluster.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", cluster.backend_url)
    app.conf.broker_url = cluster.broker_url
    app.conf.result_backend = cluster.backend_url
    # ClusterSettings(app="sample_proj", broker=...) sets these on this same
    # (module-global) app, and Celery looks them up before broker_url
    app.conf.broker_read_url = app.conf.broker_write_url = cluster.broker_url
    app.backend_cls = None  # ClusterSettings pins an explicit backend URL here too
    # drop cached connection pools / backend built for another URL
    app._pool = None
    app.__dict__.pop("backend", None)
    app.__dict__.pop("amqp", None)
    # Celery 5.7 caches the backend per thread and per app
    for attr in ("_backend_cache",):
        if hasattr(app, attr):
            setattr(app, attr, None)
    local = getattr(app, "_local", None)
    if local is not None and hasattr(local, "backend"):
        del local.backend
    yield app
    reset_app_urls(app)


def reset_app_urls(app) -> None:
    """Forget URLs pinned on the module-global sample_proj app by a test."""
    app.conf.broker_read_url = app.conf.broker_write_url = None
    app.backend_cls = None
    app._pool = None
    app.__dict__.pop("backend", None)
    app.__dict__.pop("amqp", None)
    if hasattr(app, "_backend_cache"):
        app._backend_cache = None
    local = getattr(app, "_local", None)
    if local is not None and hasattr(local, "backend"):
        del local.backend


CELERY_ENV = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_APP", "CTL_READ_ONLY")


@pytest.fixture(autouse=True)
def _restore_cluster_env() -> Iterator[None]:
    """Undo what a test left in os.environ for Celery/ctl.

    ``ClusterSettings`` writes an explicit --broker/--result-backend into
    os.environ (so child processes inherit it), and Celery prefers those
    variables over ``broker=``: without this, one test's dead broker becomes
    every later test's broker.
    """
    saved = {name: os.environ.get(name) for name in CELERY_ENV}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(autouse=True)
def _no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("CTL_READ_ONLY", raising=False)
    # never the developer's own named clusters (~/.config/ctl/config.toml)
    monkeypatch.setenv("CTL_CONFIG", os.devnull + ".ctl-tests-have-no-config.toml")
    monkeypatch.delenv("CTL_CONTEXT", raising=False)
