"""Type-ahead on a real terminal (issue 15.2): one ``tmux send-keys`` write of ``/xy``,
``xy``, ``Xy`` (Tasks) and ``Py`` (Queues) to ``ctl console`` on a real cluster revokes,
terminates and purges nothing.

Checked where it would show: the worker's own ``inspect revoked`` (Celery's answer),
the long task still in the worker's ``inspect active``, the worker process alive, and
the Redis queue lengths unchanged.  Each burst must also have reached the console
(the dialog or the filter is on the pane), so a console that ignored the keys
could not pass.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import redis
from celery import Celery

from tests.tmux_pane import TmuxPane

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
WAITING = 6  # sleepy tasks left in the "celery" list behind the busy worker


def _celery(c) -> Celery:
    app = Celery("typeahead", broker=c.broker_url, backend=c.backend_url)
    app.conf.broker_write_url = app.conf.broker_read_url = c.broker_url
    return app


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out: {what}")


def _active_ids(app: Celery) -> set[str]:
    replies = app.control.inspect(timeout=1.0).active() or {}
    return {t["id"] for tasks in replies.values() for t in tasks}


def _revoked(app: Celery) -> dict[str, list[str]]:
    return app.control.inspect(timeout=1.0).revoked() or {}


def test_bursts_on_a_real_terminal_revoke_terminate_and_purge_nothing(make_cluster) -> None:
    # one process, prefetch 1: one task runs, one is reserved, the rest wait in Redis
    c = make_cluster(
        workers=("typeahead",),
        concurrency=1,
        worker_args=["--prefetch-multiplier", "1"],
    )
    sender = _celery(c)
    first = sender.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 120})
    _wait(lambda: first.id in _active_ids(sender), 20, "the long task runs")
    for _ in range(WAITING + 1):  # the worker reserves one more
        sender.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 120})
    broker = redis.Redis.from_url(c.broker_url)
    _wait(lambda: broker.llen("celery") == WAITING, 20, f"{WAITING} tasks waiting")
    assert _revoked(sender) == {c.hostnames[0]: []}

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CTL_"))}
    env.update(
        CELERY_BROKER_URL=c.broker_url,
        CELERY_RESULT_BACKEND=c.backend_url,
        PYTHONPATH=str(ROOT),
        NO_COLOR="1",
        CTL_CONFIG=os.devnull + ".no-config.toml",
    )
    argv = [str(BIN / "ctl"), "-A", "sample_proj", "console", "--refresh", "0.2"]
    with TmuxPane(argv, env, cols=120, rows=36) as pane:
        pane.wait_for(lambda t: c.hostnames[0] in t, 40, "the console shows the worker")
        pane.send("2")
        pane.wait_for(lambda t: "sleepy" in t, 20, "the Tasks screen lists the tasks")

        # "/xy": the filter gets "xy" (the list empties), nothing else runs
        pane.send("/xy")
        pane.wait_for(lambda t: "filter: xy" in t, 10, "'xy' typed into the filter")
        pane.key("Escape")  # leaves the filter (focus back on the list)
        pane.key("Escape")  # clears it
        pane.wait_for(lambda t: "sleepy" in t and "filter: xy" not in t, 10, "filter cleared")

        # "xy": x opens the revoke dialog, the y typed with it does not answer it
        pane.send("xy")
        pane.wait_for(lambda t: "Yes (y)" in t and "Revoke" in t, 10, "the revoke dialog")
        time.sleep(1.0)
        assert "Yes (y)" in pane.capture(), "the dialog was answered by type-ahead"
        pane.key("Escape")
        pane.wait_for(lambda t: "Yes (y)" not in t, 10, "the dialog closed as No")

        # "Xy": X opens the terminate form, y typed with it answers nothing
        pane.send("Xy")
        pane.wait_for(lambda t: "choose signal" in t and "SIGTERM" in t, 10, "the terminate form")
        time.sleep(1.0)
        pane.key("Escape")
        pane.wait_for(lambda t: "choose signal" not in t, 10, "the form closed")
        pane.key("Escape")  # a dialog behind it, if any, says No too
        time.sleep(0.5)  # else the terminal reads Escape + "9" as one key (alt+9)

        # "Py" on Queues: the purge dialog opens, y does not confirm it
        pane.send("9")
        pane.wait_for(lambda t: "celery" in t and "Purge" in t, 20, "the Queues screen")
        pane.send("Py")
        pane.wait_for(lambda t: "Yes (y)" in t and "urge" in t, 10, "the purge dialog")
        time.sleep(1.0)
        assert "Yes (y)" in pane.capture(), "the purge dialog was answered by type-ahead"
        pane.key("Escape")
        pane.wait_for(lambda t: "Yes (y)" not in t, 10, "the purge dialog closed as No")
        time.sleep(1.0)  # anything sent would have arrived by now
        screen = pane.capture()
        assert not pane.dead(), screen

    # Celery's own answers: nothing revoked, the long task still runs, nothing purged
    assert _revoked(sender) == {c.hostnames[0]: []}
    assert first.id in _active_ids(sender)
    assert c.process("typeahead").alive()
    assert broker.llen("celery") == WAITING
    assert first.state == "STARTED"
