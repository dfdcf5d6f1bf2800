"""Fleet simulator: hundreds of Celery workers on a real Redis, from a few processes.

Run it::

    python -m tests.perf.fleet --broker redis://127.0.0.1:6379/0 --workers 200 \\
        --rate 2000 --duration 120
    python -m tests.perf.fleet --broker URL --workers 500 --rate 0 \\
        --burst 20000 --burst-every 10 --duration 60 --processes 4

or from Python::

    from tests.perf.fleet import Fleet
    with Fleet("redis://127.0.0.1:6379/0", 200, rate=1000, duration=120) as fleet:
        print(fleet.hostnames[:3])        # ['sim0000@<host>', ...]
        ...                               # every node answers `celery inspect ping`
        fleet.counters()                  # events sent / replies so far, per shard

Every simulated node (``<prefix><NNNN>@<host>``) behaves on the wire like a
``celery -A sample_proj worker -E``:

* **Events**: ``worker-online``, then ``worker-heartbeat`` every ``--freq``
  seconds (default 2 s; ``freq``, ``active``, ``processed``, ``loadavg``,
  ``sw_ident``, ``sw_ver``, ``sw_sys``, ``pid``, ``clock``, ``utcoffset``,
  ``timestamp``), ``worker-offline`` at the end.  They are sent by Celery's
  own :class:`celery.events.EventDispatcher` (``hostname=<node>``, one Lamport
  clock per node) through kombu on the ``celeryev`` exchange, so ``celery
  events`` / ``EventReceiver`` cannot tell them from a real worker's.
* **Task events** at ``--rate`` events/s in total (steady), plus ``--burst N``
  extra events every ``--burst-every S`` seconds: ``task-received``,
  ``task-started``, ``task-succeeded``, ``task-failed``, ``task-retried``
  (and ``task-revoked`` on a terminate) for sample_proj task names, with
  ``args``/``kwargs`` reprs, ``runtime``, ``result``, ``exception``/``traceback``,
  ``retries`` and ``parent_id``/``root_id`` links forming chains
  (download -> resize -> upload) and chords (process_images -> N x download ->
  notify).  A task's events are spread in time (received, later started,
  later finished) and all come from the node that "runs" it.  By default task
  events are buffered per node and published as ``task.multi`` batches of at
  most 24, exactly like a prefork worker with its event loop does on Redis;
  ``--no-multi`` sends one message per event (like a solo/threads worker).
* **Remote control**: each node has ITS OWN pidbox consumer (kombu
  ``Mailbox.Node`` on its own channel, i.e. its own Redis connection with its
  own ``PSUBSCRIBE /0.celery.pidbox``), declares and refreshes its
  ``<node>.celery.pidbox`` binding like a worker, and answers ``ping``,
  ``stats``, ``active``, ``reserved``, ``scheduled``, ``revoked``,
  ``registered``, ``active_queues``, ``clock``, ``conf``, ``report``,
  ``query_task``, ``hello``, ``heartbeat``, ``enable_events``/``disable_events``
  and the control commands (``revoke``/``terminate``, ``rate_limit``,
  ``time_limit``, ``pool_grow``/``pool_shrink``, ``autoscale``,
  ``add_consumer``/``cancel_consumer``, ``shutdown``) with replies of the same
  shape as a real worker's, through the same kombu reply path.  A broadcast
  PUBLISH therefore reaches one subscriber per simulated node.  The nodes of
  one process are driven by one kombu ``Hub`` event loop -- the loop a real
  worker runs.

What is simulated (and says so): nodes do not consume the task queues (they
would steal real work); ``active`` holds the tasks the node is "running"
(plus, with ``long_running`` > 0, that many hour-long ``sleepy`` tasks per
node that never finish during a run, so answers are stable for comparisons);
``revoke`` does not write to the result backend; ``stats`` numbers are
plausible but made up (pool pids, rusage).

Bounded and clean: the fleet stops by itself after ``--duration`` seconds
(hard cap 900 s), and on SIGINT/SIGTERM.  On the way out every node sends
``worker-offline`` and its pidbox binding is deleted; shard processes use
``PR_SET_PDEATHSIG`` plus a parent-pid check, so they exit even if the parent
is SIGKILLed.  Shards: ``--processes`` (default: 1 per 125 nodes, 1-4).
``--tick`` (default 0.02 s) is how often a shard generates and flushes task
events; a larger tick means the same events in fewer, larger ``task.multi``
messages (less CPU for the generator).  Each shard prints a JSON status line
a second on its stdout (read by :class:`Fleet`: :meth:`Fleet.counters`).

Measured on the 2-vCPU bench VM: 500 nodes start in ~4.5 s, answer a
``ping`` broadcast in ~0.2-0.3 s, cost ~25% of one core idle (heartbeats)
and ~65% of one core at 20,000 task events/s with ``--tick 0.05``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import heapq
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_WORKERS = 500
MAX_DURATION = 900.0
DEFAULT_FREQ = 2.0
MULTI_LIMIT = 24  # celery EventDispatcher.buffer_limit
TICK = 0.02  # seconds between generator ticks in a shard


@dataclass
class FleetConfig:
    broker_url: str
    n_workers: int = 20
    processes: int | None = None
    rate: float = 0.0  # task events/s, whole fleet
    burst: int = 0  # extra task events per burst, whole fleet
    burst_every: float = 0.0
    duration: float = 60.0
    freq: float = DEFAULT_FREQ
    prefix: str = "sim"
    host: str = field(default_factory=lambda: os.uname().nodename)
    app_module: str = "sample_proj"
    queues: tuple[str, ...] = ("celery",)
    multi: bool = True
    long_running: int = 0  # static hour-long active tasks per node
    concurrency: int = 4
    seed: int = 0
    start_index: int = 0
    tick: float = TICK  # generator tick; task events are flushed per node per tick

    def normalized(self) -> FleetConfig:
        if not 1 <= self.n_workers <= MAX_WORKERS:
            raise ValueError(f"n_workers must be 1..{MAX_WORKERS}")
        if self.duration <= 0:
            raise ValueError("duration must be > 0")
        self.duration = min(float(self.duration), MAX_DURATION)
        self.freq = max(0.1, float(self.freq))
        self.tick = min(0.5, max(0.005, float(self.tick)))
        if not self.processes:
            self.processes = max(1, min(4, math.ceil(self.n_workers / 125)))
        self.processes = max(1, min(int(self.processes), self.n_workers, 8))
        self.queues = tuple(self.queues)
        return self

    def hostnames(self) -> list[str]:
        return [
            f"{self.prefix}{i:04d}@{self.host}"
            for i in range(self.start_index, self.start_index + self.n_workers)
        ]


# --------------------------------------------------------------------------
# shard side (runs in a child process)
# --------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:  # not Linux: the getppid() check still applies
        pass


class _Stop(Exception):
    pass


def _noop() -> None:
    pass


TRACEBACK_TEMPLATE = (
    "Traceback (most recent call last):\n"
    '  File "/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", line 453, '
    "in trace_task\n    R = retval = fun(*args, **kwargs)\n"
    '  File "/app/sample_proj/tasks.py", line {line}, in {func}\n    {code}\n'
    "{exc}\n"
)


class SimTask:
    __slots__ = (
        "uuid",
        "name",
        "args",
        "kwargs",
        "parent_id",
        "root_id",
        "node",
        "kind",
        "retries",
        "children",
        "time_start",
        "runtime",
        "result",
        "fast",
    )

    def __init__(self, name, args, kwargs, parent_id=None, root_id=None, kind="ok"):
        self.uuid = str(uuidlib.uuid4())
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.parent_id = parent_id
        self.root_id = root_id or self.uuid
        self.kind = kind  # ok | fail | retry
        self.node: SimNode | None = None
        self.retries = 0
        self.children: list[SimTask] = []  # received after this one succeeds
        self.time_start: float | None = None
        self.runtime = 0.0
        self.result: Any = None
        self.fast = False

    def request_info(self, hostname: str, worker_pid: int | None, acknowledged=True) -> dict:
        return {
            "id": self.uuid,
            "name": self.name,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "type": self.name,
            "hostname": hostname,
            "time_start": self.time_start,
            "acknowledged": acknowledged,
            "delivery_info": {
                "exchange": "",
                "routing_key": "images" if ".pipeline." in self.name else "celery",
                "priority": 0,
                "redelivered": False,
            },
            "worker_pid": worker_pid,
        }


class SimNode:
    """State of one simulated worker (the ``state`` its pidbox handlers get)."""

    def __init__(self, shard: Shard, hostname: str, index: int) -> None:
        from kombu.clocks import LamportClock

        self.shard = shard
        self.app = shard.app
        self.hostname = hostname
        self.index = index
        self.clock = LamportClock()
        self.started = time.time()
        self.pid = os.getpid()
        rnd = random.Random(f"{shard.cfg.seed}-{hostname}")
        self.rnd = rnd
        self.concurrency = shard.cfg.concurrency
        self.pool_pids = [100000 + index * 16 + i for i in range(self.concurrency)]
        self.queues = list(shard.cfg.queues)
        self.active: dict[str, SimTask] = {}
        self.long_running: list[SimTask] = []
        self.revoked: list[str] = []
        self.revoked_set: set[str] = set()
        self.totals: dict[str, int] = {}
        self.processed = 0
        self.task_events = True
        self.load_jitter = rnd.uniform(0.6, 1.4)
        self.next_heartbeat = time.monotonic() + rnd.uniform(0.0, shard.cfg.freq)
        self.buffer: list[dict] = []
        self.online = False
        self.dispatcher = None
        self.channel = None
        self.consumer = None
        self.node = None
        for _ in range(shard.cfg.long_running):
            t = SimTask("sample_proj.tasks.sleepy", [], {"seconds": 3600})
            t.time_start = round(self.started - rnd.uniform(1.0, 600.0), 6)
            self.long_running.append(t)

    # -- events ---------------------------------------------------------
    def worker_fields(self) -> dict:
        la = os.getloadavg()
        return {
            "freq": self.shard.cfg.freq,
            "active": len(self.active) + len(self.long_running),
            "processed": self.processed,
            "loadavg": [round(v * self.load_jitter, 2) for v in la],
            **self.shard.software_info,
        }

    def send_worker(self, type_: str, freq: float | None = None) -> None:
        fields = self.worker_fields()
        if freq is not None:
            fields["freq"] = freq
        self.dispatcher.publish(type_, fields, self.shard.producer)
        self.shard.sent_events += 1

    def send_task(self, type_: str, fields: dict) -> None:
        if not self.task_events:
            return
        if self.shard.cfg.multi:
            d = self.dispatcher
            self.buffer.append(d._prepare_event(type_, fields))
            if len(self.buffer) >= MULTI_LIMIT:
                self.flush()
            else:
                self.shard.dirty.add(self)
        else:
            self.dispatcher.publish(type_, fields, self.shard.producer)
            self.shard.sent_events += 1
            self.shard.sent_task_events += 1

    def flush(self) -> None:
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.dispatcher._publish(batch, self.shard.producer, "task.multi")
            self.shard.sent_events += 1
            self.shard.sent_task_events += len(batch)

    # -- remote-control answers ------------------------------------------
    def all_active(self) -> list[SimTask]:
        return [*self.long_running, *self.active.values()]

    def pid_for(self, task: SimTask) -> int:
        return self.pool_pids[hash(task.uuid) % len(self.pool_pids)]

    def stats(self) -> dict:
        uptime = int(time.time() - self.started)
        return {
            "total": dict(self.totals),
            "pid": self.pid,
            "clock": str(self.clock.value),
            "uptime": uptime,
            "pool": {
                "implementation": "celery.concurrency.prefork:TaskPool",
                "max-concurrency": self.concurrency,
                "processes": list(self.pool_pids),
                "max-tasks-per-child": "N/A",
                "put-guarded-by-semaphore": False,
                "timeouts": [0, 0],
                "writes": {
                    "total": self.processed,
                    "avg": f"{1 / max(1, self.concurrency):.2f}",
                    "all": ", ".join(f"{1 / max(1, self.concurrency):.2f}" for _ in self.pool_pids),
                    "raw": ", ".join(
                        str(self.processed // max(1, self.concurrency)) for _ in self.pool_pids
                    ),
                    "strategy": "fair",
                    "inqueues": {"total": self.concurrency, "active": 0},
                },
            },
            "broker": self.shard.broker_info,
            "prefetch_count": self.concurrency * 4,
            "rusage": {
                "utime": round(uptime * 0.003 * self.load_jitter, 6),
                "stime": round(uptime * 0.001 * self.load_jitter, 6),
                "maxrss": 58000 + self.index % 4096,
                "ixrss": 0,
                "idrss": 0,
                "isrss": 0,
                "minflt": 21000 + self.processed,
                "majflt": 0,
                "nswap": 0,
                "inblock": 0,
                "oublock": 0,
                "msgsnd": 0,
                "msgrcv": 0,
                "nsignals": 0,
                "nvcsw": 400 + uptime,
                "nivcsw": 100 + uptime // 10,
            },
        }


def _ok(value):
    return {"ok": value}


def _nok(value):
    return {"error": value}


def _h_ping(state, **kw):
    return _ok("pong")


def _h_stats(state, **kw):
    return state.stats()


def _h_active(state, safe=False, **kw):
    return [t.request_info(state.hostname, state.pid_for(t)) for t in state.all_active()]


def _h_reserved(state, **kw):
    return []


def _h_scheduled(state, **kw):
    return []


def _h_revoked(state, **kw):
    return list(state.revoked)


def _h_registered(state, taskinfoitems=None, builtins=False, **kw):
    from celery.worker import control

    return control.registered(state.shard.app_state, taskinfoitems=taskinfoitems, builtins=builtins)


def _h_active_queues(state, **kw):
    return [state.shard.queue_dict(name) for name in state.queues]


def _h_clock(state, **kw):
    return {"clock": state.clock.value}


def _h_conf(state, with_defaults=False, **kw):
    from celery.worker import control

    return control.conf(state.shard.app_state, with_defaults=with_defaults)


def _h_report(state, **kw):
    return _ok(state.shard.bugreport)


def _h_query_task(state, ids=None, **kw):
    ids = [ids] if isinstance(ids, str) else list(ids or [])
    out = {}
    for t in state.all_active():
        if t.uuid in ids:
            out[t.uuid] = ["active", t.request_info(state.hostname, state.pid_for(t))]
    return out


def _h_hello(state, from_node=None, revoked=None, **kw):
    if from_node != state.hostname:
        return {"revoked": list(state.revoked), "clock": state.clock.forward()}
    return None


def _h_heartbeat(state, **kw):
    state.send_worker("worker-heartbeat", freq=5)
    return None


def _h_enable_events(state, **kw):
    if state.task_events:
        return _ok("task events already enabled")
    state.task_events = True
    return _ok("task events enabled")


def _h_disable_events(state, **kw):
    if not state.task_events:
        return _ok("task events already disabled")
    state.task_events = False
    return _ok("task events disabled")


def _h_revoke(state, task_id, terminate=False, signal=None, **kw):
    ids = [task_id] if isinstance(task_id, str) else list(task_id)
    for tid in ids:
        if tid not in state.revoked_set:
            state.revoked_set.add(tid)
            state.revoked.append(tid)
    if terminate:
        terminated = []
        for tid in ids:
            task = state.active.pop(tid, None)
            if task is None:
                for lr in list(state.long_running):
                    if lr.uuid == tid:
                        state.long_running.remove(lr)
                        task = lr
            if task is not None:
                terminated.append(tid)
                state.shard.gen.forget(task)
                state.send_task(
                    "task-revoked",
                    {
                        "uuid": tid,
                        "terminated": True,
                        "signum": signal or "SIGTERM",
                        "expired": False,
                    },
                )
        if not terminated:
            return _ok("terminate: tasks unknown")
        return _ok("terminate: {}".format(", ".join(terminated)))
    return _ok(f"tasks {ids} flagged as revoked")


def _h_terminate(state, signal, task_id, **kw):
    return _h_revoke(state, task_id, terminate=True, signal=signal)


def _known_task(state, name):
    return name in state.app.tasks


def _h_rate_limit(state, task_name, rate_limit, **kw):
    if not _known_task(state, task_name):
        return _nok("unknown task")
    if not rate_limit:
        return _ok("rate limit disabled successfully")
    return _ok("new rate limit set successfully")


def _h_time_limit(state, task_name=None, hard=None, soft=None, **kw):
    if not _known_task(state, task_name):
        return _nok("unknown task")
    return _ok("time limits set successfully")


def _h_pool_grow(state, n=1, **kw):
    for _ in range(int(n)):
        state.pool_pids.append(state.pool_pids[-1] + 1 if state.pool_pids else 100000)
    state.concurrency = len(state.pool_pids)
    return _ok("pool will grow")


def _h_pool_shrink(state, n=1, **kw):
    for _ in range(min(int(n), max(0, len(state.pool_pids) - 1))):
        state.pool_pids.pop()
    state.concurrency = len(state.pool_pids)
    return _ok("pool will shrink")


def _h_autoscale(state, max=None, min=None, **kw):
    return _ok(f"autoscale now max={max} min={min}")


def _h_add_consumer(state, queue, **kw):
    if queue not in state.queues:
        state.queues.append(queue)
    return _ok(f"add consumer {queue}")


def _h_cancel_consumer(state, queue, **kw):
    if queue in state.queues:
        state.queues.remove(queue)
    return _ok(f"no longer consuming from {queue}")


HANDLERS = {
    "ping": _h_ping,
    "stats": _h_stats,
    "active": _h_active,
    "dump_active": _h_active,
    "reserved": _h_reserved,
    "dump_reserved": _h_reserved,
    "scheduled": _h_scheduled,
    "dump_schedule": _h_scheduled,
    "revoked": _h_revoked,
    "dump_revoked": _h_revoked,
    "registered": _h_registered,
    "dump_tasks": _h_registered,
    "active_queues": _h_active_queues,
    "clock": _h_clock,
    "conf": _h_conf,
    "dump_conf": _h_conf,
    "report": _h_report,
    "query_task": _h_query_task,
    "hello": _h_hello,
    "heartbeat": _h_heartbeat,
    "enable_events": _h_enable_events,
    "disable_events": _h_disable_events,
    "revoke": _h_revoke,
    "terminate": _h_terminate,
    "rate_limit": _h_rate_limit,
    "time_limit": _h_time_limit,
    "pool_grow": _h_pool_grow,
    "pool_shrink": _h_pool_shrink,
    "autoscale": _h_autoscale,
    "add_consumer": _h_add_consumer,
    "cancel_consumer": _h_cancel_consumer,
}


class TaskGenerator:
    """Produces task lifecycles (with canvases) spread over the shard's nodes."""

    def __init__(self, shard: Shard, rnd: random.Random) -> None:
        self.shard = shard
        self.rnd = rnd
        self.heap: list[tuple[float, int, str, SimTask]] = []
        self.seq = itertools.count()
        self.forgotten: set[str] = set()

    def pending(self) -> int:
        return len(self.heap)

    def forget(self, task: SimTask) -> None:
        self.forgotten.add(task.uuid)

    def _schedule(self, when: float, step: str, task: SimTask) -> None:
        if task.fast:
            when = 0.0
        heapq.heappush(self.heap, (when, next(self.seq), step, task))

    def _node(self) -> SimNode:
        nodes = self.shard.live_nodes
        return nodes[self.rnd.randrange(len(nodes))]

    def new_canvas(self, now: float, fast: bool = False) -> list[SimTask]:
        r = self.rnd.random()
        rnd = self.rnd
        if r < 0.50:
            name = rnd.choice(["sample_proj.tasks.add", "sample_proj.tasks.mul"])
            x, y = rnd.randrange(1000), rnd.randrange(1000)
            t = SimTask(name, [x, y], {})
            t.result = x + y if name.endswith("add") else x * y
            roots = [t]
        elif r < 0.60:
            nums = [rnd.randrange(100) for _ in range(rnd.randrange(2, 8))]
            t = SimTask("sample_proj.tasks.xsum", [nums], {})
            t.result = sum(nums)
            roots = [t]
        elif r < 0.66:
            t = SimTask("sample_proj.tasks.flaky", [], {"fail_rate": 0.5}, kind="retry")
            t.result = "ok"
            roots = [t]
        elif r < 0.70:
            t = SimTask("sample_proj.tasks.always_fails", [], {"reason": "boom"}, kind="fail")
            roots = [t]
        elif r < 0.88:
            url = f"s3://bucket/img-{rnd.randrange(10**6)}.png"
            d = SimTask("sample_proj.pipeline.download", [url], {})
            rs = SimTask(
                "sample_proj.pipeline.resize",
                [{"url": url}],
                {"width": 640},
                parent_id=d.uuid,
                root_id=d.uuid,
            )
            up = SimTask(
                "sample_proj.pipeline.upload", [{"url": url}], {}, parent_id=rs.uuid, root_id=d.uuid
            )
            d.result = {"url": url, "bytes": 1024 + len(url)}
            rs.result = {"url": url, "width": 640}
            up.result = f"s3://thumbnails/{url.rsplit('/', 1)[-1]}"
            d.children = [rs]
            rs.children = [up]
            roots = [d]
        else:
            urls = [
                f"s3://bucket/batch-{rnd.randrange(10**6)}-{i}.png"
                for i in range(rnd.randrange(2, 6))
            ]
            p = SimTask("sample_proj.pipeline.process_images", [urls], {"width": 640})
            header = [
                SimTask("sample_proj.pipeline.download", [u], {}, parent_id=p.uuid, root_id=p.uuid)
                for u in urls
            ]
            for h in header:
                h.result = {"url": h.args[0]}
            cb = SimTask(
                "sample_proj.pipeline.notify",
                [[f"s3://thumbnails/{i}" for i in range(len(urls))]],
                {},
                parent_id=header[-1].uuid,
                root_id=p.uuid,
            )
            cb.result = {"count": len(urls)}
            p.result = str(uuidlib.uuid4())
            p.children = header
            header[-1].children = [cb]
            roots = [p]
        if fast:
            stack = list(roots)
            while stack:
                t = stack.pop()
                t.fast = True
                stack.extend(t.children)
        return roots

    def emit_followups(self, now: float, limit: int = 100_000) -> int:
        """Emit every follow-up event (started, finished, chained child) now due."""
        sent = 0
        heap = self.heap
        while heap and heap[0][0] <= now and sent < limit:
            _, _, step, task = heapq.heappop(heap)
            if task.uuid in self.forgotten:
                continue
            sent += self._step(now, step, task)
        return sent

    def emit_new(self, now: float, budget: int, fast: bool = False) -> int:
        """Start new canvases until ``budget`` events were sent.

        ``fast`` (bursts): the whole lifecycle of each new canvas is emitted at
        once, so a burst of N is exactly N events published back to back.
        """
        sent = 0
        heap = self.heap
        while sent < budget:
            if fast and heap and heap[0][0] <= now:
                _, _, step, task = heapq.heappop(heap)
                if task.uuid not in self.forgotten:
                    sent += self._step(now, step, task)
                continue
            roots = self.new_canvas(now, fast)
            for t in roots:
                sent += self._step(now, "received", t)
        return sent

    def _step(self, now: float, step: str, task: SimTask) -> int:
        rnd = self.rnd
        if step == "received":
            if task.node is None or task.node not in self.shard.live_nodes_set:
                task.node = self._node()
            task.node.send_task(
                "task-received",
                {
                    "uuid": task.uuid,
                    "name": task.name,
                    "args": repr(tuple(task.args)),
                    "kwargs": repr(task.kwargs),
                    "root_id": task.root_id,
                    "parent_id": task.parent_id,
                    "retries": task.retries,
                    "eta": None,
                    "expires": None,
                },
            )
            self._schedule(now + rnd.uniform(0.001, 0.05), "started", task)
            return 1
        node = task.node
        if step == "started":
            task.time_start = time.time()
            node.active[task.uuid] = task
            node.send_task("task-started", {"uuid": task.uuid})
            task.runtime = rnd.uniform(0.002, 0.3)
            self._schedule(now + task.runtime, "finished", task)
            return 1
        # finished
        node.active.pop(task.uuid, None)
        node.processed += 1
        node.totals[task.name] = node.totals.get(task.name, 0) + 1
        runtime = round(task.runtime, 6)
        if task.kind == "fail":
            exc = "ValueError('invalid payload: boom')"
            node.send_task(
                "task-failed",
                {
                    "uuid": task.uuid,
                    "exception": exc,
                    "traceback": TRACEBACK_TEMPLATE.format(
                        line=82,
                        func="validate",
                        code='raise ValueError(f"invalid payload: {payload}")',
                        exc="ValueError: invalid payload: boom",
                    ),
                },
            )
        elif task.kind == "retry" and task.retries < 1:
            exc = "TransientError('transient failure (fail_rate=0.5)')"
            node.send_task(
                "task-retried",
                {
                    "uuid": task.uuid,
                    "exception": exc,
                    "traceback": TRACEBACK_TEMPLATE.format(
                        line=58,
                        func="flaky",
                        code='raise TransientError(f"transient failure (fail_rate={fail_rate})")',
                        exc="sample_proj.tasks.TransientError: transient failure (fail_rate=0.5)",
                    ),
                },
            )
            task.retries += 1
            self._schedule(now + 0.2, "received", task)
        else:
            node.send_task(
                "task-succeeded",
                {
                    "uuid": task.uuid,
                    "result": repr(task.result),
                    "runtime": runtime,
                },
            )
            for child in task.children:
                self._schedule(now + rnd.uniform(0.001, 0.02), "received", child)
        return 1


