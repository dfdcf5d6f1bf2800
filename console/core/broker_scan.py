"""Non-destructive reads of queued and unacked task messages (Redis broker).

Nothing here pops, acks or moves a message: queues are read with ``LRANGE``
(every list key, including priority sub-queues such as ``celery\\x06\\x163``),
prefetched / reserved messages with ``HGETALL unacked``.  Each message is
decoded into a :class:`QueuedMessage`; the task signatures embedded in its body
(chain steps not yet sent, chord bodies, callbacks) come along as
:class:`EmbeddedTask`, with their pre-assigned task ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .settings import ClusterSettings

PRIORITY_SEP = "\x06\x16"
UNACKED_KEY = "unacked"
CHUNK = 1000


@dataclass
class EmbeddedTask:
    id: str
    name: str | None
    group_id: str | None
    kind: str  # "chain" | "chord" | "callback" | "errback" | "group-member"


@dataclass
class QueuedMessage:
    id: str
    name: str | None
    queue: str
    root_id: str | None
    parent_id: str | None
    group_id: str | None
    eta: str | None
    args: Any = None
    kwargs: Any = None
    unacked: bool = False
    embedded: list[EmbeddedTask] = field(default_factory=list)
    #: the body's embed as sent (``{"chain": [...], "chord": {...}, "callbacks": ...}``)
    embed: Any = None


def redis_client(settings: ClusterSettings) -> Any:
    """A redis-py client for the broker (UsageError for non-Redis brokers)."""
    import redis

    from .brokers.urls import scheme_of, transport_of
    from .connection import broker_url_of

    url = broker_url_of(settings)  # the node of a failover list that answered
    if transport_of(url) != "redis":
        raise UsageError(f"broker scanning needs a Redis broker, not {scheme_of(url)}")
    t = settings.connect_timeout
    return redis.Redis.from_url(url, socket_connect_timeout=t, socket_timeout=max(t, 5.0))


def base_queue(key: str) -> str:
    """``celery\\x06\\x163`` -> ``celery``."""
    return key.split(PRIORITY_SEP, 1)[0]


def _walk_signature(sig: Any, kind: str, out: list[EmbeddedTask]) -> None:
    if isinstance(sig, list):
        for item in sig:
            _walk_signature(item, kind, out)
        return
    if not isinstance(sig, dict):
        return
    options = value if isinstance(value := sig.get("options"), dict) else {}
    task = sig.get("task")
    kwargs = value if isinstance(value := sig.get("kwargs"), dict) else {}
    if task == "celery.group" or sig.get("subtask_type") == "group":
        _walk_signature(kwargs.get("tasks"), "group-member", out)
    elif task == "celery.chain" or sig.get("subtask_type") == "chain":
        _walk_signature(kwargs.get("tasks"), "chain", out)
    elif task == "celery.chord" or sig.get("subtask_type") == "chord":
        _walk_signature(kwargs.get("header"), "group-member", out)
        _walk_signature(kwargs.get("body"), "chord", out)
    else:
        tid = options.get("task_id")
        if isinstance(tid, str):
            out.append(
                EmbeddedTask(tid, str(task) if task else None, options.get("group_id"), kind)
            )
    for key, sub_kind in (("link", "callback"), ("link_error", "errback"), ("chain", "chain")):
        if options.get(key):
            _walk_signature(options.get(key), sub_kind, out)
    if options.get("chord"):
        _walk_signature(options.get("chord"), "chord", out)


def embedded_tasks(embed: Any) -> list[EmbeddedTask]:
    """Every signature with a task id inside a message's embed (chain/chord/callbacks)."""
    out: list[EmbeddedTask] = []
    if not isinstance(embed, dict):
        return out
    _walk_signature(embed.get("chain"), "chain", out)
    _walk_signature(embed.get("chord"), "chord", out)
    _walk_signature(embed.get("callbacks"), "callback", out)
    _walk_signature(embed.get("errbacks"), "errback", out)
    return out


def decode_message(raw: bytes | str, queue: str, unacked: bool = False) -> QueuedMessage | None:
    """Decode one kombu-on-Redis JSON message (protocol 2); None if not a task."""
    from .brokers.redis_wire import decode_body, loads_envelope

    try:
        msg = loads_envelope(raw)
        if isinstance(msg, list):  # unacked hash value: [message, exchange, routing_key]
            queue = str(msg[2]) if len(msg) > 2 and msg[2] else queue
            msg = msg[0]
        headers = msg.get("headers") or {}
        tid = headers.get("id")
        if not isinstance(tid, str):
            return None
        args = kwargs = embed = None
        decoded = decode_body(msg)
        if isinstance(decoded, list) and len(decoded) == 3:
            args, kwargs, embed = decoded
        return QueuedMessage(
            id=tid,
            name=headers.get("task"),
            queue=queue,
            root_id=headers.get("root_id"),
            parent_id=headers.get("parent_id"),
            group_id=headers.get("group"),
            eta=headers.get("eta"),
            args=args,
            kwargs=kwargs,
            unacked=unacked,
            embedded=embedded_tasks(embed),
            embed=embed if isinstance(embed, dict) else None,
        )
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return None


def queue_keys(client: Any) -> list[str]:
    """Every list key that looks like a task queue (priority sub-queues included)."""
    keys = []
    for key in client.scan_iter(count=1000, _type="list"):
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if name.endswith(".reply.celery.pidbox") or name.startswith("_kombu"):
            continue
        keys.append(name)
    return sorted(keys)


def iter_messages(settings: ClusterSettings, limit: int = 200_000) -> Iterator[QueuedMessage]:
    """Every queued and unacked task message, read non-destructively."""
    client = redis_client(settings)
    try:
        seen = 0
        for key in queue_keys(client):
            start = 0
            while seen < limit:
                chunk = client.lrange(key, start, start + CHUNK - 1)
                if not chunk:
                    break
                for raw in chunk:
                    msg = decode_message(raw, base_queue(key))
                    if msg is not None:
                        seen += 1
                        yield msg
                start += CHUNK
        for _tag, raw in (client.hgetall(UNACKED_KEY) or {}).items():
            msg = decode_message(raw, "", unacked=True)
            if msg is not None:
                yield msg
    finally:
        client.close()
