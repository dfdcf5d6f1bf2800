"""Beat entries of an app: schedule in words and as written, last/total runs, next run.

The schedule comes from ``app.conf.beat_schedule``.  Last run and total runs
come from celery beat's shelve file (``PersistentScheduler``: key ``entries``),
opened read-only; a missing or unreadable file just leaves them unknown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .errors import UsageError

UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@dataclass
class BeatEntry:
    name: str
    task: str
    schedule_kind: str  # "interval" | "crontab" | "solar" | "other"
    schedule_words: str
    schedule_raw: dict[str, Any]
    args: Any = None
    kwargs: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    last_run_at: datetime | None = None
    total_run_count: int | None = None
    next_run_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "schedule": self.schedule_words,
            "schedule_kind": self.schedule_kind,
            "schedule_raw": self.schedule_raw,
            "args": self.args,
            "kwargs": self.kwargs,
            "options": self.options,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "total_run_count": self.total_run_count,
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
        }


def seconds_in_words(seconds: float) -> str:
    if seconds <= 0:
        return "continuously"
    for unit, size in UNITS:
        if seconds >= size and float(seconds / size).is_integer():
            n = int(seconds / size)
            return f"every {unit}" if n == 1 else f"every {n} {unit}s"
    return f"every {seconds:g} seconds"


def _field_words(value: str, unit: str, plural: str) -> str:
    if value == "*":
        return f"every {unit}"
    if value.startswith("*/"):
        return f"every {value[2:]} {plural}"
    return f"{unit} {value}"


def crontab_words(minute: str, hour: str, dom: str, month: str, dow: str) -> str:
    if minute.isdigit() and hour.isdigit():
        parts = [f"at {int(hour):02d}:{int(minute):02d}"]
    elif minute.isdigit() and hour == "*":
        parts = [f"at minute {minute} of every hour"]
    else:
        parts = [_field_words(minute, "minute", "minutes"), _field_words(hour, "hour", "hours")]
    if dow != "*":
        parts.append(f"on day-of-week {dow}")
    if dom != "*":
        parts.append(f"on day-of-month {dom}")
    if month != "*":
        parts.append(f"in month {month}")
    if dow == "*" and dom == "*" and month == "*" and (minute.isdigit() and hour.isdigit()):
        parts.append("every day")
    return ", ".join(parts)


def describe_schedule(sched: Any) -> tuple[str, str, dict[str, Any]]:
    """``(kind, words, raw)`` for a beat schedule object or a number of seconds."""
    from celery.schedules import crontab, schedule, solar

    if isinstance(sched, int | float):
        return "interval", seconds_in_words(float(sched)), {"every_seconds": float(sched)}
    if isinstance(sched, timedelta):
        secs = sched.total_seconds()
        return "interval", seconds_in_words(secs), {"every_seconds": secs}
    if isinstance(sched, crontab):
        raw = {
            "minute": str(sched._orig_minute),
            "hour": str(sched._orig_hour),
            "day_of_month": str(sched._orig_day_of_month),
            "month_of_year": str(sched._orig_month_of_year),
            "day_of_week": str(sched._orig_day_of_week),
        }
        words = crontab_words(
            raw["minute"],
            raw["hour"],
            raw["day_of_month"],
            raw["month_of_year"],
            raw["day_of_week"],
        )
        written = " ".join(
            raw[k] for k in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        )
        return "crontab", f"{words} (cron: {written})", raw
    if isinstance(sched, solar):
        return (
            "solar",
            f"at {sched.event} (lat {sched.lat}, lon {sched.lon})",
            {"event": sched.event, "lat": sched.lat, "lon": sched.lon},
        )
    if isinstance(sched, schedule):
        secs = sched.run_every.total_seconds()
        return "interval", seconds_in_words(secs), {"every_seconds": secs}
    return "other", str(sched), {"repr": repr(sched)}


def read_schedule_state(path: str) -> dict[str, Any] | None:
    """``{name: ScheduleEntry}`` from a beat shelve file, or None if unreadable."""
    import shelve

    candidates = [path, path + ".db", path + ".dat", path + ".dir"]
    if not any(os.path.exists(c) for c in candidates):
        return None
    try:
        with shelve.open(path, flag="r") as db:
            entries = db.get("entries")
            return dict(entries) if isinstance(entries, dict) else None
    except Exception:
        return None


def beat_entries(
    app: Any, schedule_file: str | None = None, now: datetime | None = None
) -> tuple[list[BeatEntry], bool]:
    """Every beat entry of ``app``; second value: schedule state was readable."""
    from celery.schedules import schedule as schedule_cls

    if app is None:
        raise UsageError("beat needs the app: use -A/--app MODULE")
    conf_schedule = app.conf.beat_schedule or {}
    state = read_schedule_state(schedule_file) if schedule_file else None
    now = now or app.now()
    out: list[BeatEntry] = []
    for name in sorted(conf_schedule):
        item = conf_schedule[name] or {}
        sched = item.get("schedule")
        kind, words, raw = describe_schedule(sched)
        entry = BeatEntry(
            name=name,
            task=str(item.get("task")),
            schedule_kind=kind,
            schedule_words=words,
            schedule_raw=raw,
            args=list(item.get("args") or ()),
            kwargs=dict(item.get("kwargs") or {}),
            options=dict(item.get("options") or {}),
        )
        stored = (state or {}).get(name)
        if stored is not None:
            entry.last_run_at = getattr(stored, "last_run_at", None)
            entry.total_run_count = getattr(stored, "total_run_count", None)
        try:
            obj: Any = sched
            if isinstance(sched, int | float):
                obj = schedule_cls(timedelta(seconds=float(sched)), app=app)
            elif isinstance(sched, timedelta):
                obj = schedule_cls(sched, app=app)
            else:
                obj.app = app
            last = entry.last_run_at or now
            remaining = obj.remaining_estimate(last)
            # remaining_estimate() is relative to the app's "now"
            nxt = max(now, now + remaining)
            if kind == "crontab" and nxt.microsecond:
                nxt = (nxt + timedelta(seconds=0.5)).replace(microsecond=0)
            entry.next_run_at = nxt
        except Exception:
            entry.next_run_at = None
        out.append(entry)
    return out, state is not None