class Shard:
    """One process: its share of the nodes, one kombu Hub loop."""

    def __init__(
        self, cfg: FleetConfig, index: int, hostnames: list[str], status: Any, parent_pid: int
    ) -> None:
        self.cfg = cfg
        self.index = index
        self.hostnames = hostnames
        self.status = status  # writable text stream: one JSON line per report
        self.parent_pid = parent_pid
        self.sent_events = 0
        self.sent_task_events = 0
        self.replies = 0
        self.dirty: set[SimNode] = set()
        self.nodes: list[SimNode] = []
        self.live_nodes: list[SimNode] = []
        self.live_nodes_set: set[SimNode] = set()
        self.stopping = False
        share = 1.0 / cfg.processes
        self.rate = cfg.rate * share
        self.burst = int(round(cfg.burst * share))
        self.gen = TaskGenerator(self, random.Random(f"{cfg.seed}-shard-{index}"))

    def setup(self) -> None:
        os.environ["CELERY_BROKER_URL"] = self.cfg.broker_url
        os.environ.setdefault("CELERY_RESULT_BACKEND", self.cfg.broker_url)
        import importlib

        from celery import Celery
        from celery.utils.collections import AttributeDict
        from kombu import Connection, Producer
        from kombu.asynchronous import Hub

        try:
            mod = importlib.import_module(self.cfg.app_module)
            app = getattr(mod, "app", None) or getattr(mod, "celery", None)
        except ImportError:
            app = None
        if app is None:
            app = Celery(self.cfg.app_module)
        app.conf.broker_url = self.cfg.broker_url
        app.conf.broker_connection_retry_on_startup = False
        self.app = app
        self.app_state = AttributeDict(app=app, hostname=None)
        import platform

        import celery

        self.software_info = {
            "sw_ident": "py-celery",
            "sw_ver": celery.__version__,
            "sw_sys": platform.system(),
        }
        self.bugreport = app.bugreport()
        self.conn = Connection(self.cfg.broker_url, connect_timeout=5)
        self.conn.ensure_connection(max_retries=3)
        self.broker_info = self.conn.info()
        self.event_channel = self.conn.channel()
        self.producer = Producer(self.event_channel, auto_declare=False)
        self.mailbox = app.control.mailbox
        self.hub = Hub()
        self._queue_dicts: dict[str, dict] = {}

        for i, hostname in enumerate(self.hostnames):
            node = SimNode(self, hostname, self.cfg.start_index + self._offset + i)
            node.dispatcher = app.events.Dispatcher(
                channel=self.event_channel,
                hostname=hostname,
                enabled=True,
                buffer_while_offline=False,
            )
            node.dispatcher.clock = node.clock
            node.channel = self.conn.channel()
            node.node = self.mailbox.Node(
                hostname, state=node, channel=node.channel, handlers=HANDLERS
            )
            node.consumer = node.node.listen(callback=self._make_callback(node))
            self.nodes.append(node)
        self.live_nodes = list(self.nodes)
        self.live_nodes_set = set(self.nodes)
        self.conn.transport.register_with_event_loop(self.conn.connection, self.hub)

    _offset = 0

    def queue_dict(self, name: str) -> dict:
        d = self._queue_dicts.get(name)
        if d is None:
            q = self.app.amqp.queues.get(name)
            if q is None:
                q = self.app.amqp.Queues({}).new_missing(name)
            d = self._queue_dicts[name] = dict(q.as_dict(recurse=True))
        return d

    def _make_callback(self, node: SimNode):
        def on_message(body, message):
            if not node.online or self.stopping:
                return
            method = body.get("method")
            if method == "shutdown":
                dest = body.get("destination")
                if not dest or node.hostname in dest:
                    self.hub.call_soon(self._node_shutdown, node)
                return
            try:
                node.node.handle_message(body, message)
            except KeyError:
                pass
            if body.get("reply_to"):
                self.replies += 1

        return on_message

    def _node_shutdown(self, node: SimNode) -> None:
        if not node.online:
            return
        node.online = False
        node.flush()
        node.send_worker("worker-offline")
        with contextlib.suppress(Exception):
            node.consumer.cancel()
        with contextlib.suppress(Exception):
            node.channel.close()
        self.live_nodes = [n for n in self.live_nodes if n is not node]
        self.live_nodes_set.discard(node)
        if not self.live_nodes:
            raise _Stop()

    def report(self, kind: str = "stats") -> None:
        _status_line(
            self.status,
            kind,
            self.index,
            {
                "events": self.sent_events,
                "task_events": self.sent_task_events,
                "replies": self.replies,
                "nodes": len(self.live_nodes),
                "pending": self.gen.pending(),
                "time": time.time(),
            },
        )

    def run(self) -> None:
        cfg = self.cfg
        hub = self.hub
        loop = hub.create_loop()
        # first ticks: subscribe every pidbox consumer before announcing ourselves
        for _ in range(3):
            next(loop)
        for node in self.nodes:
            node.online = True
            node.send_worker("worker-online")
        self.report("ready")
        t0 = time.monotonic()
        deadline = t0 + cfg.duration
        state = {
            "last": t0,
            "carry": 0.0,
            "next_burst": t0 + cfg.burst_every if cfg.burst_every > 0 else math.inf,
            "next_report": t0 + 1.0,
        }

        def tick(now: float) -> None:
            if now >= deadline or self.stopping or os.getppid() != self.parent_pid:
                raise _Stop()
            if self.live_nodes:
                wall = time.time()
                with self.producer.batch(max_size=1000):  # one pipeline per tick
                    for node in self.live_nodes:
                        if now >= node.next_heartbeat:
                            node.next_heartbeat += cfg.freq
                            if node.next_heartbeat < now:
                                node.next_heartbeat = now + cfg.freq
                            node.send_worker("worker-heartbeat")
                    state["carry"] += self.rate * (now - state["last"])
                    state["carry"] -= self.gen.emit_followups(wall)
                    if now >= state["next_burst"]:
                        state["next_burst"] += cfg.burst_every
                        if self.burst > 0:
                            self.gen.emit_new(wall, self.burst, fast=True)
                    if state["carry"] >= 1:
                        state["carry"] -= self.gen.emit_new(wall, int(state["carry"]))
                    state["carry"] = max(state["carry"], -self.rate)
                    self._flush_dirty()
            state["last"] = now
            if now >= state["next_report"]:
                state["next_report"] = now + 1.0
                self.report()

        # a timer only bounds the poll timeout; tick() runs in this loop, so
        # its errors (and _Stop) are not swallowed by the hub's timer guard
        tick_every = cfg.tick
        hub.call_repeatedly(tick_every, _noop)
        next_tick = 0.0
        try:
            while True:
                next(loop)
                if self.dirty:
                    with self.producer.batch(max_size=1000):
                        self._flush_dirty()
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + tick_every
                    tick(now)
        except _Stop:
            pass

    def _flush_dirty(self) -> None:
        dirty, self.dirty = self.dirty, set()
        for node in dirty:
            node.flush()

    def _on_signal(self, signum, frame) -> None:
        # only a flag: raising here could cut a publish in half; tick() stops us
        self.stopping = True

    def teardown(self) -> None:
        """Every node: flush, worker-offline, delete its pidbox binding; close."""
        self.stopping = True
        with contextlib.suppress(Exception):
            with self.producer.batch(max_size=1000):
                for node in self.nodes:
                    if node.online:
                        node.online = False
                        node.flush()
                        node.send_worker("worker-offline")
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.consumer.cancel()
            with contextlib.suppress(Exception):
                node.channel.close()  # auto_delete queue: srem its binding
        self.report("stopped")
        with contextlib.suppress(Exception):
            self.hub.close()
        with contextlib.suppress(Exception):
            self.conn.release()


