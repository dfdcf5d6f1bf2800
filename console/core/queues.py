"""Queue depths (Redis priority sub-queues included), consumers, and purge.

On Redis every kombu queue is a list; with priorities, messages of priority
step ``p`` > 0 live in ``<queue>\\x06\\x16<p>``.  :func:`queue_depths` sums
them per queue and reports the breakdown; queue names come from the list keys
present, kombu's exchange bindings (``_kombu.binding.*``), the app's
configured queues, and what workers consume (``inspect active_queues``),
which also gives the consumer counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .broker_scan import PRIORITY_SEP, base_queue, queue_keys, redis_client

if TYPE_CHECKING:
    from .remote import RemoteControl
    from .settings import ClusterSettings

PRIORITY_STEPS = range(1, 10)


@dataclass
class QueueDepth:
    name: str
    messages: int = 0
    by_priority: dict[str, int] = field(default_factory=dict)  # list key suffix -> count
    consumers: int | None = None  # None: unknown
    workers: list[str] = field(default_factory=list)
    #: delivered but not yet acknowledged (RabbitMQ's management API; None: unknown)
    unacked: int | None = None
    #: messages published per second (RabbitMQ's management API; None: unknown)
    publish_rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "messages": self.messages,
            "by_priority": self.by_priority,
            "consumers": self.consumers,
            "workers": self.workers,
            "unacked": self.unacked,
            "publish_rate": self.publish_rate,
        }


def _known_queue_names(client: Any, settings: ClusterSettings) -> set[str]:
    names = {base_queue(k) for k in queue_keys(client)}
    for key in client.scan_iter(match="_kombu.binding.*", count=1000):
        try:
            members = client.smembers(key)
        except Exception:
            continue
        for member in members:
            text = member.decode("utf-8", "replace") if isinstance(member, bytes) else str(member)
            queue = text.split(PRIORITY_SEP)[-1]
            if queue and not queue.endswith(".pidbox") and "celeryev" not in queue:
                names.add(queue)
    try:
        conf = settings.app.conf
        names.add(str(conf.task_default_queue or "celery"))
        for q in conf.task_queues or []:
            names.add(str(getattr(q, "name", q)))
    except Exception:
        pass
    return names


def consumers_by_queue(rc: RemoteControl, timeout: float = 1.0) -> dict[str, list[str]] | None:
    """``{queue: [worker, ...]}`` from ``inspect active_queues`` (None: nobody replied)."""
    res = rc.inspect("active_queues", timeout=timeout)
    if not res.replies:
        return None
    out: dict[str, list[str]] = {}
    for host, reply in res.replies.items():
        for q in reply if isinstance(reply, list) else []:
            if isinstance(q, dict) and q.get("name"):
                out.setdefault(str(q["name"]), []).append(host)
    return out


def queue_depths(
    settings: ClusterSettings,
    rc: RemoteControl | None = None,
    queues: list[str] | None = None,
    timeout: float = 1.0,
    with_consumers: bool = True,
) -> list[QueueDepth]:
    """Depth of every queue (or of ``queues``), sorted by name, on any broker."""
    from .brokers import adapter_for

    return adapter_for(settings).queue_depths(
        rc=rc, queues=queues, timeout=timeout, with_consumers=with_consumers
    )


def purge_queues(settings: ClusterSettings, queues: list[str]) -> dict[str, int]:
    """Delete every waiting message of ``queues`` on any broker; ``{queue: removed}``."""
    from .brokers import adapter_for

    return adapter_for(settings).purge(queues)


def redis_queue_depths(
    settings: ClusterSettings,
    rc: RemoteControl | None = None,
    queues: list[str] | None = None,
    timeout: float = 1.0,
    with_consumers: bool = True,
) -> list[QueueDepth]:
    """Redis: depth of every queue (or of ``queues``), sorted by name."""
    consumers = None
    if with_consumers:
        from .remote import RemoteControl

        consumers = consumers_by_queue(rc or RemoteControl(settings), timeout)
    client = redis_client(settings)
    try:
        names = (
            set(queues) if queues else _known_queue_names(client, settings) | set(consumers or {})
        )
        result = []
        for name in sorted(names):
            keys = [name] + [f"{name}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            counts = pipe.execute()
            depth = QueueDepth(name)
            for key, count in zip(keys, counts, strict=True):
                if count:
                    suffix = key[len(name) + len(PRIORITY_SEP) :] if key != name else "0"
                    depth.by_priority[suffix] = int(count)
                    depth.messages += int(count)
            if consumers is not None:
                depth.workers = sorted(consumers.get(name, []))
                depth.consumers = len(depth.workers)
            result.append(depth)
        return result
    finally:
        client.close()


def redis_purge_queues(settings: ClusterSettings, queues: list[str]) -> dict[str, int]:
    """Redis: delete every message of ``queues`` (priority sub-queues too); ``{queue: removed}``."""
    client = redis_client(settings)
    try:
        removed: dict[str, int] = {}
        for name in queues:
            keys = [name] + [f"{name}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]
            pipe = client.pipeline(transaction=True)
            for key in keys:
                pipe.llen(key)
            pipe.delete(*keys)
            out = pipe.execute()
            removed[name] = int(sum(out[:-1]))
        return removed
    finally:
        client.close()
