"""The pidbox broadcast on a plain py-amqp connection (no kombu, no Celery import).

The same wire protocol as kombu's ``Mailbox`` on RabbitMQ, so workers cannot
tell the difference: the fanout exchange ``<exchange>.pidbox`` and the direct
reply exchange ``reply.<exchange>.pidbox`` declared as kombu declares them
(not durable), our reply queue ``<oid>.reply.<exchange>.pidbox`` exclusive
and auto-deleted (it goes with our connection; expiring after 10 s, as Celery's), a JSON
body with the ``clock`` / ``expires`` headers.  The management API's list of
pidbox queues (fetched while the queues are being declared) says how many
replies to wait for; without it the whole timeout is waited, as kombu does.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..errors import BrokerUnreachable
from ..sanitize import mask_url

if TYPE_CHECKING:
    from ..remote import BroadcastResult
    from .amqp import AmqpAdapter

#: Celery's control_queue_expires / control_queue_ttl (seconds)
REPLY_QUEUE_EXPIRES = 10.0
REPLY_QUEUE_TTL = 300.0


def broadcast(
    adapter: AmqpAdapter,
    method: str,
    arguments: dict[str, Any] | None,
    dest: list[str] | None,
    timeout: float,
    reply: bool,
    started: float,
    exchange: str = "celery",
) -> BroadcastResult:
    import amqp

    from ..remote import BroadcastResult, _expected_workers, _mark_silent, _merge_reply

    known_box: list[set[str] | None] = []
    fetch = threading.Thread(
        target=lambda: known_box.append(adapter.live_workers(exchange)), daemon=True
    )
    fetch.start()
    url = adapter.url
    try:
        conn = adapter.take_connection()
        chan = conn.channel()
    except BrokerUnreachable:
        fetch.join()
        raise
    except Exception as exc:
        fetch.join()
        raise BrokerUnreachable(
            adapter.settings.scrub(f"broker unreachable at {mask_url(url)}: {exc}")
        ) from None
    result = BroadcastResult(destination=dest)
    oid = str(uuid.uuid4())
    ticket = str(uuid.uuid4()) if reply else None
    reply_exchange = f"reply.{exchange}.pidbox"
    reply_queue = f"{oid}.{reply_exchange}"
    got: list[Any] = []
    try:
        payload: dict[str, Any] = {
            "method": method,
            "arguments": dict(arguments or {}),
            "destination": dest,
            "pattern": None,
            "matcher": None,
        }
        if ticket:
            chan.exchange_declare(reply_exchange, "direct", durable=False, auto_delete=False)
            chan.queue_declare(
                reply_queue,
                durable=False,
                exclusive=True,  # gone with our connection, even after kill -9
                auto_delete=True,
                arguments={
                    "x-expires": int(REPLY_QUEUE_EXPIRES * 1000),
                    "x-message-ttl": int(REPLY_QUEUE_TTL * 1000),
                },
            )
            chan.queue_bind(reply_queue, exchange=reply_exchange, routing_key=oid)
            chan.basic_consume(reply_queue, no_ack=True, callback=got.append)
            payload["ticket"] = ticket
            payload["reply_to"] = {"exchange": reply_exchange, "routing_key": oid}
        chan.exchange_declare(f"{exchange}.pidbox", "fanout", durable=False, auto_delete=False)
        fetch.join()
        known = known_box[0] if known_box else None
        if known is None:
            result.note = adapter.live_workers_note()
        message = amqp.Message(
            json.dumps(payload),
            content_type="application/json",
            content_encoding="utf-8",
            application_headers={"clock": 1, "expires": time.time() + timeout},
            delivery_mode=1,
        )
        chan.basic_publish(message, exchange=f"{exchange}.pidbox", routing_key="")
        expected = _expected_workers(None, dest, known, exact=True)
        result.expected = expected
        if not ticket:
            return result
        deadline = started + timeout
        replies: dict[str, Any] = {}
        latency: dict[str, float] = {}
        counted: set[str] = set()
        while expected is None or len(counted) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                conn.drain_events(timeout=remaining)
            except TimeoutError:
                break
            for msg in got:
                headers = msg.properties.get("application_headers") or {}
                if headers.get("ticket", ticket) != ticket:
                    continue
                try:
                    data = json.loads(msg.body)
                except (ValueError, TypeError):
                    data = None
                if not isinstance(data, dict) or not _merge_reply(
                    data, dest, replies, latency, started, counted, known
                ):
                    result.malformed += 1
            got.clear()
        result.replies = replies
        result.latency = latency
        result.answered = len(counted)
        if dest:
            result.missing = [d for d in dest if d not in replies]
        elif expected is not None and expected > len(counted):
            _mark_silent(result, sorted(f"{k}.{exchange}.pidbox" for k in known or ()), exchange)
        return result
    except (OSError, amqp.exceptions.AMQPError) as exc:
        raise BrokerUnreachable(
            adapter.settings.scrub(f"broker connection lost ({mask_url(url)}): {exc}")
        ) from None
    finally:
        result.elapsed = time.monotonic() - started
        try:
            if ticket:
                chan.queue_delete(reply_queue)
        except Exception:
            pass
        try:
            conn.close()
        except Exception:
            pass
