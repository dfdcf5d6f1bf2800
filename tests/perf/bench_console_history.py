"""The console starting with the past: history loaded while 20,000 events/s arrive.

    python -m tests.perf.bench_console_history [--keys 100000] [--history 10000]
        [--workers 500] [--rate 20000] [--typed 40]

A private Redis: db 1 filled with ``--keys`` results shaped as Celery's Redis
backend stores them (tests/perf/bench_history.py ``fill``), db 0 the broker
of ``--workers`` simulated workers (tests/perf/fleet.py) sending ``--rate``
task events/s.  Then ``ctl -A sample_proj console --history N`` is started in
a detached tmux (160x48, tests/perf/bench_console.py) and measured as a
person sees it:

* **first frame**: spawn -> painted screen (target < 1 s: the load must not
  delay it);
* **keypresses while it loads**: the Tasks screen, the filter opened, then
  characters typed one at a time, each timed from ``send-keys`` until the
  Tasks bar shows ``filter: <typed>``; a key counts as "while loading" when
  the header's progress line (``history: ...``) is on that same screen
  (target p95 < 100 ms);
* **loaded**: spawn -> the progress line last seen (a watcher polls the pane).

Prints one JSON document.  The machine is shared: the load average is in it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from typing import Any

from tests.perf.bench_console import (
    CLEAR_KEYS,
    FILTER_KEY,
    FILTER_READY,
    NAV_KEYS,
    PROBE,
    TASKS_READY,
    Tmux,
    _tool,
    console_env,
    first_frame,
    shown,
)
from tests.perf.bench_history import fill

LOADING = "history:"  # the header's progress line (console/core/feed/resync.py Resync._backfill)


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _wait_for(tmux: Tmux, text: str, timeout: float) -> bool:
    t0 = time.perf_counter()
    while text not in tmux.capture():
        if time.perf_counter() - t0 > timeout or tmux.dead():
            return False
        time.sleep(0.02)
    return True


class Watch(threading.Thread):
    """Polls the pane (~10/s): when the progress line was first and last on screen."""

    def __init__(self, tmux: Tmux) -> None:
        super().__init__(daemon=True)
        self.tmux = tmux
        self.first: float | None = None
        self.last: float | None = None
        self.loading = True
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            screen = self.tmux.capture()
            now = time.perf_counter()
            self.loading = LOADING in screen
            if self.loading:
                self.first = self.first or now
                self.last = now
            elif self.first is not None:
                return
            time.sleep(0.1)


def type_while_loading(tmux: Tmux, n: int, timeout: float = 5.0) -> dict[str, Any]:
    """Per key: (latency, was the progress line on the screen that showed it)."""
    for key in NAV_KEYS:
        tmux.send(key, literal=True)
    if not _wait_for(tmux, TASKS_READY, 15):
        return {"error": "the Tasks screen did not show within 15 s", "keys": []}
    tmux.send(FILTER_KEY, literal=True)
    if not _wait_for(tmux, FILTER_READY, 15):
        return {"error": "the filter did not open within 15 s", "keys": []}
    keys: list[tuple[float, bool]] = []
    misses = 0
    typed = ""
    for _ in range(n):
        if len(typed) >= len(PROBE) // 2 + 2:
            tmux.send(*CLEAR_KEYS)
            typed = ""
            t_clear = time.perf_counter()
            while shown(tmux.capture(), PROBE[:1]) and time.perf_counter() - t_clear < timeout:
                time.sleep(0.005)
        want = typed + PROBE[len(typed)]
        t0 = time.perf_counter()
        tmux.send(want[-1], literal=True)
        while True:
            screen = tmux.capture()
            if shown(screen, want):
                keys.append((time.perf_counter() - t0, LOADING in screen))
                typed = want
                break
            if time.perf_counter() - t0 > timeout:
                misses += 1
                typed = ""
                tmux.send(*CLEAR_KEYS)
                break
            time.sleep(0.002)
        time.sleep(0.05)  # a person types ~10-20 keys/s
    return {"keys": keys, "misses": misses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=100_000, help="results in the backend")
    ap.add_argument("--history", type=int, default=10_000, help="ctl console --history N")
    ap.add_argument("--workers", type=int, default=500)
    ap.add_argument("--rate", type=int, default=20_000, help="task events/s")
    ap.add_argument("--typed", type=int, default=40, help="keys typed while it loads")
    args = ap.parse_args()

    from console.core.redis_server import EmbeddedRedis
    from tests.perf.fleet import Fleet

    redis = EmbeddedRedis().start()
    try:
        backend = redis.url_for(1)
        t_fill = time.perf_counter()
        fill(backend, args.keys)
        fill_s = time.perf_counter() - t_fill
        env = console_env(redis.url)
        env["CELERY_RESULT_BACKEND"] = backend
        argv = [_tool("ctl"), "-A", "sample_proj", "console", "--history", str(args.history)]
        with Fleet(
            redis.url, args.workers, rate=args.rate, duration=600, prefix="load", tick=0.05
        ) as fleet:
            time.sleep(5)  # the fleet at its rate
            c0 = fleet.counters()
            with Tmux() as tmux:
                ff = first_frame(argv, env, tmux=tmux)
                t_spawn = time.perf_counter() - (ff["seconds"] or 0.0)
                seen = Watch(tmux)
                seen.start()
                typing = (
                    type_while_loading(tmux, args.typed)
                    if ff["seconds"] is not None
                    else {"error": ff.get("error"), "keys": []}
                )
                deadline = time.perf_counter() + 120
                while seen.loading and time.perf_counter() < deadline:
                    time.sleep(0.05)
                seen.stop = True
                seen.join()
                shown_s = seen.first - t_spawn if seen.first else None
                loaded_s = seen.last - t_spawn if seen.last else None
                last_screen = tmux.capture()
            c1 = fleet.counters()
            load = os.getloadavg()[0]
        rate = Fleet.rate_between(c0, c1)
    finally:
        redis.stop()
    keys = typing.get("keys", [])
    during = [k for k, loading in keys if loading]
    every = [k for k, _ in keys]
    ms = 1000.0
    doc = {
        "backend_keys": args.keys,
        "history": args.history,
        "fill_s": round(fill_s, 1),
        "workers": args.workers,
        "events_per_s_target": args.rate,
        "events_per_s_measured": round(rate) if rate else None,
        "first_frame_s": ff["seconds"],
        "first_frame_error": ff.get("error"),
        "progress_shown_s": shown_s,  # spawn -> the progress line first on screen
        "loaded_s": loaded_s,  # spawn -> the progress line last on screen
        "keys_while_loading": len(during),
        "keys_total": len(every),
        "misses": typing.get("misses"),
        "while_loading_p50_ms": statistics.median(during) * ms if during else None,
        "while_loading_p95_ms": (_p(during, 0.95) or 0) * ms if during else None,
        "all_p50_ms": statistics.median(every) * ms if every else None,
        "all_p95_ms": (_p(every, 0.95) or 0) * ms if every else None,
        "error": typing.get("error"),
        "loadavg_1m": round(load, 1),
        "cpus": os.cpu_count(),
        "last_line": [ln for ln in last_screen.splitlines() if ln.strip()][:3],
    }
    json.dump(doc, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
