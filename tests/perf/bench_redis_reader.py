"""The hand-written Redis pub/sub reader vs redis-py's pub/sub client, side by side.

    python -m tests.perf.bench_redis_reader [--count 100000] [--repeat 3]

Same embedded redis-server (no pub/sub output-buffer limit), same publisher
(``publish_events.py`` in its own process, flat out, real ``celeryev``
envelopes), the same decoder (``redis_wire.decode_envelope``) after each reader:
``ours`` is ``RedisEventSource`` (its reader thread + ``read_batch``), ``redis-py``
is ``Redis.pubsub().psubscribe(...)`` with a ``get_message`` loop.  Events/s from
the first to the last event; best of ``--repeat``.  Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PUBLISHER = HERE / "publish_events.py"


def _publish(url: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(PUBLISHER),
            "--url",
            url,
            "--count",
            str(count),
            "--start-delay",
            "0.3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def ours(url: str, count: int) -> float:
    from console.core.intake import RedisEventSource

    source = RedisEventSource(url)
    source.start(require_connection=True)
    time.sleep(0.2)
    pub = _publish(url, count)
    got, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + 120
    while got < count and time.monotonic() < deadline:
        batch = source.read_batch(0.1)
        if batch:
            now = time.perf_counter()
            first = first or now
            got += len(batch)
            last = now
    source.close()
    pub.wait(60)
    return got / (last - first) if last > first else 0.0


def redis_py(url: str, count: int) -> float:
    import redis

    from console.core.brokers.redis_wire import decode_envelope
    from console.core.intake import RedisEventSource

    patterns = RedisEventSource(url).patterns
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe(*patterns)
    pubsub.get_message(timeout=0.2)
    pub = _publish(url, count)
    got, first, last = 0, 0.0, 0.0
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while got < count and time.monotonic() < deadline:
        msg = pubsub.get_message(timeout=0.1)
        if not msg:
            continue
        now = time.perf_counter()
        first = first or now
        out.clear()
        decode_envelope(msg["data"], out)
        got += len(out)
        last = now
    pubsub.close()
    client.close()
    pub.wait(60)
    return got / (last - first) if last > first else 0.0


def main() -> None:
    from console.core.redis_server import EmbeddedRedis

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = EmbeddedRedis(
        extra_args=["--client-output-buffer-limit", "pubsub", "0", "0", "0"]
    ).start()
    try:
        a = max(ours(server.url, args.count) for _ in range(args.repeat))
        b = max(redis_py(server.url, args.count) for _ in range(args.repeat))
    finally:
        server.stop()
    print(
        json.dumps(
            {
                "count": args.count,
                "ours_events_per_s": round(a),
                "redis_py_events_per_s": round(b),
                "ratio": round(a / b, 2) if b else None,
            }
        )
    )


if __name__ == "__main__":
    main()
