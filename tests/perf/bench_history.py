"""``ctl tasks`` over a big result backend, against the naive ``AsyncResult`` loop.

    python -m tests.perf.bench_history [--keys 100000] [--repeat 3]

Fills a private Redis (db 1) with ``--keys`` results shaped exactly as
Celery's Redis backend stores them (``result_extended``: name, args, worker;
10 % FAILURE with a serialized exception; ``date_done`` spread over the last
two hours), then times, as whole processes:

* ``ctl tasks --state FAILURE --since 1h --json`` (target: < 3 s at 100,000);
* the naive way with stock Celery: ``SCAN`` the ids, ``AsyncResult(id)`` for
  each, keep the FAILUREs of the last hour, newest 50 -- the only way the
  stock tools offer.

Both answers must be the same 50 ids.  Prints a table and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CTL = str(Path(sys.executable).with_name("ctl"))

NAIVE = r"""
import sys, time
from datetime import datetime, timedelta, timezone
from celery import Celery
from celery.result import AsyncResult
app = Celery("naive", backend=sys.argv[1])
app.conf.result_extended = True
client = app.backend.client
cutoff = datetime.now(timezone.utc) - timedelta(hours=1)
found = []
for key in client.scan_iter(match="celery-task-meta-*", count=1000):
    r = AsyncResult(key.decode()[len("celery-task-meta-"):], app=app)
    if r.state == "FAILURE":
        done = r.date_done
        if done.tzinfo is None:
            done = done.replace(tzinfo=timezone.utc)
        if done >= cutoff:
            found.append((done, r.id))
found.sort(reverse=True)
print("\n".join(i for _, i in found[:50]))
"""


def fill(url: str, keys: int) -> None:
    import redis
    from celery import Celery

    app = Celery("fill", backend=url, set_as_current=False)
    app.conf.result_extended = True
    backend = app.backend
    client = redis.Redis.from_url(url)
    now = datetime.now(UTC)
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        failed = i % 10 == 0
        result = ValueError(f"invalid payload {i}") if failed else i * 2
        meta = {
            "status": "FAILURE" if failed else "SUCCESS",
            "result": backend.prepare_exception(result) if failed else result,
            "traceback": "Traceback (most recent call last):\n  ...\nValueError"
            if failed
            else None,
            "children": [],
            "date_done": (now - timedelta(seconds=i * 7200 / keys)).isoformat(),
            "task_id": f"task-{i:07d}",
            "name": "proj.tasks.process",
            "args": [i, "payload"],
            "kwargs": {"retry": False},
            "worker": f"w{i % 4}@host",
            "retries": 0,
            "queue": "celery",
        }
        pipe.set(backend.get_key_for_task(meta["task_id"]), backend.encode(meta))
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr[-500:]}")
    return elapsed, proc.stdout


def main() -> None:
    from console.core.redis_server import EmbeddedRedis

    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    server = EmbeddedRedis().start()
    try:
        url = server.url_for(1)
        t0 = time.perf_counter()
        fill(url, opts.keys)
        print(f"filled {opts.keys:,} results in {time.perf_counter() - t0:.1f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
        env.update(CELERY_RESULT_BACKEND=url, CELERY_BROKER_URL=server.url, NO_COLOR="1")
        ours, stock = [], []
        for _ in range(opts.repeat):
            t, out = timed([CTL, "tasks", "--state", "FAILURE", "--since", "1h", "--json"], env)
            ours.append(t)
            ours_ids = [rec["id"] for rec in json.loads(out)["tasks"]]
            t, out = timed([sys.executable, "-c", NAIVE, url], env)
            stock.append(t)
            naive_ids = out.split()
        same = ours_ids == naive_ids
        o, s = statistics.median(ours), statistics.median(stock)
        print(f"{'measure':58} {'ctl tasks':>10} {'naive':>10} {'ratio':>7}")
        print(
            f"{f'50 newest FAILURE of the last hour, {opts.keys:,} results':58} "
            f"{o:9.2f}s {s:9.2f}s {o / s:6.2f}x"
        )
        print(f"runs: ctl {', '.join(f'{x:.2f}' for x in ours)}; naive "
              f"{', '.join(f'{x:.2f}' for x in stock)}")  # fmt: skip
        print(f"same 50 ids: {same}; target < 3 s: {'PASS' if o < 3 else 'MISS'}")
        if not same:
            sys.exit(1)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
