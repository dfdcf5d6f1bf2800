"""A forged pidbox reply cannot end the wait or stand in for workers (issue 16.9).

A rogue client on the broker (anything that can SUBSCRIBE, e.g. a compromised
task) sees every broadcast and answers first with one reply that names every
real worker plus a ghost.  Counting hostnames inside replies ended the wait
at once and printed the forged answers; now a reply is one worker's, counted
only when that worker was expected, and the real workers are waited for.
"""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import redis

from tests.cli_runner import invoke

KOMBU_PATH_APP = """
from celery import Celery

app = Celery("forgedkombu")
app.conf.accept_content = ["json"]
app.conf.broker_transport_options = {"fanout_prefix": True, "fanout_patterns": True}
"""


class Forger(threading.Thread):
    def __init__(self, url: str, hostnames: list[str]) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("*celery.pidbox*")
        self.hostnames = hostnames
        self.forged = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self.pubsub.get_message(timeout=0.1)
            if not msg or msg["type"] != "pmessage":
                continue
            envelope = json.loads(msg["data"])
            payload = json.loads(base64.b64decode(envelope["body"]))
            reply_to = payload.get("reply_to")
            if not reply_to:
                continue
            body = {h: {"ok": "forged"} for h in [*self.hostnames, "ghost@nowhere"]}
            forged = {
                "body": base64.b64encode(json.dumps(body).encode()).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {"ticket": payload["ticket"], "clock": 1},
                "properties": {
                    "body_encoding": "base64",
                    "delivery_tag": "forged",
                    "delivery_mode": 1,
                    "priority": 0,
                    "delivery_info": {
                        "exchange": reply_to["exchange"],
                        "routing_key": reply_to["routing_key"],
                    },
                },
            }
            queue = f"{reply_to['routing_key']}.{reply_to['exchange']}"
            self.client.lpush(queue, json.dumps(forged))
            self.forged += 1

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        self.pubsub.close()
        self.client.close()


@pytest.mark.parametrize("path", ["plain-socket", "kombu"])
def test_forged_multi_host_reply_is_not_counted(
    path: str, cluster, cluster_env, tmp_path, monkeypatch
) -> None:
    args = ["inspect", "ping", "--json", "--timeout", "4"]
    if path == "kombu":
        (tmp_path / "ctl_forgedkombu_app.py").write_text(KOMBU_PATH_APP)
        monkeypatch.syspath_prepend(str(tmp_path))
        args = ["-A", "ctl_forgedkombu_app", *args]
    forger = Forger(cluster.broker_url, cluster.hostnames)
    forger.start()
    time.sleep(0.2)
    try:
        started = time.monotonic()
        res = invoke(*args)
        elapsed = time.monotonic() - started
    finally:
        forger.close()
    assert forger.forged >= 1, "the forger never answered"
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc) == set(cluster.hostnames)
    assert all(reply == {"ok": "pong"} for reply in doc.values()), doc
    # the forger is a subscriber but no worker: the real workers end the wait, not the timeout
    assert elapsed < 3.0
