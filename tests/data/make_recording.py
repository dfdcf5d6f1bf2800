"""Regenerate ``tests/data/demo_events.jsonl.gz`` from REAL sample_proj traffic.

Starts an embedded Redis, subscribes the fast intake to its event stream,
then starts two real sample_proj workers (``alpha@demo``, ``bravo@demo``; their
``worker-online`` events are recorded) and sends every kind of work: single
tasks, chains, a group, the image chord pipeline, failures, automatic and
manual retries, a revoked (terminated) task, a task still running at the end,
and a task whose args carry Rich markup, ANSI/OSC-52 escapes and a bidi
override (UI snapshots must show them inert).  Recording stops before the
cluster is stopped (no ``worker-offline``).

Finally every ``timestamp`` (and ISO ``eta``/``expires``) is shifted so that
the last event lands one second before ``FixedClock()``'s default instant
(2026-01-01T00:00:00Z): replayed with ``ReplayFeed(path, speed=0,
clock=FixedClock())`` the workers look alive and the tasks recent.  Nothing
else is changed.  Usage::

    .venv/bin/python tests/data/make_recording.py [--out tests/data/demo_events.jsonl.gz]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOSTILE = "[bold red]x[/] \x1b[31m \x1b]52;c;SGVsbG8=\x07 \u202eevil"
FIXED_END = 1_767_225_600.0 - 1.0  # one second before FixedClock()'s default


def _shift_iso(value: object, delta: float) -> object:
    if not isinstance(value, str):
        return value
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    return (dt + timedelta(seconds=delta)).isoformat()


def rebase(events: list[dict], end: float = FIXED_END) -> list[dict]:
    stamps = [e["timestamp"] for e in events if isinstance(e.get("timestamp"), int | float)]
    if not stamps:
        return events
    delta = end - max(stamps)
    out = []
    for ev in events:
        ev = dict(ev)
        if isinstance(ev.get("timestamp"), int | float):
            ev["timestamp"] = round(ev["timestamp"] + delta, 6)
        for key in ("eta", "expires"):
            if ev.get(key):
                ev[key] = _shift_iso(ev[key], delta)
        out.append(ev)
    return out


def traffic(app) -> None:
    from celery import chain, chord, group

    from sample_proj.pipeline import image_pipeline

    sig = app.signature
    results = []
    # single tasks
    for i in range(120):
        results.append(sig("sample_proj.tasks.add", args=(i, i * 2)).apply_async())
        results.append(sig("sample_proj.tasks.mul", args=(i, 3)).apply_async())
    results.append(sig("sample_proj.tasks.xsum", args=(list(range(10)),)).apply_async())
    # hostile data in args and in an exception message
    results.append(sig("sample_proj.tasks.add", args=(HOSTILE, " tail")).apply_async())
    bad_hostile = sig("sample_proj.tasks.always_fails", kwargs={"reason": HOSTILE}).apply_async()
    # chains
    for i in range(5):
        results.append(
            chain(
                sig("sample_proj.tasks.add", args=(i, 1)),
                sig("sample_proj.tasks.mul", args=(10,)),
                sig("sample_proj.tasks.add", args=(7,)),
            ).apply_async()
        )
    # a group
    results.append(
        group(sig("sample_proj.tasks.xsum", args=([i, i, i],)) for i in range(8)).apply_async()
    )
    # the image chord pipeline, twice
    pipelines = [
        image_pipeline([f"s3://bucket/img-{k}-{i}.png" for i in range(4)]).apply_async()
        for k in range(2)
    ]
    # a chord of plain tasks
    results.append(
        chord(
            (sig("sample_proj.tasks.add", args=(i, i)) for i in range(5)),
            sig("sample_proj.tasks.xsum"),
        ).apply_async()
    )
    # failures
    fails = [
        sig("sample_proj.tasks.always_fails", args=(f"record {i}",)).apply_async() for i in range(3)
    ]
    # retries: autoretry until max_retries (seeded to fail), a flaky one that recovers, manual retries
    retry_fail = sig("sample_proj.tasks.flaky", kwargs={"fail_rate": 1.0}).apply_async()
    retry_ok = sig(
        "sample_proj.tasks.fetch_with_retry",
        args=("https://example.invalid/a",),
        kwargs={"fail_times": 2},
    ).apply_async()
    # revoke: a long task, terminated while running
    victim = sig("sample_proj.tasks.sleepy", kwargs={"seconds": 60}).apply_async()
    _wait_started(app, victim.id)
    app.control.revoke(victim.id, terminate=True, signal="SIGTERM")
    # wait for everything (failures included) to finish
    for r in results:
        r.get(timeout=60, propagate=False)
    for p in pipelines:
        p.get(timeout=60, propagate=False)
    for r in [*fails, bad_hostile, retry_fail, retry_ok]:
        r.get(timeout=60, propagate=False)
    # more single tasks spread over a few seconds (rate history), then one still running at the end
    for i in range(60):
        sig("sample_proj.tasks.add", args=(i, 100)).apply_async()
        time.sleep(0.08)
    sig("sample_proj.tasks.sleepy", kwargs={"seconds": 120}).apply_async()
    time.sleep(4.5)  # heartbeats (every 2 s) of both workers, the running task shows STARTED


def _wait_started(app, task_id: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.AsyncResult(task_id).state == "STARTED":
            return
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("demo_events.jsonl.gz")))
    args = parser.parse_args(argv)

    from console.core.intake import RedisEventSource
    from console.core.recording import Recorder, read_events
    from console.core.redis_server import EmbeddedRedis
    from console.demo.cluster import LocalCluster

    redis = EmbeddedRedis().start()
    events: list[dict] = []
    stop = threading.Event()
    source = RedisEventSource(redis.url)
    source.start(require_connection=True)

    def pump() -> None:
        while not stop.is_set():
            events.extend(source.read_batch(0.1))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    cluster = LocalCluster(workers=("alpha@demo", "bravo@demo"), concurrency=2, redis=redis)
    try:
        cluster.start()
        from sample_proj import app

        app.conf.broker_url = cluster.broker_url
        app.conf.result_backend = cluster.backend_url
        traffic(app)
        stop.set()
        reader.join(5)
        events.extend(source.read_batch(0.5))
    finally:
        stop.set()
        source.close()
        cluster.stop()
        redis.stop()
    events = rebase(events)
    out = Path(args.out)
    with Recorder(out, secrets=[redis.url]) as rec:
        rec.write_batch(events)
    kinds: dict[str, int] = {}
    for ev in read_events(out):
        kinds[ev["type"]] = kinds.get(ev["type"], 0) + 1
    print(f"wrote {len(events)} events, {out.stat().st_size} bytes to {out}")
    for kind, n in sorted(kinds.items()):
        print(f"  {kind:<18} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
