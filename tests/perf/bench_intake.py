"""Benchmark: our intake + state vs Celery's stock EventReceiver + State.

Same publisher (``publish_events.py``, a separate process sending real
``celeryev`` messages), same event count, each consumer in its own process:

* throughput: ``count`` events published flat out to a Redis without a pub/sub
  output-buffer limit; events/s from the first to the last event applied.
* burst: 100,000 events at ~87,000/s to a Redis with the default limit
  (``client-output-buffer-limit pubsub 32mb 8mb 60``): does the consumer keep
  up, detect the loss (gap), or die?
* sustained: 300,000 events at 60,000/s (5 s) to the same Redis, into our
  intake and into a LiveFeed: all received, no gap?

``run(redis_url=None) -> list[dict]``; ``python tests/perf/bench_intake.py``
prints a table.  With ``redis_url`` the throughput phase uses that server
as configured (no CONFIG changes); the burst phase always uses an embedded one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PUBLISHER = HERE / "publish_events.py"


def _state(max_tasks: int = 200_000) -> tuple[Any, str]:
    from console.core.state import ClusterState

    return ClusterState(max_tasks=max_tasks), "ClusterState"


# ---------------------------------------------------------------------------
# consumers (each runs in its own process: ``bench_intake.py --consume ...``)


def consume_ours(url: str, count: int, idle: float) -> dict:
    from console.core.intake import RedisEventSource, tune_gc

    state, state_name = _state()
    tune_gc()  # as the LiveFeed intake process does
    source = RedisEventSource(url)
    source.start(require_connection=True)
    time.sleep(0.2)
    print("ready", flush=True)
    got = 0
    first = last = None
    gaps = 0
    deadline_idle = None
    while got < count:
        batch = source.read_batch(0.1)
        now = time.perf_counter()
        if source.take_gap():
            gaps += 1
        if batch:
            state.apply_batch(batch)
            got += len(batch)
            last = time.perf_counter()
            if first is None:
                first = now
            deadline_idle = last + idle
        elif deadline_idle is not None and now > deadline_idle:
            break
        elif first is None and now > 120 + (deadline_idle or now):
            break
    st = source.status
    source.close()
    seconds = (last - first) if first and last else 0.0
    return {
        "received": got,
        "seconds": round(seconds, 3),
        "events_per_s": round(got / seconds) if seconds else 0,
        "gaps": max(gaps, st.gaps),
        "died": False,
        "error": "",
        "state": "ClusterState",
        "malformed": st.malformed,
    }


def consume_livefeed(url: str, count: int, idle: float) -> dict:
    """The whole pipeline the console uses: LiveFeed (intake process) -> deltas in this process."""
    from console.core.feed import LiveFeed
    from console.core.settings import ClusterSettings

    feed = LiveFeed(
        ClusterSettings(broker_url=url), max_tasks=200_000, rate_hz=10, initial_resync=False
    )
    feed.start()
    deadline = time.monotonic() + 60
    while feed.status.mode != "live" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    print("ready", flush=True)
    applied = 0
    first = last = None
    max_poll = 0.0
    rows = 0
    last_change = time.perf_counter()
    try:
        while applied < count:
            t0 = time.perf_counter()
            delta = feed.poll()
            max_poll = max(max_poll, time.perf_counter() - t0)
            now = time.perf_counter()
            if delta is not None:
                rows += len(delta.tasks)
                n = int(delta.stats.get("intake", {}).get("events", 0))
                if n > applied:
                    if first is None:
                        first = now
                    applied, last, last_change = n, now, now
            if first is not None and now - last_change > idle:
                break
            if first is None and now - last_change > 120:
                break
            time.sleep(0.01)
    finally:
        gaps = feed.status.gaps
        feed.stop()
    # the first delta already carries up to 1/rate_hz of work: count from the publish start instead
    seconds = (last - first + 0.1) if first and last else 0.0
    return {
        "received": applied,
        "seconds": round(seconds, 3),
        "events_per_s": round(applied / seconds) if seconds else 0,
        "gaps": gaps,
        "died": False,
        "error": "",
        "state": "ClusterState",
        "max_poll_ms": round(max_poll * 1000, 2),
        "task_rows": rows,
    }


def consume_stock(url: str, count: int, idle: float) -> dict:
    from celery import Celery
    from celery.events.state import State

    app = Celery("bench-stock", broker=url, set_as_current=False)
    state = State(max_tasks_in_memory=200_000)
    seen = {"n": 0, "first": None, "last": None}

    def on_event(event: dict) -> None:
        state.event(event)
        seen["n"] += 1
        now = time.perf_counter()
        if seen["first"] is None:
            seen["first"] = now
        seen["last"] = now
        if seen["n"] >= count:
            recv.should_stop = True

    import threading

    died, error = False, ""
    with app.connection_for_read() as conn:
        recv = app.events.Receiver(conn, handlers={"*": on_event})
        # the pub/sub subscription is made by the first drain: say "ready" just after it
        timer = threading.Timer(0.5, lambda: print("ready", flush=True))
        timer.start()
        t0 = time.perf_counter()
        try:
            while not recv.should_stop:
                try:
                    for _ in recv.consume(
                        limit=None, timeout=idle, safety_interval=0.2, wakeup=False
                    ):
                        if recv.should_stop:
                            break
                except TimeoutError:
                    if seen["n"] or time.perf_counter() - t0 > 120:
                        break
        except Exception as exc:
            died, error = (
                True,
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            )
        timer.join()
    first, last = seen["first"], seen["last"]
    seconds = (last - first) if first and last else 0.0
    return {
        "received": seen["n"],
        "seconds": round(seconds, 3),
        "events_per_s": round(seen["n"] / seconds) if seconds else 0,
        "gaps": 0,
        "died": died,
        "error": error,
        "state": "celery.events.state.State",
    }


def _consumer_main(kind: str, url: str, count: int) -> None:
    fn = {"ours": consume_ours, "stock": consume_stock, "livefeed": consume_livefeed}[kind]
    result = fn(url, count, idle=3.0)
    print("result " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------
# orchestration


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_pair(kind: str, url: str, count: int, rate: float, timeout: float = 180.0) -> dict:
    consumer = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--consume",
            kind,
            "--url",
            url,
            "--count",
            str(count),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert consumer.stdout is not None
        line = consumer.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(
                f"consumer {kind} failed to start: {line}{consumer.stderr.read()[-2000:]}"
            )
        pub = subprocess.run(
            [
                sys.executable,
                str(PUBLISHER),
                "--url",
                url,
                "--count",
                str(count),
                "--rate",
                str(rate),
            ],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=timeout,
        )
        publisher = (
            json.loads(pub.stdout.strip().splitlines()[-1])
            if pub.returncode == 0
            else {"error": pub.stderr[-500:]}
        )
        out, err = consumer.communicate(timeout=timeout)
        result_line = next((ln for ln in out.splitlines() if ln.startswith("result ")), None)
        if result_line is None:
            result = {
                "received": 0,
                "died": True,
                "error": (err.strip().splitlines() or ["no result"])[-1][:200],
            }
        else:
            result = json.loads(result_line[len("result ") :])
        result["publisher"] = publisher
        return result
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()


def run(
    redis_url: str | None = None,
    count: int = 100_000,
    burst: int = 100_000,
    burst_rate: float = 87_000,
    sustained: int | None = None,
    sustained_rate: float = 60_000,
) -> list[dict]:
    """Run the benchmark; one dict per measurement (see module docstring).

    ``sustained`` events (default 300,000 for full-size runs, none for small
    ``count``) are also published at ``sustained_rate`` events/s to a Redis with
    the default pub/sub limit, into our intake and into a LiveFeed.
    """
    if sustained is None:
        sustained = 300_000 if count >= 50_000 else 0
    from console.core.redis_server import EmbeddedRedis

    rows: list[dict] = []
    servers = []
    try:
        if redis_url is None:
            server = EmbeddedRedis(
                extra_args=["--client-output-buffer-limit", "pubsub", "0", "0", "0"]
            )
            servers.append(server.start())
            url = server.url
        else:
            url = redis_url
        results = {}
        for kind in ("ours", "stock"):
            res = _run_pair(kind, url, count, rate=0)
            results[kind] = res
            rows.append({"test": "throughput", "consumer": kind, "count": count, **res})
        res = _run_pair("livefeed", url, count, rate=0)
        rows.append({"test": "throughput", "consumer": "livefeed", "count": count, **res})
        ours, stock = (
            results["ours"].get("events_per_s", 0),
            results["stock"].get("events_per_s", 0),
        )
        rows.append(
            {
                "test": "ratio",
                "consumer": "ours/stock",
                "count": count,
                "ratio": round(ours / stock, 2) if stock else None,
            }
        )

        burst_server = EmbeddedRedis(
            extra_args=["--client-output-buffer-limit", "pubsub", "32mb", "8mb", "60"]
        )
        servers.append(burst_server.start())
        for kind in ("ours", "stock"):
            res = _run_pair(kind, burst_server.url, burst, rate=burst_rate)
            if res.get("died"):
                outcome = f"died ({res.get('error')})"
            elif res.get("received") == burst and not res.get("gaps"):
                outcome = "kept up" if kind == "ours" else "survived, kept up"
            elif res.get("gaps"):
                outcome = "gap detected (LiveFeed resyncs via remote control)"
            else:
                outcome = f"missed {burst - res.get('received', 0)} events silently"
            rows.append(
                {"test": "burst", "consumer": kind, "count": burst, "outcome": outcome, **res}
            )
        for kind in ("ours", "livefeed") if sustained else ():
            res = _run_pair(kind, burst_server.url, sustained, rate=sustained_rate, timeout=600)
            ok = res.get("received") == sustained and not res.get("gaps") and not res.get("died")
            rows.append(
                {
                    "test": "sustained",
                    "consumer": kind,
                    "count": sustained,
                    "outcome": "kept up" if ok else f"fell behind ({res.get('gaps')} gaps)",
                    **res,
                }
            )
    finally:
        for server in servers:
            server.stop()
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        f"{'test':<11} {'consumer':<11} {'count':>7} {'received':>9} {'events/s':>9} {'gaps':>4}  result"
    )
    for row in rows:
        if row["test"] == "ratio":
            print(
                f"{'ratio':<11} {row['consumer']:<11} {row['count']:>7} {'':>9} {'':>9} {'':>4}  "
                f"{row['ratio']}x"
            )
            continue
        pub = row.get("publisher", {})
        extra = row.get("outcome") or ("died: " + row["error"] if row.get("died") else "ok")
        if "max_poll_ms" in row:
            extra += f" (UI poll() max {row['max_poll_ms']} ms, {row['task_rows']} rows)"
        print(
            f"{row['test']:<11} {row['consumer']:<11} {row['count']:>7} {row.get('received', 0):>9} "
            f"{row.get('events_per_s', 0):>9} {row.get('gaps', 0):>4}  {extra}"
            f"  [publisher {pub.get('rate', '?')}/s; state={row.get('state', '?')}]"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="intake benchmark")
    parser.add_argument("--consume", choices=["ours", "stock", "livefeed"])
    parser.add_argument("--url", default=None)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    if args.consume:
        _consumer_main(args.consume, args.url, args.count)
        return 0
    rows = run(args.url, count=args.count)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
