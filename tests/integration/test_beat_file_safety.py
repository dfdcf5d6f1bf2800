"""Beat's schedule file is a pickle: ctl must never run code from it (issue 16.2).

* a planted pickle that would run a command is refused with one line, and the
  command does not run (``--schedule-file`` and the console's Beat screen);
* ``celerybeat-schedule`` in the current directory is not read unless named;
* files of another user, or writable by others, are refused;
* a schedule file written by a real ``celery beat`` still reads, and agrees
  with what stock ``shelve`` reads from it.
"""

from __future__ import annotations

import dbm.dumb
import json
import os
import pickle
import shelve
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_runner import invoke


class _RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what an attacker plants: os.system("touch MARKER")
        return (os.system, (f"touch {self.marker}",))


class _GetattrGadget:
    """``getattr(ScheduleEntry, "__init__")``: the first step to a module's globals."""

    def __reduce__(self):
        from celery.beat import ScheduleEntry

        return (getattr, (ScheduleEntry, "__init__"))


def plant(path: Path, value: object) -> None:
    """Write ``value`` as beat's ``entries`` key, the way shelve would (dbm.dumb files)."""
    with dbm.dumb.open(str(path), "c") as db:
        db[b"entries"] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def test_planted_pickle_in_schedule_file_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "celerybeat-schedule"
    plant(path, {"hourly-report": _RunsCommand(marker)})
    # the old code (shelve.open) ran it: prove the file is live ammunition
    with shelve.open(str(path), flag="r") as db:
        db.get("entries")
    assert marker.exists()
    marker.unlink()

    res = invoke("-A", "sample_proj", "beat", "--schedule-file", str(path), "--json")
    assert res.exit_code == 0, res.stderr
    assert not marker.exists()
    doc = json.loads(res.stdout)
    assert doc["state_readable"] is False
    assert "refused" in doc["state_error"] and "system" in doc["state_error"]
    human = invoke("-A", "sample_proj", "beat", "--schedule-file", str(path))
    assert not marker.exists()
    errors = [ln for ln in human.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "refused" in errors[0], human.stderr


def test_getattr_gadget_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sched"
    plant(path, {"x": _GetattrGadget()})
    doc = json.loads(invoke("-A", "sample_proj", "beat", "-s", str(path), "--json").stdout)
    assert doc["state_readable"] is False and "getattr" in doc["state_error"]


def test_schedule_file_in_current_directory_is_not_read_unless_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "PWNED"
    plant(tmp_path / "celerybeat-schedule", {"hourly-report": _RunsCommand(marker)})
    monkeypatch.chdir(tmp_path)
    res = invoke("-A", "sample_proj", "beat", "--json")
    assert res.exit_code == 0, res.stderr
    assert not marker.exists()
    doc = json.loads(res.stdout)
    assert doc["schedule_file"] is None and doc["state_readable"] is False


def test_console_beat_screen_does_not_run_a_planted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    asyncio.run(_console_beat(tmp_path, monkeypatch))


async def _console_beat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from celery import Celery

    from console.core.settings import ClusterSettings
    from console.ui.app import create_app

    marker = tmp_path / "PWNED"
    plant(tmp_path / "celerybeat-schedule", {"hourly-report": _RunsCommand(marker)})
    monkeypatch.chdir(tmp_path)
    app = Celery("beatsafety", set_as_current=False)
    app.config_from_object("sample_proj.celeryconfig")
    settings = ClusterSettings(broker_url="redis://127.0.0.1:1/0")
    settings._app = app
    for schedule_file in (None, str(tmp_path / "celerybeat-schedule")):
        console = create_app(
            settings, feed=_NoFeed(), initial="beat", poll_interval=0, cursor_blink=False
        )
        console.beat_schedule_file = schedule_file
        async with console.run_test(size=(160, 40)) as pilot:
            screen = console.screen
            for _ in range(100):
                await pilot.pause(0.05)
                if screen.report is not None:
                    break
            assert screen.report is not None
            assert not screen.report.state_readable
        assert not marker.exists()


class _NoFeed:
    """A feed with nothing in it (the Beat screen needs none)."""

    def __init__(self) -> None:
        from console.core.feed import StaticFeed
        from console.core.state import ClusterState

        self._inner = StaticFeed(ClusterState())

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def test_file_of_another_user_or_writable_by_others_is_refused(tmp_path: Path) -> None:
    from celery.beat import ScheduleEntry

    from sample_proj import app

    path = tmp_path / "sched"
    with shelve.open(str(path)) as db:
        db["entries"] = {
            "hourly-report": ScheduleEntry("hourly-report", total_run_count=3, app=app)
        }
    files = [p for p in tmp_path.iterdir() if p.name.startswith("sched")]
    ok = json.loads(invoke("-A", "sample_proj", "beat", "-s", str(path), "--json").stdout)
    assert ok["state_readable"] is True
    os.chmod(files[0], 0o666)
    doc = json.loads(invoke("-A", "sample_proj", "beat", "-s", str(path), "--json").stdout)
    assert doc["state_readable"] is False and "writable by every user" in doc["state_error"]
    os.chmod(files[0], 0o644)
    if os.getuid() == 0:
        os.chown(files[0], 54321, -1)
        doc = json.loads(invoke("-A", "sample_proj", "beat", "-s", str(path), "--json").stdout)
        assert doc["state_readable"] is False and "owned by uid 54321" in doc["state_error"]


TOKYO_APP = """
from celery import Celery
from celery.schedules import crontab

app = Celery("tokyo_beat")
app.conf.timezone = "Asia/Tokyo"
app.conf.beat_sync_every = 1
app.conf.beat_schedule = {
    "every-second": {"task": "tokyo_beat.ping", "schedule": 1.0},
    "even-and-third-hours": {"task": "tokyo_beat.ping", "schedule": crontab(minute=0, hour="*/2,*/3")},
    "office-mornings": {"task": "tokyo_beat.ping", "schedule": crontab(minute=30, hour=9, day_of_week="mon-fri")},
}

@app.task(name="tokyo_beat.ping")
def ping():
    return "pong"
"""


def test_real_celery_beat_file_reads_like_shelve_and_next_runs_are_celerys(
    tmp_path: Path, redis_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    (tmp_path / "tokyo_beat.py").write_text(TOKYO_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CELERY_BROKER_URL", redis_server.url)
    sched_path = tmp_path / "state" / "celerybeat-schedule"
    sched_path.parent.mkdir()
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tokyo_beat", "beat", "-s", str(sched_path),
         "--pidfile=", "--loglevel", "INFO"],
        env=env,
        cwd=str(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline and count < 2:
            time.sleep(0.5)
            if any(sched_path.parent.iterdir()):
                res = invoke("-A", "tokyo_beat", "beat", "-s", str(sched_path), "--json")
                if res.exit_code == 0:
                    doc = json.loads(res.stdout)
                    by = {e["name"]: e for e in doc["entries"]}
                    count = by["every-second"]["total_run_count"] or 0
        assert count >= 2, "beat did not run the 1 s entry"
    finally:
        beat.terminate()
        beat.wait(10)
    res = invoke("-A", "tokyo_beat", "beat", "-s", str(sched_path), "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["state_readable"] is True and doc["state_error"] is None
    assert doc["timezone"] == "Asia/Tokyo"
    files = [p for p in sched_path.parent.iterdir() if p.name != "celerybeat-schedule.bak"]
    mtime = max(p.stat().st_mtime for p in files)
    assert datetime.fromisoformat(doc["schedule_file_written_at"]).timestamp() == pytest.approx(
        mtime, abs=1e-3
    )
    by = {e["name"]: e for e in doc["entries"]}
    # what stock shelve reads from the same file (safe here: a real beat wrote it)
    with shelve.open(str(sched_path), flag="r") as db:
        stock = dict(db["entries"])
    import tokyo_beat

    now = datetime.now(UTC)
    for name, entry in by.items():
        mine = entry
        theirs = stock[name]
        assert mine["total_run_count"] == theirs.total_run_count
        assert mine["last_run_at"] == theirs.last_run_at.isoformat()
        sched = theirs.schedule
        sched.app = tokyo_beat.app
        expected = now + sched.remaining_estimate(theirs.last_run_at)
        nxt = datetime.fromisoformat(mine["next_run_at"])
        assert nxt.utcoffset() == timedelta(hours=9)  # in the app's zone
        if expected > now + timedelta(seconds=2):
            assert abs((nxt - expected).total_seconds()) < 1.0, (name, nxt, expected)
    crontab_entry = by["even-and-third-hours"]
    assert crontab_entry["timezone"] == "Asia/Tokyo"
    assert "except 01, 05, 07, 11, 13, 17, 19 and 23" in crontab_entry["schedule"]
    assert "Asia/Tokyo" in crontab_entry["schedule"]
    assert datetime.fromisoformat(crontab_entry["next_run_at"]).hour not in {
        1,
        5,
        7,
        11,
        13,
        17,
        19,
        23,
    }
    human = invoke("-A", "tokyo_beat", "beat", "-s", str(sched_path))
    assert "times in Asia/Tokyo" in human.stdout and "written by beat at" in human.stdout
