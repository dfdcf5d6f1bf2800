"""Issue 11.4 / 16.9: purge deletes task queues only, and only what was confirmed.

Real workers of the tutorial app ``proj`` (broker and backend in one Redis db, a
``dead_letter_queue`` list kept by its ``task_failure`` handler), compared with
``celery -A proj purge`` on the same cluster.  The worker is kept busy (one
process, prefetch 1) so that the messages stay in their queues.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from tests.integration.proj_cluster import PROJ_PATH, proj_app, proj_env, wait_dead_letters

CTL = str(Path(sys.executable).with_name("ctl"))
CELERY = str(Path(sys.executable).with_name("celery"))


def run(cluster, *argv: str, tool: str = CTL):
    return subprocess.run(
        [tool, "-A", "proj", *argv],
        cwd=PROJ_PATH,
        env=proj_env(cluster),
        capture_output=True,
        text=True,
        timeout=60,
    )


def busy_worker(cluster) -> None:
    """Occupy w1's only process and its one prefetch slot."""
    app = proj_app(cluster)
    from proj.tasks import add, sleepy

    res = sleepy.apply_async((120,), task_id="busy-sleeper")
    deadline = time.monotonic() + 20
    while res.state != "STARTED" and time.monotonic() < deadline:
        time.sleep(0.1)
    filler = add.apply_async((0, 0), task_id="prefetched-filler")
    while time.monotonic() < deadline:
        reserved = app.control.inspect(timeout=1).reserved() or {}
        if any(t["id"] == filler.id for ts in reserved.values() for t in ts):
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not prefetch the filler")


def test_purge_empties_task_queues_only_like_celery_purge(make_proj_cluster) -> None:
    cluster = make_proj_cluster(worker_args=["--prefetch-multiplier", "1"])
    app = proj_app(cluster)
    from proj.tasks import add, explode, nightly_report, resize_image

    for n in range(2):  # the task_failure handler keeps them in dead_letter_queue
        explode.apply_async((f"failure {n}",), task_id=f"explode-{n}").get(propagate=False)
    r = redis.Redis.from_url(cluster.broker_url)
    r.lpush("app:recent-signups", "alice")
    busy_worker(cluster)
    for n in range(5):
        add.apply_async((n, n), task_id=f"add-{n}", priority=6 if n < 2 else 0)
    for n in range(3):
        resize_image.apply_async((f"img{n}.png", "800x600"), task_id=f"resize-{n}")
    for n in range(4):
        nightly_report.apply_async((f"2026-12-0{n + 1}",), task_id=f"nightly-report-{n}")
    for n in range(2):  # a queue kombu declared, but not one of the app's task queues
        add.apply_async((n, 1), queue="lopri", task_id=f"lopri-{n}")
    wait_dead_letters(r, 2)
    assert r.llen("dead_letter_queue") == 2

    dry = run(cluster, "purge", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    counts = {q["name"]: q["messages"] for q in doc["queues"]}
    assert counts == {"celery": 5, "images": 3, "reports": 4}
    by_name = {q["name"]: q for q in doc["queues"]}
    assert by_name["celery"]["by_priority"] == {"0": 3, "6": 2}
    assert by_name["reports"]["consumers"] == 0 and by_name["images"]["consumers"] == 1
    assert "route" in by_name["reports"]["sources"]

    wet = run(cluster, "purge", "--yes", "--json")
    assert wet.returncode == 0, wet.stderr
    assert json.loads(wet.stdout)["purged"] == {"celery": 5, "images": 3, "reports": 4}
    # never an application's own list, nor a queue that is not the app's
    assert r.llen("dead_letter_queue") == 2
    assert r.lrange("app:recent-signups", 0, -1) == [b"alice"]
    assert r.llen("lopri") == 2

    # -Q of something that is no task queue: exit 1, untouched
    for name in ("no-such-queue", "dead_letter_queue", "app:recent-signups"):
        out = run(cluster, "purge", "-Q", name, "--yes")
        assert out.returncode == 1, out.stderr
        assert f"no task queue named '{name}'" in out.stderr
    assert r.llen("dead_letter_queue") == 2
    # -Q of a queue kombu declared (celery purge -Q lopri purges it too)
    out = run(cluster, "purge", "-Q", "lopri", "--yes", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["purged"] == {"lopri": 2}

    # side by side with `celery purge` on the same cluster
    for n in range(3):
        add.apply_async((n, 2), task_id=f"again-{n}")
    theirs = run(cluster, "purge", "-f", tool=CELERY)
    assert theirs.returncode == 0, theirs.stderr
    m = re.search(r"Purged (\d+) messages? from (\d+) known task queues?", theirs.stdout)
    assert m and m.group(1) == "3", theirs.stdout
    # a fresh `celery -A proj` knows one task queue (the default, "celery"): ctl's set
    # holds it, plus the routed and the consumed ones
    assert m.group(2) == "1" and app.conf.task_default_queue in counts
    assert r.llen("dead_letter_queue") == 2


def _read_until(fd: int, pattern: str, timeout: float = 30.0) -> str:
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if re.search(pattern, buf.decode("utf-8", "replace")):
                return buf.decode("utf-8", "replace")
    raise AssertionError(f"{pattern!r} not seen in {buf.decode('utf-8', 'replace')!r}")


def test_purge_deletes_only_what_was_confirmed(proj_cluster) -> None:
    """A worker-less queue grows between the prompt and the answer: ask again."""
    proj_app(proj_cluster)
    from proj.tasks import nightly_report

    r = redis.Redis.from_url(proj_cluster.broker_url)
    r.delete("reports")
    for n in range(50):
        nightly_report.apply_async((str(n),), task_id=f"report-a-{n}")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [CTL, "-A", "proj", "purge", "-Q", "reports"],
        cwd=PROJ_PATH,
        env=proj_env(proj_cluster),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    try:
        _read_until(master, r"Purge 50 message\(s\) from 1 queue\(s\)\?")
        for n in range(1000):  # the queue grows while the operator reads the prompt
            nightly_report.apply_async((str(n),), task_id=f"report-b-{n}")
        os.write(master, b"y\n")
        text = _read_until(master, r"Purge 1050 message\(s\) from 1 queue\(s\)\?")
        assert "now holds 1050 message(s), not the 50 shown: not purged" in text
        assert r.llen("reports") == 1050  # nothing deleted: 1050 was never confirmed
        os.write(master, b"n\n")
        assert proc.wait(30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert r.llen("reports") == 1050

    # with --yes: whatever is there goes, and both figures are reported
    sent = [1050]
    stop = threading.Event()

    def grow() -> None:
        while not stop.is_set():
            nightly_report.apply_async(("late",))
            sent[0] += 1

    thread = threading.Thread(target=grow)
    thread.start()
    try:
        out = run(proj_cluster, "purge", "-Q", "reports", "--yes", "--json")
    finally:
        stop.set()
        thread.join()
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (outcome,) = doc["outcomes"]
    assert outcome["purged"] == outcome["found"] == doc["purged"]["reports"]
    assert doc["listed"]["reports"] >= 1050
    if outcome["found"] != outcome["listed"]:
        assert f"{outcome['listed']} when listed" in out.stderr
    # exactly what was deleted is reported: nothing lost, nothing counted twice
    assert doc["purged"]["reports"] + r.llen("reports") == sent[0]
    r.delete("reports")
