"""Recorded remote-control replies (shape of ``celery inspect --json``) and a fake RemoteControl.

Used by the snapshot tests (no broker) and by unit tests that must prove no
call reaches the cluster (read-only).
"""

from __future__ import annotations

from typing import Any

from console.core.remote import BroadcastResult

from .events import HOSTILE_ID, HOSTILE_NAME, NOW, uid

A, B = "alpha@demo", "bravo@demo"


def _req(
    n: int, name: str, args: list[Any], host: str, started: float | None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": uid(n),
        "name": name,
        "args": args,
        "kwargs": {},
        "type": name,
        "hostname": host,
        "time_start": started,
        "acknowledged": started is not None,
        "delivery_info": {
            "exchange": "",
            "routing_key": "celery",
            "priority": 0,
            "redelivered": False,
        },
        "worker_pid": 4242 if started else None,
        **extra,
    }


STATS = {
    host: {
        "total": {"sample_proj.tasks.add": 7 + i},
        "pid": 100 + i,
        "clock": "123",
        "uptime": 3723 + i,
        "pool": {
            "implementation": "celery.concurrency.prefork:TaskPool",
            "max-concurrency": 2,
            "processes": [300 + i, 310 + i],
            "max-tasks-per-child": None,
            "put-guarded-by-semaphore": False,
            "timeouts": [0, 0],
            "writes": {"total": 7},
        },
        "prefetch_count": 8,
        "broker": {"hostname": "127.0.0.1", "transport": "redis", "port": 6379},
        "rusage": {"utime": 1.5, "stime": 0.2, "maxrss": 51200},
    }
    for i, host in enumerate((A, B))
}

REPLIES: dict[str, dict[str, Any]] = {
    "ping": {A: {"ok": "pong"}, B: {"ok": "pong"}},
    "stats": STATS,
    "active_queues": {
        h: [
            {
                "name": "celery",
                "exchange": {"name": "celery", "type": "direct"},
                "routing_key": "celery",
            },
            {
                "name": "images",
                "exchange": {"name": "images", "type": "direct"},
                "routing_key": "images",
            },
        ]
        for h in (A, B)
    },
    "registered": {
        h: ["sample_proj.pipeline.download", "sample_proj.tasks.add", "sample_proj.tasks.sleepy"]
        for h in (A, B)
    },
    "conf": {
        h: {
            "broker_url": "redis://127.0.0.1:6379/0",
            "worker_prefetch_multiplier": 4,
            "task_serializer": "json",
            "include": ["sample_proj.tasks"],
        }
        for h in (A, B)
    },
    "active": {
        A: [
            _req(28, "sample_proj.tasks.sleepy", [30], A, NOW - 12),
            {
                **_req(
                    0,
                    HOSTILE_NAME,
                    ["[link=http://evil.example]x[/link]", "\x1b]8;;http://e\x1b\\y"],
                    A,
                    NOW - 2,
                ),
                "id": HOSTILE_ID,
            },
        ],
        B: [],
    },
    "reserved": {
        A: [_req(40, "sample_proj.tasks.add", [1, 2], A, None)],
        B: [_req(41, "sample_proj.tasks.mul", [3, 4], B, None)],
    },
    "scheduled": {
        A: [
            {
                "eta": "2026-01-01T00:05:00+00:00",
                "priority": 6,
                "request": _req(
                    50, "sample_proj.tasks.fetch_with_retry", ["https://example.com"], A, None
                ),
            }
        ]
    },
    "revoked": {A: [uid(27), uid(60)], B: [uid(27)]},
}
NO_ANSWER = {"scheduled": [B]}


class FakeRemote:
    """Answers inspect() from REPLIES; records every control/revoke call (and answers ok)."""

    def __init__(self, replies: dict[str, dict[str, Any]] | None = None) -> None:
        self.replies = replies if replies is not None else REPLIES
        self.calls: list[tuple[str, Any]] = []

    def inspect(
        self,
        method: str,
        destination: list[str] | None = None,
        timeout: float = 1.0,
        **arguments: Any,
    ) -> BroadcastResult:
        self.calls.append(("inspect", method))
        data = dict(self.replies.get(method, {}))
        if destination:
            data = {h: v for h, v in data.items() if h in destination}
        missing = list(NO_ANSWER.get(method, []))
        if destination:
            missing = [d for d in destination if d not in data]
        return BroadcastResult(
            replies=data, expected=len(data) + len(missing), missing=missing, elapsed=0.01
        )

    def control(
        self,
        method: str,
        destination: list[str] | None = None,
        timeout: float = 1.0,
        reply: bool = True,
        **arguments: Any,
    ) -> BroadcastResult:
        self.calls.append(("control", (method, destination, arguments)))
        hosts = destination or [A, B]
        return BroadcastResult(
            replies={h: {"ok": f"{method} done"} for h in hosts} if reply else {},
            expected=len(hosts),
        )

    def revoke(
        self,
        ids: list[str],
        terminate: bool = False,
        signal: str = "SIGTERM",
        timeout: float = 1.0,
        reply: bool = True,
    ) -> BroadcastResult:
        self.calls.append(("revoke", (list(ids), terminate, signal)))
        return BroadcastResult(
            replies={A: {"ok": f"tasks {', '.join(ids)} flagged as revoked"}},
            expected=2,
            missing=[B],
        )

    @property
    def mutating_calls(self) -> list[tuple[str, Any]]:
        return [c for c in self.calls if c[0] != "inspect"]
