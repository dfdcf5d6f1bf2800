"""Row 4: ClusterState vs celery.events.state.State on identical events.

    python -m tests.perf.bench_state            # 100,000 tasks
    python -m tests.perf.bench_state --quick    # 10,000 tasks
    python -m tests.perf.bench_state --intake-only   # row 4b alone: the intake process

* memory: RSS (psutil) of a fresh child process before / after applying
  ``tasks`` x (task-received, task-started, task-succeeded) events with
  realistic fields (as a Redis/JSON intake hands them over: fresh strings per
  event), divided by the number of tasks.  One child process per model.
* speed: events/s of ``apply_batch`` (ours) and ``State.event`` (stock) alone,
  on pre-built event lists (no broker, no decoding), best of a few runs.

* row 4b, the console's whole intake process: the same events into what the
  LiveFeed's intake process holds (tests/perf/bench_state.py ``_intake_child``):
  the ClusterState, the DeltaBuilder cutting a delta every 1,000 events, and the
  task view (``ViewHost``) the console asks for on start, showing a screenful of
  the Tasks screen; RSS delta divided by tracked tasks.

``run(quick=False) -> list[dict]`` returns rows for tests/perf/bench.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

NAMES = (
    "sample_proj.tasks.add",
    "sample_proj.tasks.mul",
    "sample_proj.tasks.xsum",
    "sample_proj.pipeline.download",
    "sample_proj.pipeline.resize",
)
HOSTS = ("celery@alpha", "celery@bravo", "celery@charlie", "celery@delta")
TARGET_BYTES = 1024
TARGET_EPS = 150_000
TARGET_INTAKE_BYTES = 800


def _s(text: str) -> str:
    """A new string object with the same value (json.loads never shares strings)."""
    return text.encode().decode()


def events(tasks: int, start: float = 1_767_225_600.0) -> Iterator[dict[str, Any]]:
    """``tasks`` x (received, started, succeeded), as decoded from the wire."""
    clock = 1000
    for i in range(tasks):
        uid = str(uuidlib.uuid4())
        name = NAMES[i % len(NAMES)]
        host = HOSTS[i % len(HOSTS)]
        ts = start + i * 0.001
        pid = 4000 + i % 8
        clock += 1
        # every event is a fresh dict with fresh strings, like json.loads output
        yield {
            "hostname": _s(host),
            "utcoffset": 0,
            "pid": pid,
            "clock": clock,
            "uuid": _s(uid),
            "name": _s(name),
            "args": f"({i}, {i + 1})",
            "kwargs": "{}",
            "root_id": _s(uid),
            "parent_id": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timestamp": ts,
            "type": "task-received",
            "local_received": ts + 0.0003,
        }
        clock += 1
        yield {
            "hostname": _s(host),
            "utcoffset": 0,
            "pid": pid,
            "clock": clock,
            "uuid": _s(uid),
            "timestamp": ts + 0.0002,
            "type": "task-started",
            "local_received": ts + 0.0005,
        }
        clock += 1
        yield {
            "hostname": _s(host),
            "utcoffset": 0,
            "pid": pid,
            "clock": clock,
            "uuid": _s(uid),
            "result": str(2 * i + 1),
            "runtime": 0.00123 + (i % 7) * 1e-5,
            "timestamp": ts + 0.0015,
            "type": "task-succeeded",
            "local_received": ts + 0.0018,
        }


def _fresh(evs: list[dict]) -> list[dict]:
    return [dict(e) for e in evs]  # stock State mutates the dicts it is given


def _new(kind: str, tasks: int) -> Any:
    if kind == "ours":
        from console.core.state import ClusterState

        return ClusterState(max_tasks=tasks + 10)
    from celery.events.state import State

    return State(max_tasks_in_memory=tasks + 10, max_workers_in_memory=5000)


def _child(kind: str, tasks: int) -> dict[str, Any]:
    """Runs in a fresh process: RSS delta of ``tasks`` tracked tasks."""
    import psutil

    proc = psutil.Process()
    state = _new(kind, tasks)
    # warm up imports / code paths with a separate, small model
    warm = _new(kind, 100)
    for ev in events(50):
        (warm.apply if kind == "ours" else warm.event)(ev)
    del warm
    gc.collect()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    if kind == "ours":
        state.apply_batch(events(tasks))
        tracked = len(state.tasks)
    else:
        ev_fn = state.event
        for ev in events(tasks):
            ev_fn(ev)
        tracked = len(state.tasks)
    elapsed = time.perf_counter() - t0
    gc.collect()
    after = proc.memory_info().rss
    return {
        "kind": kind,
        "tasks": tracked,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_task": (after - before) / max(1, tracked),
        "elapsed": elapsed,
    }


def _intake_child(tasks: int, query: str = "") -> dict[str, Any]:
    """Runs in a fresh process: RSS delta of the intake process's structures at ``tasks``.

    What ``IntakeLoop`` (console/core/feed/intake_loop.py) builds, without the broker:
    the state, the delta builder, the task view; a delta is cut every 1,000 events (the
    loop does it at ``rate_hz``), the view answers a screenful (50 rows) of the Tasks
    screen sorted by time, as the console asks on start (``query``: with that filter typed).
    """
    import psutil

    from console.core.feed.api import FeedStatus
    from console.core.feed.common import new_state, view_host
    from console.core.feed.delta import DeltaBuilder
    from console.core.taskview import ViewSpec

    proc = psutil.Process()

    def build(n: int) -> tuple[Any, Any, Any]:
        state = new_state(n + 10, time.time)
        builder = DeltaBuilder(state, max_rows=20_000)
        view = view_host(state, hold=0.5, quick=True)
        view.request(ViewSpec(query=query, limit=50, seq=1))
        return state, builder, view

    def feed(state: Any, builder: Any, view: Any, evs: Iterator[dict[str, Any]]) -> int:
        sent = 0
        batch: list[dict[str, Any]] = []
        for ev in evs:
            batch.append(ev)
            if len(batch) == 1000:
                state.apply_batch(batch)
                batch = []
                delta = view.absorb(builder.build(FeedStatus(mode="live"), 0.0, []))
                sent += 1 if delta.window is not None else 0
        if batch:
            state.apply_batch(batch)
        view.throttle._next = 0.0  # the last refresh is not held back
        view.absorb(builder.build(FeedStatus(mode="live"), 0.0, []))
        return sent

    warm = build(100)
    feed(*warm, events(50))
    del warm
    gc.collect()
    state, builder, view = build(tasks)
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    windows = feed(state, builder, view, events(tasks))
    elapsed = time.perf_counter() - t0
    gc.collect()
    after = proc.memory_info().rss
    tracked = len(state.tasks)
    shown = view.last.matched if view.last is not None else 0
    return {
        "kind": "intake",
        "tasks": tracked,
        "view_matched": shown,
        "windows": windows,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_task": (after - before) / max(1, tracked),
        "elapsed": elapsed,
    }


def intake_row(tasks: int, query: str = "") -> dict[str, Any]:
    mem = measure_memory(f"intake:{query}" if query else "intake", tasks)
    b = mem["bytes_per_task"]
    return {
        "row": "4b",
        "name": f"intake process per tracked task ({tasks:,} tasks)"
        + (f", filter {query!r}" if query else ""),
        "metric": "RSS delta / tasks",
        "unit": "B/task",
        "ours": round(b),
        "stock": None,
        "flower": None,
        "ratio": None,
        "target": f"<= {TARGET_INTAKE_BYTES} B/task",
        "passed": b <= TARGET_INTAKE_BYTES and (query or mem["view_matched"] == mem["tasks"]),
        "note": (
            f"state + delta builder + task view (50 rows shown): RSS "
            f"{mem['rss_before'] / 2**20:.0f} -> {mem['rss_after'] / 2**20:.0f} MiB, "
            f"the view counts {mem['view_matched']:,} of {mem['tasks']:,} tasks; "
            f"{mem['elapsed']:.1f} s to apply 3 events/task with a delta per 1,000"
        ),
    }


def measure_memory(kind: str, tasks: int) -> dict[str, Any]:
    """Run :func:`_child` in a separate interpreter and return its result."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-m", "tests.perf.bench_state", "--child", kind, str(tasks)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_speed(kind: str, tasks: int, repeat: int = 3) -> dict[str, Any]:
    base = list(events(tasks))
    best = None
    best_cpu = None
    for _ in range(repeat):
        evs = _fresh(base)
        state = _new(kind, tasks)
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        if kind == "ours":
            state.apply_batch(evs)
        else:
            ev_fn = state.event
            for ev in evs:
                ev_fn(ev)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        best = elapsed if best is None else min(best, elapsed)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        del state, evs
    return {
        "kind": kind,
        "events": len(base),
        "elapsed": best,
        "eps": len(base) / best,
        "cpu_eps": len(base) / max(best_cpu or 0.0, 1e-9),
    }


