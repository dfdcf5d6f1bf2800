"""Traffic generator for the demo cluster: keeps it busy with every kind of work.

Run as its own process (``ctl demo`` starts it)::

    python -m console.demo.traffic --broker URL --backend URL [--rate R] [--duration S]

Each tick sends one *action* from a fixed cycle (:data:`CYCLE`) that covers
single tasks, chains (``.s`` and ``.si``), groups, the image-pipeline chord,
chains of groups, countdown/ETA tasks (``inspect scheduled``), tasks that
expire before they run, failures, retries, slow tasks that saturate the pool
(``inspect active`` / ``inspect reserved``) and, now and then, arguments that
look like terminal markup or escape sequences so the console's sanitising is
visibly exercised.  The rate is modest by default (a demo, not a load test).

The process stops on SIGTERM/SIGINT, after ``--duration`` seconds, and by
itself when its parent process dies.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

#: Arguments that look like Rich markup, ANSI escapes and control characters.
HOSTILE = "[bold red]alert[/] \x1b[31mred\x1b[0m \x07\x1b]0;title\x07 [link=http://x]click[/link]"

#: Seconds the "slow" tasks sleep: long enough to be seen active and to keep
#: later messages reserved (prefetched but waiting for a free pool slot).
SLOW_SECONDS = 4.0


class Traffic:
    """Sends the demo's work to a broker through the sample_proj app."""

    def __init__(
        self,
        broker: str,
        backend: str | None = None,
        *,
        slots: int = 4,
        verbose: bool = False,
    ) -> None:
        # sample_proj.celeryconfig reads the environment at import time
        os.environ["CELERY_BROKER_URL"] = broker
        os.environ["CELERY_RESULT_BACKEND"] = backend or broker
        from sample_proj import app

        app.conf.broker_url = broker
        app.conf.result_backend = backend or broker
        # a dead broker must not block a tick for long
        app.conf.broker_connection_retry_on_startup = False
        app.conf.broker_connection_timeout = 2.0
        app.conf.redis_socket_connect_timeout = 2.0
        app.conf.task_publish_retry_policy = {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        }
        self.app = app
        self._urls = (broker, backend)  # to scrub passwords from error messages
        self.verbose = verbose
        self.slots = max(1, slots)
        self.sent: dict[str, int] = {}
        self.errors = 0
        self._n = 0

    # -- the actions --------------------------------------------------------
    def _count(self, kind: str, n: int = 1) -> None:
        self.sent[kind] = self.sent.get(kind, 0) + n

    def single(self) -> None:
        from sample_proj.tasks import add, mul, xsum

        self._n += 1
        n = self._n
        (add, mul)[n % 2].delay(n % 97, 7)
        xsum.delay(list(range(n % 10 + 1)))
        self._count("single", 2)

    def chain_s(self) -> None:
        from celery import chain

        from sample_proj.tasks import add, mul

        chain(add.s(2, 3), add.s(10), mul.s(4)).apply_async()
        self._count("chain", 3)

    def chain_si(self) -> None:
        from celery import chain

        from sample_proj.tasks import add, mul, sleepy

        chain(add.si(1, 1), sleepy.si(1.0), mul.si(3, 3)).apply_async()
        self._count("chain", 3)

    def group(self) -> None:
        from celery import group

        from sample_proj.tasks import add

        group(add.s(i, i) for i in range(4)).apply_async()
        self._count("group", 4)

    def chord(self) -> None:
        from sample_proj.pipeline import image_pipeline

        self._n += 1
        urls = [f"s3://demo-bucket/photo-{self._n}-{i}.png" for i in range(3)]
        image_pipeline(urls, width=320).apply_async()
        self._count("chord", 3 * 3 + 1)

    def chain_of_groups(self) -> None:
        from celery import chain, group

        from sample_proj.tasks import add, mul, xsum

        # group -> group (a chord whose body is a group), then group -> task
        chain(
            group(add.si(1, 1), add.si(2, 2)),
            group(mul.si(3, 3), mul.si(4, 4)),
        ).apply_async()
        chain(group(add.s(i, 1) for i in range(3)), xsum.s()).apply_async()
        self._count("chain-of-groups", 8)

    def scheduled(self) -> None:
        from sample_proj.tasks import add, mul

        # long enough that `inspect scheduled` is never empty while traffic runs
        add.apply_async((40, 2), countdown=15)
        mul.apply_async((6, 7), eta=datetime.now(UTC) + timedelta(seconds=20))
        self._count("eta", 2)

    def expiring(self) -> None:
        from sample_proj.tasks import add

        # held by the worker until its ETA, by which time it has expired
        add.apply_async((0, 0), countdown=3, expires=1)
        self._count("expiring", 1)

    def failure(self) -> None:
        from sample_proj.tasks import always_fails

        always_fails.delay("boom")
        self._count("failure", 1)

    def retries(self) -> None:
        from sample_proj.tasks import fetch_with_retry, flaky

        self._n += 1
        flaky.delay(fail_rate=0.6)
        fetch_with_retry.delay(f"https://api.example.com/items/{self._n}", fail_times=2)
        self._count("retry", 2)

    def slow(self) -> None:
        from sample_proj.tasks import sleepy

        sleepy.delay(SLOW_SECONDS / 2)
        self._count("slow", 1)

    def saturate(self) -> None:
        """More slow tasks than pool slots, then quick ones that must wait (reserved),
        and one with a short ``expires`` sent while the workers are busy."""
        from sample_proj.tasks import add, sleepy

        slow = self.slots + 1  # one more than the pool slots: something must wait
        for _ in range(slow):
            sleepy.delay(SLOW_SECONDS)
        for i in range(4):
            add.delay(i, 100)
        add.apply_async((1, 2), expires=1)
        self._count("slow", slow)
        self._count("single", 4)
        self._count("expiring", 1)

    def hostile(self) -> None:
        from sample_proj.tasks import add, always_fails, fetch_with_retry

        add.delay(HOSTILE, " \x1b[2J")
        always_fails.delay(HOSTILE)
        fetch_with_retry.apply_async((HOSTILE,), {"fail_times": 0}, countdown=1)
        self._count("hostile", 3)

    # -- the loop -----------------------------------------------------------
    def cycle(self) -> list[Callable[[], None]]:
        """One round of actions: every kind of work, singles most often."""
        return [
            self.saturate,
            self.single,
            self.chain_s,
            self.scheduled,
            self.expiring,
            self.single,
            self.chord,
            self.failure,
            self.retries,
            self.group,
            self.single,
            self.chain_si,
            self.slow,
            self.chain_of_groups,
            self.single,
            self.hostile,
            self.retries,
            self.single,
            self.chord,
            self.slow,
        ]

    def send(self, action: Callable[[], None]) -> bool:
        try:
            action()
            return True
        except Exception as exc:
            self.errors += 1
            if self.verbose or self.errors <= 3 or self.errors % 50 == 0:
                from console.core.sanitize import scrub_secrets

                message = scrub_secrets(f"{type(exc).__name__}: {exc}", *self._urls)
                print(f"traffic: {action.__name__} failed: {message}", file=sys.stderr, flush=True)
            return False

    def close(self) -> None:
        try:
            self.app.close()
        except Exception:
            pass


