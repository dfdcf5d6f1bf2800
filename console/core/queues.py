"""Queue depths (Redis priority sub-queues included), consumers, and purge.

On Redis every kombu queue is a list; with priorities, messages of priority
step ``p`` > 0 live in ``<queue>\\x06\\x16<p>``.  :func:`queue_depths` sums
them per queue and reports the breakdown.  Queue names are the task queues of
:mod:`console.core.purge_plan` (configured, routed, consumed: never an
application's own Redis lists); ``inspect active_queues`` also gives the
consumer counts.  :func:`purge_checked` deletes
a queue only if its count is still the one the operator saw (atomically).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .broker_scan import PRIORITY_SEP, redis_client

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


def declared_queues(client: Any) -> set[str]:
    """Queues kombu declared on this Redis (members of the ``_kombu.binding.*`` sets)."""
    names: set[str] = set()
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
    """Depth of every task queue (or of ``queues``), sorted by name, on any broker.

    The task queues are :func:`console.core.purge_plan.plan_purge`'s, on every
    transport: the Queues screen lists the queues ``ctl purge`` would empty.
    """
    from .brokers import adapter_for
    from .purge_plan import plan_purge

    consumers = None
    if with_consumers:
        from .remote import RemoteControl

        consumers = consumers_by_queue(rc or RemoteControl(settings), timeout)
    names = list(queues) if queues else plan_purge(settings.app, consumers).queues
    depths = adapter_for(settings).queue_depths(
        rc=rc, queues=names, timeout=timeout, with_consumers=False
    )
    if consumers is not None:
        for depth in depths:
            depth.workers = sorted(consumers.get(depth.name, []))
            if depth.consumers is None:
                depth.consumers = len(depth.workers)
    return depths


def purge_checked(
    settings: ClusterSettings, expected: Mapping[str, int | None]
) -> list[PurgeOutcome]:
    """Empty each queue only if its count is still ``expected[q]`` (None: whatever is there).

    On Redis the check and the delete are one atomic step; see the adapter of each broker.
    """
    from .brokers import adapter_for

    return adapter_for(settings).purge(expected)


def purge_queues(settings: ClusterSettings, queues: list[str]) -> dict[str, int]:
    """Delete every waiting message of ``queues`` on any broker; ``{queue: removed}``."""
    return {o.name: o.purged for o in purge_checked(settings, dict.fromkeys(queues))}


def queue_declared(settings: ClusterSettings, name: str) -> bool:
    """Whether the broker knows a queue named ``name``."""
    from .brokers import adapter_for

    return adapter_for(settings).queue_declared(name)


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
    from .purge_plan import plan_purge

    client = redis_client(settings)
    try:
        # the task queues only (purge_plan): never an application's own Redis lists
        names = set(queues) if queues else set(plan_purge(settings.app, consumers).queues)
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


# LLEN of every key, then DEL only when the total is still ARGV[1] ("-1": always):
# one atomic step, so what is deleted is exactly what was counted
_CHECKED_PURGE = """
local total = 0
for _, key in ipairs(KEYS) do total = total + redis.call('LLEN', key) end
if ARGV[1] ~= '-1' and total ~= tonumber(ARGV[1]) then return {0, total} end
if total > 0 then redis.call('DEL', unpack(KEYS)) end
return {1, total}
"""


@dataclass
class PurgeOutcome:
    name: str
    expected: int | None  # the count the operator saw (None: purge whatever is there)
    found: int  # the count at the moment of deleting
    purged: int  # deleted (0 when the count no longer matched)

    @property
    def changed(self) -> bool:
        return self.expected is not None and self.found != self.expected

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listed": self.expected,
            "found": self.found,
            "purged": self.purged,
            "changed": self.changed,
        }


def redis_purge_checked(
    settings: ClusterSettings, expected: Mapping[str, int | None]
) -> list[PurgeOutcome]:
    """Redis: empty each queue (priority sub-queues too) only if its count is still ``expected[q]``.

    Atomic per queue (a Lua script counts and deletes in one step); ``None``
    deletes whatever is there and reports how much that was.
    """
    client = redis_client(settings)
    try:
        script = client.register_script(_CHECKED_PURGE)
        out = []
        for name, want in expected.items():
            keys = [name] + [f"{name}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]
            done, total = script(keys=keys, args=[-1 if want is None else int(want)])
            out.append(PurgeOutcome(name, want, int(total), int(total) if done else 0))
        return out
    finally:
        client.close()


def redis_queue_declared(settings: ClusterSettings, name: str) -> bool:
    """Redis: whether kombu declared ``name`` (an exchange binding names it)."""
    client = redis_client(settings)
    try:
        return name in declared_queues(client)
    finally:
        client.close()
