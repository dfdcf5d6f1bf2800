"""Publish real ``celeryev`` messages to a Redis broker, at a target rate or flat out.

Every message is the exact kombu envelope that Celery's ``EventDispatcher``
publishes on Redis (``PUBLISH /{db}.celeryev/<routing_key> <json envelope>``
with the event JSON base64-encoded in ``body``), built with kombu's own JSON
encoder; ``--via-dispatcher`` sends through a real ``EventDispatcher`` instead
(slower, for cross-checking).  The traffic is a realistic task lifecycle:
``task-received`` -> ``task-started`` -> ``task-succeeded`` (some
``task-failed`` / ``task-retried``) with uuids, names, args and kwargs, from
several worker hostnames, plus a ``worker-heartbeat`` from each worker every
few hundred events.

Run as a separate process::

    python tests/perf/publish_events.py --url redis://127.0.0.1:6379/0 --count 100000 --rate 87000

It prints one JSON line with what was sent (count, seconds, rate, receivers).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import select
import socket
import sys
import time
import uuid
from collections.abc import Iterator

TASK_NAMES = (
    "sample_proj.tasks.add",
    "sample_proj.tasks.mul",
    "sample_proj.tasks.xsum",
    "sample_proj.pipeline.download",
    "sample_proj.pipeline.resize",
    "sample_proj.pipeline.upload",
)


def _json_dumps(obj: object) -> str:
    from kombu.utils.json import dumps

    return dumps(obj)


def generate_events(
    count: int,
    *,
    hostnames: tuple[str, ...] = ("w1@bench", "w2@bench"),
    seed: int = 0,
    start: float | None = None,
    heartbeat_every: int = 500,
) -> Iterator[dict]:
    """``count`` raw events shaped like Celery's (same keys, same order)."""
    rng = random.Random(seed)
    now = time.time() if start is None else start
    clocks = dict.fromkeys(hostnames, 0)
    pid = 4242
    inflight: list[tuple[str, str, str, float]] = []  # uuid, name, host, started
    sent = 0

    def base(host: str) -> dict:
        clocks[host] += 1
        return {"hostname": host, "utcoffset": 0, "pid": pid, "clock": clocks[host]}

    while sent < count:
        now += 0.00001
        if heartbeat_every and sent % heartbeat_every == 0:
            for host in hostnames:
                if sent >= count:
                    break
                ev = base(host)
                ev.update(
                    freq=2.0,
                    sw_ident="py-celery",
                    sw_ver="5.7.0",
                    sw_sys="Linux",
                    active=len(inflight),
                    processed=sent // 3,
                    loadavg=[0.5, 0.4, 0.3],
                    timestamp=now,
                    type="worker-heartbeat",
                )
                yield ev
                sent += 1
            continue
        if inflight and (len(inflight) > 50 or rng.random() < 0.5):
            tid, name, host, started = inflight.pop(rng.randrange(len(inflight)))
            ev = base(host)
            roll = rng.random()
            if roll < 0.03:
                ev.update(
                    uuid=tid,
                    exception="ValueError('invalid payload')",
                    traceback="Traceback (most recent call last):\n  ...\nValueError: invalid payload",
                    timestamp=now,
                    type="task-failed",
                )
            elif roll < 0.05:
                ev.update(
                    uuid=tid,
                    exception="TransientError('transient failure')",
                    traceback="Traceback ...",
                    timestamp=now,
                    type="task-retried",
                )
            else:
                ev.update(
                    uuid=tid,
                    result=repr(rng.randint(0, 10_000)),
                    runtime=now - started,
                    timestamp=now,
                    type="task-succeeded",
                )
            yield ev
            sent += 1
            continue
        tid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = rng.choice(TASK_NAMES)
        host = rng.choice(hostnames)
        ev = base(host)
        ev.update(
            uuid=tid,
            name=name,
            args=repr((rng.randint(0, 99), rng.randint(0, 99))),
            kwargs="{}",
            root_id=tid,
            parent_id=None,
            retries=0,
            eta=None,
            expires=None,
            timestamp=now,
            type="task-received",
        )
        yield ev
        sent += 1
        if sent >= count:
            break
        ev = base(host)
        ev.update(uuid=tid, timestamp=now, type="task-started")
        yield ev
        sent += 1
        inflight.append((tid, name, host, now))


def envelope(event: dict, exchange: str = "celeryev") -> bytes:
    """The kombu message for ``event`` exactly as the Redis transport publishes it."""
    routing_key = event["type"].replace("-", ".")
    body = base64.b64encode(_json_dumps(event).encode()).decode()
    message = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"hostname": event.get("hostname")},
        "properties": {
            "delivery_mode": 1,
            "delivery_info": {"exchange": exchange, "routing_key": routing_key},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return _json_dumps(message).encode()


def topic_for(event: dict, db: int = 0, exchange: str = "celeryev") -> str:
    return f"/{db}.{exchange}/{event['type'].replace('-', '.')}"


def resp_publish(topic: str, payload: bytes) -> bytes:
    t = topic.encode()
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(t), t, len(payload), payload)


