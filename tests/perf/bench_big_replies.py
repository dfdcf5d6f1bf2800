"""Big replies stay fast (issue 16.10): ``ctl status`` with a 20 MB remote-control
reply on the wire, ``ctl result`` of a task whose result is 10 MB.

Real processes: a LocalCluster (embedded Redis, one sample_proj worker), a
rogue pidbox subscriber that answers every broadcast with a 20 MB reply, a
10 MB result stored in the real result backend.  Each ``ctl`` command runs
as a subprocess; wall time and bytes printed are reported.

    python -m tests.perf.bench_big_replies [--code-dir DIR]

``--code-dir`` runs ``python -m cli.main`` from another checkout (e.g. an
older commit unpacked with ``git archive``) to compare before/after.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import redis

REPLY_BYTES = 20_000_000
RESULT_BYTES = 10_000_000


class BigReplier(threading.Thread):
    """Answers every pidbox broadcast as ``rogue@bench`` with REPLY_BYTES of text."""

    def __init__(self, url: str, size: int = REPLY_BYTES) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("*celery.pidbox*")
        self.body = base64.b64encode(
            json.dumps({"rogue@bench": {"ok": "x" * size}}).encode()
        ).decode()
        self.answered = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self.pubsub.get_message(timeout=0.1)
            if not msg or msg["type"] != "pmessage":
                continue
            payload = json.loads(base64.b64decode(json.loads(msg["data"])["body"]))
            reply_to = payload.get("reply_to")
            if not reply_to:
                continue
            envelope = {
                "body": self.body,
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {"ticket": payload["ticket"], "clock": 1},
                "properties": {
                    "body_encoding": "base64",
                    "delivery_tag": "big",
                    "delivery_mode": 1,
                    "priority": 0,
                    "delivery_info": {
                        "exchange": reply_to["exchange"],
                        "routing_key": reply_to["routing_key"],
                    },
                },
            }
            queue = f"{reply_to['routing_key']}.{reply_to['exchange']}"
            self.client.lpush(queue, json.dumps(envelope))
            self.answered += 1

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        self.pubsub.close()
        self.client.close()


def store_big_result(backend_url: str, size: int = RESULT_BYTES) -> str:
    from celery import Celery

    app = Celery("bench-big", broker=backend_url, backend=backend_url)
    app.conf.result_extended = True
    tid = str(uuid.uuid4())
    app.backend.store_result(tid, "y" * size, "SUCCESS")
    return tid


def timed(argv: list[str], env: dict[str, str], cwd: str | None) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *argv],
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )
    return {
        "argv": " ".join(argv),
        "seconds": round(time.monotonic() - started, 2),
        "stdout_bytes": len(proc.stdout),
        "exit": proc.returncode,
        "notice": b"not shown; --json for all" in proc.stdout,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code-dir", default=None)
    opts = parser.parse_args()
    from console.demo.cluster import LocalCluster

    cluster = LocalCluster(workers=("solo",), concurrency=1)
    cluster.start()
    replier = None
    try:
        env = {
            **os.environ,
            "CELERY_BROKER_URL": cluster.broker_url,
            "CELERY_RESULT_BACKEND": cluster.backend_url,
            "NO_COLOR": "1",
            "COLUMNS": "120",
        }
        if opts.code_dir:
            env["PYTHONPATH"] = opts.code_dir
        tid = store_big_result(cluster.backend_url)
        rows = [timed(["result", tid], env, opts.code_dir)]
        rows.append(timed(["result", tid, "--json"], env, opts.code_dir))
        replier = BigReplier(cluster.broker_url)
        replier.start()
        time.sleep(0.3)
        # the rogue is named as a destination so that its reply is waited for
        # (a real worker answers a ping in ~3 ms, before 20 MB can be written)
        status = ["status", "--timeout", "5", "-d", cluster.hostnames[0], "-d", "rogue@bench"]
        rows.append(timed(status, env, opts.code_dir))
        rows.append(timed([*status, "--json"], env, opts.code_dir))
        for row in rows:
            print(json.dumps(row))
    finally:
        if replier is not None:
            replier.close()
        cluster.stop()


if __name__ == "__main__":
    main()
