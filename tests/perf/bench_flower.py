"""Flower as a third column: its event intake rate and memory on the same stream.

Flower 2.2 (installed in the venv as the ``bench`` extra) is started as
``celery -A sample_proj flower`` on a free loopback port against the bench
Redis, with its defaults except ``--enable_events=False`` (it would otherwise
broadcast ``enable_events`` every few seconds) and ``--max_tasks`` large
enough to hold the whole run.  The SAME generator as rows 3/4
(tests/perf/publish_events.py, real ``celeryev`` envelopes) publishes:

* intake: ``count`` events as fast as the publisher can (the 100,000-event
  burst); Flower's ``/metrics`` counter ``flower_events_total`` (task events
  only; scaled by the stream's task/worker mix) says how many it accounted.
  Events Flower could not take are lost on Redis pub/sub (the server drops a
  subscriber whose output buffer passes 32 MB), reported as accounted <
  published.  Then its own rate on a 30,000-event burst, which stays under
  that limit: accounted / (time of the last increase - publish start).
* memory: then events at a paced rate that Flower keeps up with, until it
  tracks ``tasks`` tasks (task-received counted by flower_events_total);
  bytes per task = (RSS after - RSS before) / tasks tracked.

Everything is bounded by timeouts, and Flower is always stopped.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from console.core.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = ROOT / "tests" / "perf" / "publish_events.py"
_METRIC = re.compile(r'^flower_events_total\{([^}]*)\}\s+([0-9.eE+]+)', re.M)


class FlowerProcess:
    def __init__(self, broker_url: str, max_tasks: int = 200_000) -> None:
        self.broker_url = broker_url
        self.port = free_port()
        self.max_tasks = max_tasks
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="flower-bench-", suffix=".log")[1])

    def start(self, timeout: float = 30.0) -> FlowerProcess:
        env = dict(os.environ, CELERY_BROKER_URL=self.broker_url,
                   CELERY_RESULT_BACKEND=self.broker_url,
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        exe = Path(sys.executable).parent / "celery"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(exe), "-A", "sample_proj", "flower", f"--port={self.port}",
                 "--address=127.0.0.1", f"--max_tasks={self.max_tasks}",
                 "--enable_events=False", "--persistent=False", "--logging=warning"],
                env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"flower exited: {self.tail()}")
            try:
                self.events_total()
                # the event receiver thread subscribes shortly after the web server
                time.sleep(1.0)
                return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"flower did not answer on :{self.port}: {self.tail()}")

    def tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-3:])
        except OSError:
            return ""

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
            return resp.read().decode()

    def events_total(self, type_: str | None = None) -> int:
        total = 0.0
        for labels, value in _METRIC.findall(self.metrics()):
            if type_ is None or f'type="{type_}"' in labels:
                total += float(value)
        return int(total)

    def rss(self) -> int:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.log.unlink()

    def __enter__(self) -> FlowerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def publish(broker_url: str, count: int, rate: float = 0.0, seed: int = 0,
            timeout: float = 300.0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, str(PUBLISHER), "--url", broker_url, "--count", str(count),
         "--rate", str(rate), "--seed", str(seed)],
        env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def task_events_in(count: int, seed: int) -> int:
    """How many of the generator's first ``count`` events are task events."""
    sys.path.insert(0, str(PUBLISHER.parent))
    try:
        import publish_events  # noqa: PLC0415 - the sibling script
    finally:
        sys.path.pop(0)
    return sum(1 for ev in publish_events.generate_events(count, seed=seed)
               if ev["type"].startswith("task-"))


def _wait_settled(flower: FlowerProcess, target: int, t_start: float, timeout: float,
                  quiet: float = 3.0) -> tuple[int, float]:
    """Poll the counter until it reaches ``target`` or stops growing for ``quiet`` s."""
    last, t_last = flower.events_total(), time.monotonic()
    deadline = t_start + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now_count = flower.events_total()
        if now_count != last:
            last, t_last = now_count, time.monotonic()
        if last >= target or time.monotonic() - t_last > quiet:
            break
    return last, t_last


def measure(broker_url: str, burst: int = 100_000, tasks: int = 100_000,
            paced_rate: float = 4000.0, timeout: float = 240.0,
            throughput_burst: int = 30_000) -> dict[str, Any]:
    """Flower's intake of a ``burst`` and its memory per task at ``tasks`` tasks."""
    if not PUBLISHER.exists():
        return {"error": "tests/perf/publish_events.py missing"}
    out: dict[str, Any] = {"burst": burst}
    with FlowerProcess(broker_url, max_tasks=max(tasks, burst) * 2) as flower:
        rss0 = flower.rss()
        base = flower.events_total()
        cpu0 = flower.cpu_seconds()
        t0 = time.monotonic()
        pub = publish(broker_url, burst, 0.0, seed=1)
        pub_out, _ = pub.communicate(timeout=timeout)
        t_pub = time.monotonic() - t0
        expected_tasks = task_events_in(burst, seed=1)
        count, t_last = _wait_settled(flower, base + expected_tasks, t0, timeout)
        # flower_events_total counts task events only: scale by the stream's mix
        accounted = round((count - base) * burst / max(1, expected_tasks))
        elapsed = max(1e-6, t_last - t0)
        out.update({
            "accounted": accounted,
            "task_events_accounted": count - base,
            "task_events_published": expected_tasks,
            "events_per_s": accounted / elapsed,
            "seconds": elapsed,
            "publish_seconds": t_pub,
            "cpu_seconds": flower.cpu_seconds() - cpu0,
            "publisher": pub_out.strip().splitlines()[-1] if pub_out.strip() else "",
        })
        # throughput: a burst small enough to stay under Redis' 32 MB pub/sub
        # output-buffer limit, so nothing is dropped and the rate is Flower's own
        if throughput_burst:
            base = flower.events_total()
            t0 = time.monotonic()
            pub = publish(broker_url, throughput_burst, 0.0, seed=3)
            pub.communicate(timeout=timeout)
            expected = task_events_in(throughput_burst, seed=3)
            count, t_last = _wait_settled(flower, base + expected, t0, timeout)
            got = count - base
            out.update({
                "throughput_burst": throughput_burst,
                "throughput_accounted": round(got * throughput_burst / max(1, expected)),
                "throughput_events_per_s": got * throughput_burst / max(1, expected)
                / max(1e-6, t_last - t0),
            })
        # memory: keep feeding at a pace Flower sustains until it tracks `tasks` tasks
        received = flower.events_total("task-received")
        seed = 2
        t_mem = time.monotonic()
        while received < tasks and time.monotonic() - t_mem < timeout:
            need_events = int((tasks - received) * 3.2) + 1000
            batch = min(need_events, 200_000)
            pub = publish(broker_url, batch, paced_rate, seed=seed)
            seed += 1
            pub.communicate(timeout=timeout)
            _wait_settled(flower, 10**12, time.monotonic(), 30.0, quiet=1.5)
            received = flower.events_total("task-received")
        rss1 = flower.rss()
        out.update({
            "tasks_tracked": received,
            "rss_before": rss0, "rss_after": rss1,
            "bytes_per_task": (rss1 - rss0) / max(1, received),
        })
    return out


if __name__ == "__main__":
    import json

    from console.core.redis_server import EmbeddedRedis

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with EmbeddedRedis() as redis_server:
        print(json.dumps(measure(redis_server.url, burst=n, tasks=n), indent=1))
