"""Benchmark: the console's AMQP event intake vs Celery's stock EventReceiver, same RabbitMQ.

One RabbitMQ node (tests/rabbitmq.py, or ``--url`` of a vhost you own), one
fast publisher (py-amqp ``basic_publish`` of pre-built event bodies, exactly
the message Celery's ``EventDispatcher`` sends on AMQP: JSON body,
``application/json``, ``hostname`` header, routing key ``task.succeeded``
etc.), and each consumer in its own process:

1. the consumer connects and starts consuming (ours: ``AmqpEventSource``;
   stock: ``app.events.Receiver``'s own queue and ``_receive`` callback on a
   kombu ``Consumer``, the code ``Receiver.capture`` runs), then says ready;
2. the publisher sends ``count`` events flat out; they pile up in the
   consumer's queue (stock's queue is declared first and consumed from on
   "go"; ours has read ahead into its bounded buffer);
3. on "go" the consumer drains; events/s over the events after the first
   quarter (at most 40,000), so a read-ahead at "go" (ours: up to 8 MB in
   its buffer and the sockets') does not count.

Modes: ``intake`` (events only: ours ``read_batch``; stock a counting
handler) and ``state`` (into the state: ours ``ClusterState.apply_batch``,
stock ``celery.events.state.State.event``).  Stock runs with
``event_queue_ttl=None``: its default 5 s message TTL would expire the
pre-filled events and make it look faster than it is.

A second phase, ``flood``, publishes while both consume with their defaults
(stock: the 5 s TTL) and counts what arrived, what was reported lost.

    .venv/bin/python -m tests.perf.bench_amqp_intake [--count 200000] [--url amqp://...]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROUTING = {
    "task-received": "task.received",
    "task-started": "task.started",
    "task-succeeded": "task.succeeded",
    "task-failed": "task.failed",
    "task-retried": "task.retried",
    "worker-heartbeat": "worker.heartbeat",
}


# ---------------------------------------------------------------------------
# publisher


def build_messages(count: int) -> list[tuple[bytes, str, str]]:
    import orjson

    from tests.perf.publish_events import generate_events

    out = []
    for ev in generate_events(count):
        rk = ROUTING.get(ev["type"], ev["type"].replace("-", "."))
        out.append((orjson.dumps(ev), rk, ev["hostname"]))
    return out


def publish(url: str, messages: list[tuple[bytes, str, str]], exchange: str = "celeryev") -> float:
    """Publish flat out; returns events/s."""
    import amqp

    sp = urllib.parse.urlsplit(url)
    conn = amqp.Connection(
        f"{sp.hostname}:{sp.port or 5672}",
        userid=urllib.parse.unquote(sp.username or "guest"),
        password=urllib.parse.unquote(sp.password or "guest"),
        virtual_host=urllib.parse.unquote(sp.path[1:] or "/"),
        # py-amqp's default TCP_USER_TIMEOUT (1 s) kills a publisher that RabbitMQ holds
        # back with credit flow for longer than that on a loaded machine
        socket_settings={socket.TCP_USER_TIMEOUT: 120_000},
    )
    conn.connect()
    ch = conn.channel()
    ch.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    t0 = time.perf_counter()
    Message, basic_publish = amqp.Message, ch.basic_publish
    for body, rk, host in messages:
        basic_publish(
            Message(
                body,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=1,
                headers={"hostname": host},
            ),
            exchange,
            rk,
        )
    seconds = time.perf_counter() - t0
    conn.close()
    return len(messages) / seconds if seconds else 0.0


# ---------------------------------------------------------------------------
# consumers (child processes: ``--consume ours|stock``)


def _skip(count: int, mode: str) -> int:
    """Events/s are counted after the first quarter (at most 40,000): what was already in
    the consumer's buffers at "go" (ours: up to 8 MB read ahead) is not a rate."""
    return 0 if mode == "flood" else min(40_000, count // 4)


def _wait_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def consume_ours(url: str, count: int, mode: str, idle: float) -> dict[str, Any]:
    from celery import Celery

    from console.core.brokers.amqp_events import AmqpEventSource
    from console.core.intake import tune_gc
    from console.core.state import ClusterState

    app = Celery("bench-ours", broker=url, set_as_current=False)
    state = ClusterState(max_tasks=300_000) if mode in ("state", "flood") else None
    tune_gc()  # as the LiveFeed intake process does
    source = AmqpEventSource(app, url=url)
    source.start(require_connection=True)
    if mode != "flood":
        _wait_go()
    else:
        print("ready", flush=True)
    t0 = time.perf_counter()
    got, last = 0, t0
    skip = _skip(count, mode)
    mark: tuple[float, int] | None = None
    while got < count:
        batch = source.read_batch(0.1, max_events=1000)  # the LiveFeed loop's bite
        if batch:
            if state is not None:
                state.apply_batch(batch)
            got += len(batch)
            last = time.perf_counter()
            if mark is None and got >= skip:
                mark = (last, got)
        elif time.perf_counter() - last > idle:
            break
    time.sleep(source.count_interval * 3)  # the last drop count
    source.read_batch(0.2)
    st = source.status
    source.close()
    seconds, counted = (last - mark[0], got - mark[1]) if mark else (last - t0, got)
    return {
        "received": got,
        "seconds": round(seconds, 3),
        "events_per_s": round(counted / seconds) if seconds else 0,
        "dropped": st.dropped,
        "gaps": st.gaps,
    }


def consume_stock(url: str, count: int, mode: str, idle: float) -> dict[str, Any]:
    from celery import Celery
    from celery.events.state import State

    app = Celery("bench-stock", broker=url, set_as_current=False)
    if mode != "flood":
        app.conf.event_queue_ttl = None  # pre-filled: a 5 s TTL would expire them
    state = State(max_tasks_in_memory=300_000) if mode in ("state", "flood") else None
    seen: dict[str, Any] = {"n": 0, "last": 0.0, "mark": None}
    skip = _skip(count, mode)

    def on_event(event: dict[str, Any]) -> None:
        if state is not None:
            state.event(event)
        seen["n"] += 1
        seen["last"] = time.perf_counter()
        if seen["mark"] is None and seen["n"] >= skip:
            seen["mark"] = (seen["last"], seen["n"])

    with app.connection_for_read() as conn:
        recv = app.events.Receiver(conn, handlers={"*": on_event})
        # the consumer Receiver.capture() builds (ConsumerMixin.get_consumers), on our connection
        consumer = conn.Consumer(
            queues=[recv.queue], callbacks=[recv._receive], no_ack=True, accept=recv.accept
        )
        if mode != "flood":
            # a consumer that does not read blocks the queue and so the publisher (credit
            # flow): declare the queue now, consume from it once it is full
            recv.queue(conn.default_channel).declare()
            _wait_go()
            consumer.consume()
        else:
            consumer.consume()
            print("ready", flush=True)
        t0 = time.perf_counter()
        seen["last"] = t0
        while seen["n"] < count:
            try:
                conn.drain_events(timeout=0.2)
            except TimeoutError:
                if time.perf_counter() - seen["last"] > idle:
                    break
        consumer.cancel()
    mark = seen["mark"]
    seconds, counted = (
        (seen["last"] - mark[0], seen["n"] - mark[1]) if mark else (seen["last"] - t0, seen["n"])
    )
    return {
        "received": seen["n"],
        "seconds": round(seconds, 3),
        "events_per_s": round(counted / seconds) if seconds else 0,
        "dropped": None,
        "gaps": 0,
    }


# ---------------------------------------------------------------------------
# orchestration


def run_consumer(
    who: str, url: str, messages: list[tuple[bytes, str, str]], mode: str, idle: float = 3.0
) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["CELERY_BROKER_URL"] = url  # it overrides Celery(broker=...): make it ours
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.perf.bench_amqp_intake", "--consume", who]
        + ["--url", url, "--count", str(len(messages)), "--mode", mode, "--idle", str(idle)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"{who} consumer did not start: {line!r}")
        time.sleep(0.5)
        rate = publish(url, messages)
        if mode != "flood":
            time.sleep(1.0)
            proc.stdin.write("go\n")
            proc.stdin.flush()
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["publish_per_s"] = round(rate)
    return result


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load} (machine shared with other engineers)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="amqp:// URL of a vhost to use (default: start a node)")
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--flood", type=int, default=80_000, help="events in the flood phase")
    ap.add_argument("--consume", choices=("ours", "stock"), help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="state", help=argparse.SUPPRESS)
    ap.add_argument("--idle", type=float, default=3.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.consume:
        fn = consume_ours if args.consume == "ours" else consume_stock
        print(json.dumps(fn(args.url, args.count, args.mode, args.idle)), flush=True)
        return 0

    node = None
    url = args.url
    if url is None:
        from tests.rabbitmq import EmbeddedRabbitMQ

        node = EmbeddedRabbitMQ().start()
        url = node.url(node.add_vhost("bench"))
    try:
        print(f"# {machine()}")
        messages = build_messages(args.count)
        rows = []
        for mode in ("intake", "state"):
            results = {who: run_consumer(who, url, messages, mode) for who in ("stock", "ours")}
            ours, stock = results["ours"], results["stock"]
            ratio = ours["events_per_s"] / stock["events_per_s"] if stock["events_per_s"] else 0
            rows.append((mode, ours, stock, ratio))
            print(
                f"{mode:6}  ours {ours['events_per_s']:>9,}/s ({ours['received']:,} events)  "
                f"stock {stock['events_per_s']:>9,}/s ({stock['received']:,})  "
                f"ratio {ratio:.2f}x  publisher {ours['publish_per_s']:,}/s",
                flush=True,
            )
        flood = build_messages(args.flood)
        for who in ("stock", "ours"):
            r = run_consumer(who, url, flood, "flood", idle=8.0)
            lost = len(flood) - r["received"]
            said = (
                f"reported {r['dropped']:,} dropped, {r['gaps']} gap(s)"
                if r["dropped"] is not None
                else "reported nothing"
            )
            print(
                f"flood   {who:5} received {r['received']:,} of {len(flood):,} "
                f"(published at {r['publish_per_s']:,}/s while consuming into the state); "
                f"lost {lost:,}, {said}",
                flush=True,
            )
    finally:
        if node is not None:
            node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