def _parse_url(url: str) -> tuple[str, int, int, str | None]:
    from urllib.parse import unquote, urlsplit

    sp = urlsplit(url)
    db = int((sp.path or "/0").lstrip("/") or 0)
    password = unquote(sp.password) if sp.password else None
    return sp.hostname or "127.0.0.1", sp.port or 6379, db, password


def encode_all(count: int, *, db: int = 0, seed: int = 0) -> list[bytes]:
    return [
        resp_publish(topic_for(ev, db), envelope(ev)) for ev in generate_events(count, seed=seed)
    ]


def publish(
    url: str,
    count: int,
    rate: float = 0.0,
    *,
    seed: int = 0,
    frames: list[bytes] | None = None,
    start_delay: float = 0.0,
) -> dict:
    """Publish ``count`` events; ``rate`` events/s (0 = flat out). Returns a summary."""
    host, port, db, password = _parse_url(url)
    frames = frames if frames is not None else encode_all(count, db=db, seed=seed)
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    replies = bytearray()
    if password:
        sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password.encode()))
        sock.recv(64)
    if start_delay:
        time.sleep(start_delay)
    sock.setblocking(False)
    step = 200 if not rate else max(1, int(rate / 2000))  # ~0.5 ms slices when paced
    t0 = time.perf_counter()
    i = 0
    n = len(frames)
    while i < n:
        data = b"".join(frames[i : i + step])
        view = memoryview(data)
        while view:
            progressed = False
            try:
                sent = sock.send(view)
                view = view[sent:]
                progressed = sent > 0
            except BlockingIOError:
                pass
            try:
                chunk = sock.recv(1 << 20)
                replies += chunk
                progressed = progressed or bool(chunk)
            except BlockingIOError:
                pass
            if not progressed:
                select.select([sock], [sock] if view else [], [], 0.05)
        i += step
        if rate:
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    elapsed = time.perf_counter() - t0
    # collect every reply (one ":<receivers>" per PUBLISH)
    sock.setblocking(True)
    sock.settimeout(10)
    while replies.count(b"\r\n") < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        replies += chunk
    sock.close()
    receivers = [int(x[1:]) for x in bytes(replies).split(b"\r\n")[:n] if x.startswith(b":")]
    return {
        "count": n,
        "seconds": round(elapsed, 4),
        "rate": round(n / elapsed if elapsed else 0.0),
        "max_receivers": max(receivers, default=0),
        "min_receivers": min(receivers, default=0),
    }


def publish_via_dispatcher(url: str, count: int, *, seed: int = 0) -> dict:
    """Send through Celery's real EventDispatcher (cross-check of the envelope)."""
    from celery import Celery

    app = Celery("bench-publisher", broker=url, set_as_current=False)
    t0 = time.perf_counter()
    n = 0
    with app.connection_for_write() as conn:
        dispatchers: dict[str, object] = {}
        for ev in generate_events(count, seed=seed):
            host = ev.pop("hostname")
            for key in ("utcoffset", "pid", "clock", "timestamp"):
                ev.pop(key, None)
            d = dispatchers.get(host)
            if d is None:
                d = dispatchers[host] = app.events.Dispatcher(conn, hostname=host)
            d.send(ev.pop("type"), **ev)  # type: ignore[attr-defined]
            n += 1
    elapsed = time.perf_counter() - t0
    return {
        "count": n,
        "seconds": round(elapsed, 4),
        "rate": round(n / elapsed if elapsed else 0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s; 0 = flat out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--start-delay",
        type=float,
        default=0.0,
        help="seconds to wait after encoding, before publishing",
    )
    parser.add_argument(
        "--ready-file",
        default=None,
        help="touch this file when the frames are encoded (before the delay)",
    )
    parser.add_argument("--via-dispatcher", action="store_true")
    args = parser.parse_args(argv)
    if args.via_dispatcher:
        summary = publish_via_dispatcher(args.url, args.count, seed=args.seed)
    else:
        _, _, db, _ = _parse_url(args.url)
        frames = encode_all(args.count, db=db, seed=args.seed)
        if args.ready_file:
            with open(args.ready_file, "w") as fh:
                fh.write("ready")
        summary = publish(
            args.url,
            args.count,
            args.rate,
            seed=args.seed,
            frames=frames,
            start_delay=args.start_delay,
        )
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