class _Stop:
    requested = False
    signum: int | None = None


def _on_signal(signum: int, _frame: Any) -> None:
    _Stop.requested = True
    _Stop.signum = signum


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` when the parent dies (best effort, no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m console.demo.traffic",
        description="Send a steady mix of sample_proj work to a Celery broker.",
    )
    parser.add_argument("--broker", required=True, help="broker URL")
    parser.add_argument("--backend", default=None, help="result backend URL (default: broker)")
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help="actions per second (each action sends 1-10 tasks; default 2)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (default: run until stopped)",
    )
    parser.add_argument(
        "--slots",
        type=int,
        default=4,
        help="pool slots in the cluster (workers x concurrency; default 4): "
        "the periodic burst of slow tasks is one more than this",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="stop when this process is gone (default: the parent process)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every send error")
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    if args.duration < 0:
        parser.error("--duration must not be negative")
    return args


def parent_alive(parent_pid: int, original_ppid: int) -> bool:
    """False once ``parent_pid`` is gone (or we were re-parented away from it)."""
    if parent_pid == original_ppid and os.getppid() != original_ppid:
        return False  # re-parented: our parent is gone
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    original_ppid = os.getppid()
    parent_pid = args.parent_pid or original_ppid
    # PID 1 of a container (parent 0) or already adopted by init: nothing to watch
    watch_parent = parent_pid > 1
    if watch_parent:
        die_with_parent()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    if watch_parent and not parent_alive(parent_pid, original_ppid):
        return 0

    traffic = Traffic(args.broker, args.backend, slots=args.slots, verbose=args.verbose)
    interval = 1.0 / args.rate
    started = time.monotonic()
    deadline = started + args.duration if args.duration else None
    next_tick = started
    actions = traffic.cycle()
    i = 0
    print(f"traffic: sending {args.rate:g} actions/s", file=sys.stderr, flush=True)
    try:
        while not _Stop.requested:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if watch_parent and not parent_alive(parent_pid, original_ppid):
                print("traffic: parent process gone, stopping", file=sys.stderr, flush=True)
                break
            if now < next_tick:
                time.sleep(min(next_tick - now, 0.25))
                continue
            traffic.send(actions[i % len(actions)])
            i += 1
            # never try to catch up after a stall: a burst is not what a demo needs
            next_tick = max(next_tick + interval, time.monotonic())
    finally:
        total = sum(traffic.sent.values())
        summary = ", ".join(f"{k}={v}" for k, v in sorted(traffic.sent.items()))
        print(
            f"traffic: stopped after {total} tasks ({summary}); {traffic.errors} send errors",
            file=sys.stderr,
            flush=True,
        )
        traffic.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
