"""Flower as a third column: its event intake rate and memory on the same stream.

Flower 2.2 (installed in the venv as the ``bench`` extra) is started as
``celery -A sample_proj flower`` on a free loopback port, with its defaults
except ``--enable_events=False`` (it would otherwise broadcast
``enable_events`` every few seconds) and ``--max_tasks`` large enough to hold
the whole run.  It is fed by the SAME publisher and the same phases as
tests/perf/bench_intake.py (real ``celeryev`` envelopes from
tests/perf/publish_events.py); Flower's ``/metrics`` counter
``flower_events_total`` (task events only, scaled by the stream's task/worker
mix) says how many events it accounted:

* throughput: 100,000 events flat out to a Redis without a pub/sub
  output-buffer limit; events/s from the first to the last accounted event;
* burst: 100,000 events at ~87,000/s to a Redis with the default limit
  (``client-output-buffer-limit pubsub 32mb 8mb 60``): how many it accounted
  (Redis drops a subscriber that falls 32 MB behind);
* memory: paced events until Flower tracks 100,000 tasks (task-received
  count); bytes per task = (RSS after - RSS before the first event) / tasks.

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
_METRIC = re.compile(r"^flower_events_total\{([^}]*)\}\s+([0-9.eE+]+)", re.M)


class FlowerProcess:
    def __init__(self, broker_url: str, max_tasks: int = 200_000) -> None:
        self.broker_url = broker_url
        self.port = free_port()
        self.max_tasks = max_tasks
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="flower-bench-", suffix=".log")[1])

    def start(self, timeout: float = 30.0) -> FlowerProcess:
        env = dict(
            os.environ,
            CELERY_BROKER_URL=self.broker_url,
            CELERY_RESULT_BACKEND=self.broker_url,
            PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        exe = Path(sys.executable).parent / "celery"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(exe),
                    "-A",
                    "sample_proj",
                    "flower",
                    f"--port={self.port}",
                    "--address=127.0.0.1",
                    f"--max_tasks={self.max_tasks}",
                    "--enable_events=False",
                    "--persistent=False",
                    "--logging=warning",
                ],
                env=env,
                cwd=str(ROOT),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
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
        with urllib.request.urlopen(url, timeout=10) as resp:
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


def publish(
    broker_url: str, count: int, rate: float = 0.0, seed: int = 0, timeout: float = 300.0
) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [
            sys.executable,
            str(PUBLISHER),
            "--url",
            broker_url,
            "--count",
            str(count),
            "--rate",
            str(rate),
            "--seed",
            str(seed),
        ],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def task_events_in(count: int, seed: int) -> int:
    """How many of the generator's first ``count`` events are task events."""
    sys.path.insert(0, str(PUBLISHER.parent))
    try:
        import publish_events
    finally:
        sys.path.pop(0)
    return sum(
        1
        for ev in publish_events.generate_events(count, seed=seed)
        if ev["type"].startswith("task-")
    )


def _wait_settled(
    flower: FlowerProcess,
    target: int,
    t_start: float,
    timeout: float,
    quiet: float = 3.0,
    base: int | None = None,
) -> tuple[int, float, float | None]:
    """Poll the counter until it reaches ``target`` or stops growing for ``quiet`` s.

    Returns (count, time of the last increase, time of the first increase over ``base``).
    """
    last = flower.events_total()
    t_last = time.monotonic()
    t_first = t_last if (base is not None and last > base) else None
    deadline = t_start + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now_count = flower.events_total()
        if now_count != last:
            last, t_last = now_count, time.monotonic()
            if t_first is None and base is not None and last > base:
                t_first = t_last
        if last >= target or time.monotonic() - t_last > quiet:
            break
    return last, t_last, t_first


UNLIMITED = ["--client-output-buffer-limit", "pubsub", "0", "0", "0"]
DEFAULT_LIMIT = ["--client-output-buffer-limit", "pubsub", "32mb", "8mb", "60"]


def measure(
    count: int = 100_000,
    burst: int = 100_000,
    burst_rate: float = 87_000.0,
    tasks: int = 100_000,
    paced_rate: float = 6000.0,
    timeout: float = 240.0,
) -> dict[str, Any]:
    """Flower on the same streams as tests/perf/bench_intake.py (rows 3) and row 4.

    * throughput: ``count`` events flat out to a Redis without a pub/sub
      output-buffer limit; events/s from the first to the last event accounted
      (``/metrics`` polled every 0.1 s);
    * burst: ``burst`` events at ``burst_rate``/s to a Redis with the default
      limit: how many Flower accounted;
    * memory: on the first server, paced events until Flower tracks ``tasks``
      tasks; (RSS after - RSS before the first event) / tasks.
    """
    from console.core.redis_server import EmbeddedRedis

    if not PUBLISHER.exists():
        return {"error": "tests/perf/publish_events.py missing"}
    out: dict[str, Any] = {"count": count, "burst": burst, "burst_rate": burst_rate}
    with (
        EmbeddedRedis(extra_args=UNLIMITED) as server,
        FlowerProcess(server.url, max_tasks=max(tasks, count) * 2) as flower,
    ):
        rss0 = flower.rss()
        base = flower.events_total()
        cpu0 = flower.cpu_seconds()
        expected = task_events_in(count, seed=1)
        t0 = time.monotonic()
        pub = publish(server.url, count, 0.0, seed=1)
        pub_out, _ = pub.communicate(timeout=timeout)
        got, t_last, t_first = _wait_settled(flower, base + expected, t0, timeout, base=base)
        got -= base
        # flower_events_total counts task events only: scale by the stream's mix
        accounted = round(got * count / max(1, expected))
        span = max(1e-6, t_last - (t_first if t_first is not None else t0))
        out.update(
            {
                "accounted": accounted,
                "task_events_accounted": got,
                "task_events_published": expected,
                "events_per_s": accounted / span,
                "seconds": span,
                "cpu_seconds": flower.cpu_seconds() - cpu0,
                "publisher": pub_out.strip().splitlines()[-1] if pub_out.strip() else "",
            }
        )
        received = flower.events_total("task-received")
        seed = 2
        t_mem = time.monotonic()
        while received < tasks and time.monotonic() - t_mem < timeout:
            batch = min(int((tasks - received) * 3.2) + 1000, 200_000)
            pub = publish(server.url, batch, paced_rate, seed=seed)
            seed += 1
            pub.communicate(timeout=timeout)
            _wait_settled(flower, 10**12, time.monotonic(), 30.0, quiet=1.5)
            received = flower.events_total("task-received")
        rss1 = flower.rss()
        out.update(
            {
                "tasks_tracked": received,
                "rss_before": rss0,
                "rss_after": rss1,
                "bytes_per_task": (rss1 - rss0) / max(1, received),
            }
        )
    if burst:
        with (
            EmbeddedRedis(extra_args=DEFAULT_LIMIT) as server,
            FlowerProcess(server.url, max_tasks=burst * 2) as flower,
        ):
            base = flower.events_total()
            expected = task_events_in(burst, seed=4)
            t0 = time.monotonic()
            pub = publish(server.url, burst, burst_rate, seed=4)
            pub.communicate(timeout=timeout)
            got, _, _ = _wait_settled(flower, base + expected, t0, timeout)
            out["burst_accounted"] = round((got - base) * burst / max(1, expected))
    return out


if __name__ == "__main__":
    import json

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(json.dumps(measure(count=n, burst=n, tasks=n), indent=1))
