"""Which queues are task queues: the set ``ctl purge`` empties and the Queues screen lists.

Transport-neutral (no broker access here): the set is computed from the app's
configuration and the workers' ``active_queues`` replies, the way Celery knows
its queues:

* ``celery purge``'s own set, ``app.amqp.queues`` (``task_queues``, or the
  default queue ``task_default_queue``);
* every queue named by a route (``task_routes``, parsed by Celery's own
  ``celery.app.routes.prepare``: dicts, lists of dicts, glob / regex patterns,
  kombu ``Queue`` objects) and by a task's ``queue`` option;
* every queue a live worker consumes (``inspect active_queues``).

Anything else in the broker (an application's own Redis list such as a
``dead_letter_queue``, another app's keys) is not a task queue and is never
purged.  Routes computed by a router *function* cannot be known without
calling it and are not included.

``-Q NAME`` may also name a queue that kombu declared on the broker (the broker
adapter says which exist); a name found nowhere is reported as unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

SOURCE_CONFIGURED = "app queues"  # app.amqp.queues: task_queues / default queue
SOURCE_ROUTE = "route"
SOURCE_TASK = "task option"
SOURCE_WORKER = "consumed by"
SOURCE_BROKER = "declared on the broker"


@dataclass
class PurgePlan:
    """The task queues, with why each one is one; ``unknown``: requested, found nowhere."""

    sources: dict[str, list[str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    @property
    def queues(self) -> list[str]:
        return sorted(self.sources)

    def add(self, name: str, source: str) -> None:
        if not name:
            return
        reasons = self.sources.setdefault(name, [])
        if source not in reasons:
            reasons.append(source)


def _queue_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    name = getattr(value, "name", None)  # kombu.Queue
    return str(name) if name else None


def _route_queues(route: Any) -> Iterable[str]:
    if isinstance(route, str):  # {"pattern": "queue-name"}
        yield route
        return
    if isinstance(route, dict):
        name = _queue_name(route.get("queue"))
        if name:
            yield name


def configured_queues(app: Any) -> dict[str, list[str]]:
    """``{queue: [source, ...]}`` from the app's configuration (no broker access)."""
    from celery.app.routes import MapRoute, prepare

    out = PurgePlan()
    conf = app.conf
    try:
        names = list(app.amqp.queues.keys())
    except Exception:
        names = [str(conf.task_default_queue or "celery")]
    for name in names:
        out.add(str(name), SOURCE_CONFIGURED)
    try:
        routers = prepare(conf.task_routes) or []
    except Exception:
        routers = []
    for router in routers:
        if isinstance(router, MapRoute):
            for route in [*router.map.values(), *router.patterns.values()]:
                for name in _route_queues(route):
                    out.add(name, SOURCE_ROUTE)
    try:
        tasks = list(app.tasks.values())
    except Exception:
        tasks = []
    for task in tasks:
        name = _queue_name(getattr(task, "queue", None))
        if name:
            out.add(name, SOURCE_TASK)
    return out.sources


def plan_purge(
    app: Any,
    consumers: dict[str, list[str]] | None,
    requested: list[str] | None = None,
    declared: Callable[[str], bool] | None = None,
) -> PurgePlan:
    """The task queues (or those of ``requested``), with their sources.

    ``consumers`` is ``{queue: [worker, ...]}`` from ``active_queues`` (None: no
    reply).  ``declared(name)`` tells whether the broker has the queue declared
    (only asked for ``requested`` names that are not task queues otherwise).
    """
    full = PurgePlan()
    for name, reasons in configured_queues(app).items():
        for reason in reasons:
            full.add(name, reason)
    for name, workers in sorted((consumers or {}).items()):
        for worker in workers:
            full.add(name, f"{SOURCE_WORKER} {worker}")
    if not requested:
        return full
    plan = PurgePlan()
    for name in dict.fromkeys(requested):
        if name in full.sources:
            plan.sources[name] = list(full.sources[name])
        elif declared is not None and declared(name):
            plan.add(name, SOURCE_BROKER)
        else:
            plan.unknown.append(name)
    return plan
