"""The task-queue set of console/core/purge_plan.py against Celery's own router.

For each shape of ``task_routes`` Celery accepts, every queue Celery's router
(``app.amqp.router.route``) sends a task to is in the set, and nothing else is.
"""

from __future__ import annotations

import re

import pytest
from celery import Celery
from kombu import Exchange, Queue

from console.core.purge_plan import plan_purge

TASKS = ["proj.tasks.add", "proj.images.resize", "proj.reports.nightly", "other.thing"]

ROUTES = [
    {"proj.tasks.add": {"queue": "math"}},
    {"proj.images.*": {"queue": "images"}, "proj.reports.*": "reports"},
    [{"proj.tasks.add": {"queue": Queue("math-q", Exchange("math"), "math")}}],
    ({"proj.images.resize": {"queue": "images"}}, {"proj.reports.*": {"queue": "reports"}}),
    ([(re.compile(r"proj\.(images|reports)\..*"), {"queue": "media"})],),
    {"proj.tasks.add": {"exchange": "math", "routing_key": "math"}},  # no queue named
]


def _noop() -> None:
    return None


def _queue_of(route: dict) -> str | None:
    queue = route.get("queue")
    return getattr(queue, "name", queue)


def _app(routes: object) -> Celery:
    app = Celery("proj", set_as_current=False)
    app.conf.task_routes = routes
    for name in TASKS:
        app.task(name=name)(_noop)
    return app


@pytest.mark.parametrize("routes", ROUTES, ids=range(len(ROUTES)))
def test_routed_queues_are_celerys(routes: object) -> None:
    app = _app(routes)
    ours = set(plan_purge(app, None).queues)
    celery = {_queue_of(app.amqp.router.route({}, name)) for name in TASKS} - {None}
    assert celery <= ours
    assert ours <= celery | {app.conf.task_default_queue}


def test_task_queues_option_workers_and_requests() -> None:
    app = Celery("proj", set_as_current=False)
    app.conf.task_queues = [Queue("default"), Queue("lopri")]
    app.conf.task_default_queue = "default"
    app.task(name="proj.slow", queue="slow")(_noop)
    plan = plan_purge(app, {"default": ["w1@h"], "extra": ["w2@h"]})
    assert plan.queues == ["default", "extra", "lopri", "slow"]
    assert plan.sources["extra"] == ["consumed by w2@h"]
    assert plan.sources["slow"] == ["task option"]
    asked = plan_purge(
        app, None, ["lopri", "dead_letter_queue", "declared"], declared=lambda n: n == "declared"
    )
    assert asked.queues == ["declared", "lopri"]
    assert asked.unknown == ["dead_letter_queue"]