def _status_line(stream: Any, kind: str, index: int, data: dict) -> None:
    with contextlib.suppress(Exception):
        stream.write(json.dumps({"kind": kind, "shard": index, **data}) + "\n")
        stream.flush()


def _shard_main(spec: dict) -> int:
    """Entry point of one shard process (``python -m tests.perf.fleet --_shard JSON``)."""
    _set_parent_death_signal()
    parent_pid = spec["parent_pid"]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM stops us
    if os.getppid() != parent_pid:
        return 0
    status = sys.stdout
    index = spec["index"]
    cfg = FleetConfig(**spec["cfg"])
    shard = Shard(cfg, index, spec["hostnames"], status, parent_pid)
    shard._offset = spec["offset"]
    try:
        signal.signal(signal.SIGTERM, shard._on_signal)
        shard.setup()
        shard.run()
    except _Stop:
        pass
    except BaseException as exc:  # report, then clean up
        _status_line(status, "error", index, {"error": repr(exc)})
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with contextlib.suppress(BaseException):
            shard.teardown()
        if os.getppid() != parent_pid and spec.get("log"):
            # the parent died and cannot remove our stderr log: do it ourselves
            with contextlib.suppress(OSError):
                os.unlink(spec["log"])
    return 0


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------


class Fleet:
    """N simulated workers in a few processes; ``with Fleet(...) as f:``."""

    def __init__(
        self,
        broker_url: str,
        n_workers: int = 20,
        *,
        processes: int | None = None,
        rate: float = 0.0,
        burst: int = 0,
        burst_every: float = 0.0,
        duration: float = 300.0,
        freq: float = DEFAULT_FREQ,
        prefix: str = "sim",
        host: str | None = None,
        app_module: str = "sample_proj",
        queues: tuple[str, ...] | list[str] = ("celery",),
        multi: bool = True,
        long_running: int = 0,
        concurrency: int = 4,
        seed: int = 0,
        start_index: int = 0,
        tick: float = TICK,
    ) -> None:
        self.cfg = FleetConfig(
            broker_url=broker_url,
            n_workers=n_workers,
            processes=processes,
            rate=rate,
            burst=burst,
            burst_every=burst_every,
            duration=duration,
            freq=freq,
            prefix=prefix,
            host=host or os.uname().nodename,
            app_module=app_module,
            queues=tuple(queues),
            multi=multi,
            long_running=long_running,
            concurrency=concurrency,
            seed=seed,
            start_index=start_index,
            tick=tick,
        ).normalized()
        self.procs: list[subprocess.Popen] = []
        self._readers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._last: dict[int, dict] = {}
        self._ready: set[int] = set()
        self._logs: list[str] = []
        self.errors: list[str] = []
        self.started_at: float | None = None

    @property
    def hostnames(self) -> list[str]:
        return self.cfg.hostnames()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _split(self) -> list[tuple[int, list[str]]]:
        names = self.hostnames
        n = self.cfg.processes
        out, start = [], 0
        for i in range(n):
            size = len(names) // n + (1 if i < len(names) % n else 0)
            out.append((start, names[start : start + size]))
            start += size
        return out

    def _read_status(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            try:
                data = json.loads(line)
            except ValueError:
                continue
            kind, idx = data.pop("kind", ""), data.pop("shard", -1)
            with self._lock:
                if kind == "error":
                    self.errors.append(f"shard {idx}: {data.get('error')}")
                else:
                    data["kind"] = kind
                    self._last[idx] = data
                    self._ready.add(idx)

    def start(self, wait: bool = True, timeout: float = 60.0) -> Fleet:
        cfg_dict = asdict(self.cfg)
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        try:
            for i, (offset, names) in enumerate(self._split()):
                log = tempfile.NamedTemporaryFile(
                    prefix=f"fleet-shard-{i}-", suffix=".log", delete=False
                )
                self._logs.append(log.name)
                spec = {
                    "cfg": cfg_dict,
                    "index": i,
                    "offset": offset,
                    "hostnames": names,
                    "parent_pid": os.getpid(),
                    "log": log.name,
                }
                debug = bool(os.environ.get("FLEET_DEBUG"))
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.perf.fleet", "--_shard", json.dumps(spec)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=None if debug else log,
                    env=env,
                    cwd=root,
                    text=True,
                )
                log.close()
                self.procs.append(proc)
                t = threading.Thread(
                    target=self._read_status, args=(proc,), daemon=True, name=f"fleet-status-{i}"
                )
                t.start()
                self._readers.append(t)
            self.started_at = time.monotonic()
            if wait:
                self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _log_tail(self, i: int) -> str:
        try:
            return " | ".join(
                Path(self._logs[i]).read_text(errors="replace").strip().splitlines()[-3:]
            )
        except (OSError, IndexError):
            return ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until every shard is up and every node answers a real ping."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                ready, errors = len(self._ready), list(self.errors)
            if errors:
                raise RuntimeError("fleet failed: " + "; ".join(errors))
            if ready >= len(self.procs):
                break
            dead = [i for i, p in enumerate(self.procs) if p.poll() is not None]
            if dead:
                raise RuntimeError(f"fleet shard {dead[0]} exited early: {self._log_tail(dead[0])}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"fleet shards not ready within {timeout}s")
            time.sleep(0.05)
        expected = set(self.hostnames)
        seen = ping_nodes(self.cfg.broker_url, expected, deadline - time.monotonic())
        if not expected <= seen:
            missing = sorted(expected - seen)
            raise TimeoutError(
                f"{len(missing)} simulated nodes did not answer ping, e.g. {missing[:3]}"
            )

    def counters(self) -> dict:
        """Totals over shards: events (messages), task_events, replies, live nodes."""
        total: dict[str, Any] = {"events": 0, "task_events": 0, "replies": 0, "nodes": 0}
        with self._lock:
            shards = {i: dict(d) for i, d in sorted(self._last.items())}
        for data in shards.values():
            for k in ("events", "task_events", "replies", "nodes"):
                total[k] += data.get(k, 0)
        total["shards"] = shards
        return total

    @staticmethod
    def rate_between(before: dict, after: dict, key: str = "task_events") -> float:
        """Events/s between two :meth:`counters` snapshots, timed by the shards' own
        report timestamps (reports come once a second)."""
        total = 0.0
        for idx, a in after.get("shards", {}).items():
            b = before.get("shards", {}).get(idx)
            if b and a.get("time", 0) > b.get("time", 0):
                total += (a.get(key, 0) - b.get(key, 0)) / (a["time"] - b["time"])
        return total

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the shards to end by themselves (``duration``); True if they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        for t in self._readers:
            t.join(2)
        return True

    def stop(self, timeout: float = 15.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for t in self._readers:
            t.join(2)
        for p in self.procs:
            if p.stdout:
                with contextlib.suppress(Exception):
                    p.stdout.close()
        if self.procs:
            with contextlib.suppress(Exception):
                cleanup_bindings(self.cfg.broker_url, self.hostnames)
        self.procs = []
        self._readers = []
        for path in self._logs:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._logs = []

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ping_nodes(broker_url: str, expected: set[str], timeout: float = 30.0) -> set[str]:
    """Real ``control.ping`` rounds until all of ``expected`` answered (or timeout)."""
    from celery import Celery

    probe = Celery("fleet-probe", broker=broker_url, backend=None)
    probe.conf.broker_connection_retry_on_startup = False
    seen: set[str] = set()
    deadline = time.monotonic() + max(1.0, timeout)
    try:
        while time.monotonic() < deadline and not expected <= seen:
            missing = len(expected - seen)
            replies = (
                probe.control.ping(
                    timeout=1.0, limit=missing or None, destination=sorted(expected - seen)
                )
                or []
            )
            for reply in replies:
                seen.update(reply.keys())
    finally:
        probe.close()
    return seen


def cleanup_bindings(broker_url: str, hostnames: list[str], namespace: str = "celery") -> int:
    """Remove pidbox bindings left by these nodes (after a crash); returns how many."""
    import redis

    sep = "\x06\x16"
    exchange = f"{namespace}.pidbox"
    client = redis.Redis.from_url(broker_url, socket_timeout=5)
    try:
        members = [sep.join(["", "", f"{h}.{exchange}"]) for h in hostnames]
        removed = 0
        for i in range(0, len(members), 500):
            chunk = members[i : i + 500]
            removed += client.srem(f"_kombu.binding.{exchange}", *chunk)
            client.srem(f"_kombu.binding_permanent.{exchange}", *chunk)
        if not client.exists(f"_kombu.binding.{exchange}"):
            client.zrem("_kombu.binding_deadlines", exchange)
        return removed
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_shard"]:
        return _shard_main(json.loads(argv[1]))
    p = argparse.ArgumentParser(
        prog="python -m tests.perf.fleet",
        description="Simulate a fleet of Celery workers on a real Redis broker.",
    )
    p.add_argument("--broker", required=True, help="redis:// URL")
    p.add_argument("--workers", type=int, default=20, help=f"simulated nodes (1..{MAX_WORKERS})")
    p.add_argument("--rate", type=float, default=0.0, help="task events/s, whole fleet")
    p.add_argument("--burst", type=int, default=0, help="extra task events per burst")
    p.add_argument("--burst-every", type=float, default=0.0, help="seconds between bursts")
    p.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help=f"seconds before stopping by itself (max {MAX_DURATION:.0f})",
    )
    p.add_argument("--freq", type=float, default=DEFAULT_FREQ, help="heartbeat interval (s)")
    p.add_argument("--processes", type=int, default=None, help="shard processes (default 1-4)")
    p.add_argument("--prefix", default="sim", help="node name prefix")
    p.add_argument("--host", default=None, help="host part of node names")
    p.add_argument("--app", default="sample_proj", help="app module (task names, conf)")
    p.add_argument("--queues", default="celery", help="queues reported by active_queues")
    p.add_argument(
        "--long-running",
        type=int,
        default=0,
        help="hour-long active tasks per node (stable `inspect active`)",
    )
    p.add_argument(
        "--no-multi",
        action="store_true",
        help="one message per task event instead of task.multi batches",
    )
    p.add_argument(
        "--tick",
        type=float,
        default=TICK,
        help="generator tick (s): task events are flushed per node per tick",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    fleet = Fleet(
        args.broker,
        args.workers,
        processes=args.processes,
        rate=args.rate,
        burst=args.burst,
        burst_every=args.burst_every,
        duration=args.duration,
        freq=args.freq,
        prefix=args.prefix,
        host=args.host,
        app_module=args.app,
        queues=tuple(q for q in args.queues.split(",") if q),
        multi=not args.no_multi,
        long_running=args.long_running,
        seed=args.seed,
        tick=args.tick,
    )
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.monotonic()
    try:
        fleet.start(wait=True, timeout=60)
        if not args.quiet:
            print(
                f"fleet: {args.workers} nodes in {fleet.cfg.processes} processes "
                f"({fleet.hostnames[0]} .. {fleet.hostnames[-1]}) ready in "
                f"{time.monotonic() - t0:.1f}s; running {fleet.cfg.duration:.0f}s",
                flush=True,
            )
        last_events, last_t = 0, time.monotonic()
        while not stop["flag"] and fleet.alive():
            time.sleep(0.5)
            now = time.monotonic()
            if now - last_t >= 5 and not args.quiet:
                c = fleet.counters()
                rate = (c["task_events"] - last_events) / (now - last_t)
                print(
                    json.dumps(
                        {
                            "t": round(now - t0, 1),
                            "nodes": c["nodes"],
                            "task_events": c["task_events"],
                            "task_events_per_s": round(rate),
                            "messages": c["events"],
                            "replies": c["replies"],
                        }
                    ),
                    flush=True,
                )
                last_events, last_t = c["task_events"], now
    finally:
        fleet.stop()
        if fleet.errors:
            print("errors: " + "; ".join(fleet.errors), file=sys.stderr)
    if not args.quiet:
        c = fleet.counters()
        print(
            f"fleet stopped after {time.monotonic() - t0:.1f}s: "
            f"{c['task_events']} task events, {c['replies']} replies",
            flush=True,
        )
    return 1 if fleet.errors else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
