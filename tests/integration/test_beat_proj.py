"""Issue 11.6 on a real ``celery -A proj beat``: words, time zone, next runs, file age.

The tutorial app's schedule is in ``Asia/Tokyo``.  Beat writes its schedule
file; ``ctl -A proj beat -s FILE --json`` is compared with Celery's own objects:
each next run is where the app's crontab ``is_due`` turns true (from the last
run beat stored), and the file's age is the file's own.
"""

from __future__ import annotations

import json
import os
import shelve
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.integration.proj_cluster import PROJ_PATH, proj_app, proj_env

CTL = str(Path(sys.executable).with_name("ctl"))


def _wait_for_schedule(path: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for candidate in (path, path + ".db", path + ".dat"):
            if os.path.exists(candidate):
                try:
                    with shelve.open(path, "r") as db:
                        if db.get("entries"):
                            return candidate
                except Exception:
                    pass
        time.sleep(0.2)
    raise AssertionError("beat did not write its schedule file")


def test_ctl_beat_matches_celery_on_a_real_beat(make_proj_cluster) -> None:
    from celery.schedules import crontab

    cluster = make_proj_cluster(beat=True)
    written = _wait_for_schedule(cluster.beat_schedule_file)
    app = proj_app(cluster)
    out = subprocess.run(
        [CTL, "-A", "proj", "beat", "-s", cluster.beat_schedule_file, "--json"],
        cwd=PROJ_PATH,
        env=proj_env(cluster),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["timezone"] == "Asia/Tokyo" and doc["state_readable"], doc
    file_time = datetime.fromisoformat(doc["schedule_file_written_at"]).timestamp()
    files = [p for p in (written, written[: -len(".dat")] + ".dir") if os.path.exists(p)]
    assert abs(file_time - max(os.path.getmtime(p) for p in files)) < 1.0
    with shelve.open(cluster.beat_schedule_file, "r") as db:
        stored = dict(db["entries"])
    entries = {e["name"]: e for e in doc["entries"]}
    assert set(entries) == set(app.conf.beat_schedule)
    steps = entries["even-and-third-hours"]
    assert steps["schedule"].startswith(
        "at minute 0 of every hour except 01, 05, 07, 11, 13, 17, 19 and 23 (cron: "
    )
    assert steps["schedule"].endswith(", Asia/Tokyo)") and steps["timezone"] == "Asia/Tokyo"
    for name, item in app.conf.beat_schedule.items():
        ours = datetime.fromisoformat(entries[name]["next_run_at"])
        last = stored[name].last_run_at
        assert datetime.fromisoformat(entries[name]["last_run_at"]) == last
        sched = item["schedule"]
        clock = {"now": ours - timedelta(seconds=1)}
        if isinstance(sched, crontab):
            celery_sched = crontab(
                minute=sched._orig_minute,
                hour=sched._orig_hour,
                day_of_week=sched._orig_day_of_week,
                day_of_month=sched._orig_day_of_month,
                month_of_year=sched._orig_month_of_year,
                nowfun=lambda c=clock: c["now"],
                app=app,
            )
            assert ours.utcoffset() == timedelta(hours=9)  # shown in the app's zone
        else:
            from celery.schedules import schedule

            celery_sched = schedule(
                timedelta(seconds=sched), nowfun=lambda c=clock: c["now"], app=app
            )
        # Celery's own answer: not due a second before ctl's next run, due at it
        assert not celery_sched.is_due(last).is_due, name
        clock["now"] = ours
        assert celery_sched.is_due(last).is_due, name
        assert celery_sched.remaining_estimate(last) <= timedelta(0)
    human = subprocess.run(
        [CTL, "-A", "proj", "beat", "-s", cluster.beat_schedule_file],
        cwd=PROJ_PATH,
        env=proj_env(cluster),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert human.returncode == 0, human.stderr
    assert "times in Asia/Tokyo" in human.stdout
    assert "schedule file written by beat at" in human.stdout