def run(quick: bool = False) -> list[dict]:
    tasks = 10_000 if quick else 100_000
    mem_ours = measure_memory("ours", tasks)
    mem_stock = measure_memory("stock", tasks)
    speed_tasks = 5_000 if quick else 50_000
    sp_ours = measure_speed("ours", speed_tasks)
    sp_stock = measure_speed("stock", speed_tasks)
    b_ours, b_stock = mem_ours["bytes_per_task"], mem_stock["bytes_per_task"]
    intake = intake_row(tasks)
    return [
        {
            "row": "4",
            "name": f"memory per tracked task ({tasks:,} tasks)",
            "metric": "RSS delta / tasks",
            "unit": "B/task",
            "ours": round(b_ours),
            "stock": round(b_stock),
            "flower": None,
            "ratio": (b_ours / b_stock) if b_stock else None,
            "target": f"<= {TARGET_BYTES} B/task",
            "passed": b_ours <= TARGET_BYTES,
            "note": (
                f"ours RSS {mem_ours['rss_before'] / 2**20:.0f} -> "
                f"{mem_ours['rss_after'] / 2**20:.0f} MiB, stock "
                f"{mem_stock['rss_before'] / 2**20:.0f} -> "
                f"{mem_stock['rss_after'] / 2**20:.0f} MiB; 3 events/task"
            ),
        },
        {
            "row": "4",
            "name": "state apply, model alone",
            "metric": "events/s",
            "unit": "events/s",
            "ours": round(sp_ours["eps"]),
            "stock": round(sp_stock["eps"]),
            "flower": None,
            "ratio": sp_ours["eps"] / sp_stock["eps"],
            "target": f">= {TARGET_EPS:,} events/s",
            "passed": sp_ours["eps"] >= TARGET_EPS,
            "note": (
                f"{sp_ours['events']:,} pre-built events (received/started/succeeded), "
                "ClusterState.apply_batch vs State.event, best of 3 (wall); per CPU second: "
                f"ours {sp_ours['cpu_eps']:,.0f}, stock {sp_stock['cpu_eps']:,.0f}"
            ),
        },
        intake,
    ]


def _table(rows: list[dict]) -> str:
    head = f"{'name':45} {'ours':>12} {'stock':>12} {'ratio':>7}  {'target':22} pass"
    lines = [head, "-" * len(head)]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        stock = f"{r['stock']:,}" if r.get("stock") is not None else "-"
        lines.append(
            f"{r['name']:45} {r['ours']:>12,} {stock:>12} {ratio:>7}  "
            f"{r['target']:22} {'yes' if r['passed'] else 'NO'}"
        )
        lines.append(f"    {r['unit']}; {r['note']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--intake-only", action="store_true", help="row 4b alone (the intake process)"
    )
    parser.add_argument("--query", default="", help="with --intake-only: a filter typed")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "TASKS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, tasks = args.child[0], int(args.child[1])
        if kind.startswith("intake"):
            out = _intake_child(tasks, kind.partition(":")[2])
        else:
            out = _child(kind, tasks)
        print(json.dumps(out))
        return 0
    if args.intake_only:
        print(_table([intake_row(10_000 if args.quick else 100_000, args.query)]))
        return 0
    print(_table(run(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
