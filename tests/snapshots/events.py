"""A small deterministic event recording for the console's snapshot and unit tests.

Shaped like real Celery events from sample_proj traffic (workers alpha/bravo,
successes, a failure with a traceback, retries, a revoked task, a running
sleepy task, a chord canvas) plus one hostile task whose name, args and
result carry Rich markup, ANSI/OSC-8 escapes and bidi overrides.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

NOW = 1_767_225_600.0  # FixedClock default: 2026-01-01T00:00:00Z
HOSTS = ("alpha@demo", "bravo@demo")

HOSTILE_NAME = "[bold red]evil[/] \x1b[31mred\x1b[0m"
HOSTILE_ARGS = "('[link=http://evil.example]click me[/link]', '\x1b]8;;http://evil.example\x1b\\osc8\x1b]8;;\x1b\\', '\u202egnp.exe')"
HOSTILE_RESULT = "[@click=app.quit]quit[/] \x07\x1b[2J"
HOSTILE_ID = "e0000000-0000-4000-8000-00000000bad1"

TRACEBACK = """Traceback (most recent call last):
  File "/app/celery/app/trace.py", line 453, in trace_task
    R = retval = fun(*args, **kwargs)
  File "/app/sample_proj/tasks.py", line 78, in always_fails
    process(reason)
  File "/app/sample_proj/tasks.py", line 76, in process
    validate(payload)
  File "/app/sample_proj/tasks.py", line 73, in validate
    raise ValueError(f"invalid payload: {payload}")
ValueError: invalid payload: boom
"""


def uid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def make_events() -> list[dict]:
    ev: list[dict] = []
    t = NOW - 120.0
    for i, host in enumerate(HOSTS):
        ev.append(
            {
                "type": "worker-online",
                "hostname": host,
                "timestamp": t + i,
                "freq": 2.0,
                "sw_ident": "py-celery",
                "sw_ver": "5.7.0",
                "sw_sys": "Linux",
                "pid": 100 + i,
                "clock": len(ev) + 1,
            }
        )

    def task(
        n: int,
        name: str,
        host: str,
        start: float,
        *,
        args: str = "()",
        kwargs: str = "{}",
        end: str | None = "succeeded",
        runtime: float = 0.01,
        result: str = "None",
        root: str | None = None,
        parent: str | None = None,
        retries: int = 0,
        uuid: str | None = None,
    ) -> str:
        u = uuid or uid(n)
        base = {"uuid": u, "hostname": host}
        ev.append(
            {
                "type": "task-received",
                **base,
                "name": name,
                "args": args,
                "kwargs": kwargs,
                "retries": retries,
                "eta": None,
                "expires": None,
                "timestamp": start,
                "root_id": root or u,
                "parent_id": parent,
            }
        )
        ev.append({"type": "task-started", **base, "timestamp": start + 0.005, "pid": 200})
        if end == "succeeded":
            ev.append(
                {
                    "type": "task-succeeded",
                    **base,
                    "result": result,
                    "runtime": runtime,
                    "timestamp": start + 0.005 + runtime,
                }
            )
        elif end == "failed":
            ev.append(
                {
                    "type": "task-failed",
                    **base,
                    "exception": "ValueError('invalid payload: boom')",
                    "traceback": TRACEBACK,
                    "timestamp": start + 0.005 + runtime,
                }
            )
        elif end == "retried":
            ev.append(
                {
                    "type": "task-retried",
                    **base,
                    "exception": "TransientError('transient failure')",
                    "traceback": "Traceback ...\nTransientError: transient failure",
                    "timestamp": start + 0.005 + runtime,
                }
            )
        elif end == "revoked":
            ev.append(
                {
                    "type": "task-revoked",
                    **base,
                    "terminated": True,
                    "signum": 15,
                    "expired": False,
                    "timestamp": start + 0.5,
                }
            )
        return u

    n = 1
    for k in range(24):
        host = HOSTS[k % 2]
        start = NOW - 100 + k * 3.7
        if k % 3 == 0:
            task(
                n,
                "sample_proj.tasks.add",
                host,
                start,
                args=f"({k}, {k + 1})",
                result=str(2 * k + 1),
            )
        elif k % 3 == 1:
            task(
                n,
                "sample_proj.tasks.mul",
                host,
                start,
                args=f"({k}, 3)",
                result=str(3 * k),
                runtime=0.002,
            )
        else:
            task(
                n,
                "sample_proj.tasks.xsum",
                host,
                start,
                args="([1, 2, 3, 4],)",
                result="10",
                runtime=0.004,
            )
        n += 1
    task(
        n,
        "sample_proj.tasks.always_fails",
        "alpha@demo",
        NOW - 40,
        kwargs="{'reason': 'boom'}",
        end="failed",
        runtime=0.03,
    )
    n += 1
    task(
        n,
        "sample_proj.tasks.flaky",
        "bravo@demo",
        NOW - 35,
        kwargs="{'fail_rate': 0.5}",
        end="retried",
        retries=1,
    )
    n += 1
    task(n, "sample_proj.tasks.sleepy", "bravo@demo", NOW - 30, args="(30,)", end="revoked")
    n += 1
    task(n, "sample_proj.tasks.sleepy", "alpha@demo", NOW - 12, args="(30,)", end=None)
    n += 1
    # a chord: 2 chains download -> resize -> upload, callback notify
    root = uid(900)
    task(
        900,
        "sample_proj.pipeline.process_images",
        "alpha@demo",
        NOW - 25,
        kwargs="{'urls': ['s3://bucket/a.png', 's3://bucket/b.png']}",
        result=f"'{uid(950)}'",
    )
    for j, url in enumerate(("a", "b")):
        d = task(
            910 + j * 10,
            "sample_proj.pipeline.download",
            HOSTS[j],
            NOW - 24 + j * 0.1,
            args=f"('s3://bucket/{url}.png',)",
            root=root,
            parent=root,
            runtime=0.05,
        )
        r = task(
            911 + j * 10,
            "sample_proj.pipeline.resize",
            HOSTS[j],
            NOW - 23.9 + j * 0.1,
            args="({'path': '/tmp/img.png'},)",
            root=root,
            parent=d,
            runtime=0.05,
        )
        task(
            912 + j * 10,
            "sample_proj.pipeline.upload",
            HOSTS[j],
            NOW - 23.8 + j * 0.1,
            args="({'path': '/tmp/img-640.png'},)",
            root=root,
            parent=r,
            runtime=0.05,
            end="succeeded" if j == 0 else None,
        )
    # hostile
    task(
        999,
        HOSTILE_NAME,
        "alpha@demo",
        NOW - 5,
        args=HOSTILE_ARGS,
        kwargs="{'x': '[b]bold[/b]'}",
        result=HOSTILE_RESULT,
        uuid=HOSTILE_ID,
    )
    for i, host in enumerate(HOSTS):
        ev.append(
            {
                "type": "worker-heartbeat",
                "hostname": host,
                "timestamp": NOW - 1 + i * 0.2,
                "freq": 2.0,
                "sw_ident": "py-celery",
                "sw_ver": "5.7.0",
                "sw_sys": "Linux",
                "active": 1 - i,
                "processed": 14 + i,
                "loadavg": [0.25 + i, 0.5, 0.75],
                "pid": 100 + i,
            }
        )
    ev.sort(key=lambda e: e["timestamp"])
    for c, e in enumerate(ev, 1):
        e["clock"] = c
    return ev


def write_recording(path: str | Path) -> Path:
    path = Path(path)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for e in make_events():
            fh.write(json.dumps(e) + "\n")
    return path


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(write_recording(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ui_events.jsonl.gz"))
