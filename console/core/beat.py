"""Beat entries of an app: schedule in words and as written, last/total runs, next run.

The schedule comes from ``app.conf.beat_schedule``.  Last run and total runs
come from celery beat's shelve file (``PersistentScheduler``: key ``entries``).
That file is a pickle, and a pickle can run code, so it is never opened with
``shelve``: :func:`read_schedule_state` reads the raw ``dbm`` record and
unpickles it with :class:`ScheduleUnpickler`, which admits only what a beat
schedule holds (celery's schedule entries and schedules, datetimes, time
zones) and refuses everything else.  The file must belong to the user (or
root) and must not be writable by anyone else.  Nothing is read from the
current directory unless it was named (``--schedule-file``, the console's
``--beat-schedule`` / ``CTL_BEAT_SCHEDULE``, or the app's own
``beat_schedule_filename`` setting).

Schedules in words are built from the sets Celery's own ``crontab_parser``
expands (``crontab.minute`` / ``.hour`` / ...), so ``hour='*/2,*/3'`` reads as
the hours Celery runs, and next runs are Celery's ``remaining_delta`` /
``remaining_estimate`` in the app's time zone.
"""

from __future__ import annotations

import io
import os
import pickle
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .errors import UsageError

UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTH_NAMES = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class ScheduleRefused(Exception):
    """The schedule file was not read (unsafe owner/mode, or it holds a forbidden class)."""


# (module, name) pairs a celery beat shelve holds: entries, schedules, datetimes, zones
_ALLOWED_GLOBALS = frozenset(
    {
        ("celery.beat", "ScheduleEntry"),
        ("celery.schedules", "schedule"),
        ("celery.schedules", "crontab"),
        ("celery.schedules", "solar"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("zoneinfo", "ZoneInfo"),
        ("backports.zoneinfo", "ZoneInfo"),
        ("pytz", "_p"),
        ("pytz", "_UTC"),
        ("pytz", "utc"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("collections", "OrderedDict"),
    }
)


def _zoneinfo_getattr(obj: Any, name: str) -> Any:
    """``getattr`` as pickled ``ZoneInfo`` objects use it, and nothing else.

    ``ZoneInfo.__reduce__`` is ``(getattr, (ZoneInfo, "_unpickle")) ...``; a
    free ``getattr`` would reach any attribute of any admitted class (and from
    there a module's globals), so only that one pair is answered.
    """
    if name == "_unpickle" and isinstance(obj, type) and obj.__name__ == "ZoneInfo":
        return obj._unpickle  # type: ignore[attr-defined]
    raise ScheduleRefused(f"refused getattr({getattr(obj, '__name__', '?')!s}, {name!r})")


class ScheduleUnpickler(pickle.Unpickler):
    """An unpickler that admits only the classes a celery beat schedule holds.

    Also admitted: subclasses of celery's ``BaseSchedule`` / ``ScheduleEntry``
    from modules the app has *already imported* (custom schedules), never a
    module import triggered by the file.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "getattr"):
            return _zoneinfo_getattr
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        import sys

        loaded = sys.modules.get(module)
        obj = getattr(loaded, name, None) if loaded is not None and "." not in name else None
        if isinstance(obj, type):
            from celery.beat import ScheduleEntry
            from celery.schedules import BaseSchedule

            if issubclass(obj, BaseSchedule | ScheduleEntry):
                return obj
        raise ScheduleRefused(
            f"refused {module}.{name}: a beat schedule holds only celery schedule entries, "
            "schedules, datetimes and time zones"
        )


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`ScheduleUnpickler` (ScheduleRefused if it holds more)."""
    try:
        return ScheduleUnpickler(io.BytesIO(data)).load()
    except ScheduleRefused:
        raise
    except Exception as exc:
        raise ScheduleRefused(f"unreadable pickle ({type(exc).__name__})") from None


def schedule_files(path: str) -> list[str]:
    """The files a shelve called ``path`` may consist of (any dbm flavour), existing ones."""
    candidates = [path, path + ".db", path + ".dat", path + ".dir", path + ".pag"]
    return [c for c in candidates if os.path.isfile(c)]


def check_file_trusted(path: str) -> None:
    """Refuse a file another user could have written (ScheduleRefused)."""
    st = os.stat(path)
    uid = os.getuid()
    if st.st_uid not in (uid, 0):
        raise ScheduleRefused(f"{path} is owned by uid {st.st_uid}, not by you (uid {uid})")
    if st.st_mode & stat.S_IWOTH:
        raise ScheduleRefused(
            f"{path} is writable by every user (mode {stat.S_IMODE(st.st_mode):o})"
        )
    if st.st_mode & stat.S_IWGRP and st.st_gid != os.getgid():
        raise ScheduleRefused(
            f"{path} is writable by group {st.st_gid} (mode {stat.S_IMODE(st.st_mode):o})"
        )


@dataclass
class ScheduleState:
    """What celery beat's schedule file said (or why it was not read)."""

    path: str | None
    entries: dict[str, Any] | None = None
    #: when beat last wrote the file (mtime): beat saves every beat_sync_every
    #: tasks / 3 minutes, so last-run figures can lag by that much
    written_at: datetime | None = None
    timezone: str | None = None
    error: str | None = None

    @property
    def readable(self) -> bool:
        return self.entries is not None


def read_schedule_file(path: str | None) -> ScheduleState:
    """Read beat's schedule file safely (see module docstring); never raises."""
    import dbm
    from datetime import UTC

    state = ScheduleState(path=path)
    if not path:
        state.error = "no schedule file named (--schedule-file or the app's beat_schedule_filename)"
        return state
    files = schedule_files(path)
    if not files:
        state.error = f"schedule file not found: {path}"
        return state
    try:
        for name in files:
            check_file_trusted(name)
        state.written_at = datetime.fromtimestamp(max(os.stat(f).st_mtime for f in files), tz=UTC)
        with dbm.open(path, "r") as db:
            raw = db.get(b"entries")
            raw_tz = db.get(b"tz")
        if raw is None:
            state.error = f"{path} holds no beat entries"
            return state
        entries = safe_loads(bytes(raw))
        if raw_tz is not None:
            tz = safe_loads(bytes(raw_tz))
            state.timezone = str(tz) if tz is not None else None
    except ScheduleRefused as exc:
        state.error = f"schedule file not read: {exc}"
        return state
    except Exception as exc:
        state.error = f"schedule file not readable: {path}: {type(exc).__name__}: {exc}"
        return state
    if not isinstance(entries, dict):
        state.error = f"schedule file not read: {path}: 'entries' is not a mapping"
        return state
    state.entries = {str(k): v for k, v in entries.items()}
    return state


def read_schedule_state(path: str) -> dict[str, Any] | None:
    """``{name: ScheduleEntry}`` from a beat shelve file, or None if unreadable / refused."""
    return read_schedule_file(path).entries


def configured_schedule_file(app: Any) -> str | None:
    """The app's ``beat_schedule_filename`` when the app itself sets it, else None.

    Celery's default (``celerybeat-schedule`` in the current directory) is not
    used: a file in whatever directory ctl was started from is not the app's.
    """
    try:
        conf = app.conf
        maps = list(getattr(conf, "maps", ()))
        explicit = any("beat_schedule_filename" in m for m in maps[:-1]) if maps else False
        value = conf.beat_schedule_filename if explicit else None
    except Exception:
        return None
    return str(value) if value else None


# -- schedules in words -----------------------------------------------------


def seconds_in_words(seconds: float) -> str:
    if seconds <= 0:
        return "continuously"
    for unit, size in UNITS:
        if seconds >= size and float(seconds / size).is_integer():
            n = int(seconds / size)
            return f"every {unit}" if n == 1 else f"every {n} {unit}s"
    return f"every {seconds:g} seconds"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _step_of(values: list[int]) -> int | None:
    """The step of an arithmetic progression of 3+ values (``2-30/2``), else None."""
    if len(values) < 3:
        return None
    step = values[1] - values[0]
    if step < 2 or any(b - a != step for a, b in zip(values, values[1:], strict=False)):
        return None
    return step


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _numbers(values: list[int], fmt: Any = str, sep: str = "-") -> str:
    """``1-7 and 15-21`` / ``0, 15 and 30`` / ``2-30 (every 2nd)``."""
    step = _step_of(values)
    if step is not None and len(values) > 3:
        return f"{fmt(values[0])}{sep}{fmt(values[-1])} (every {_ordinal(step)})"
    parts = []
    for lo, hi in _runs(values):
        if hi - lo >= 2:
            parts.append(f"{fmt(lo)}{sep}{fmt(hi)}")
        else:
            parts.extend(fmt(v) for v in range(lo, hi + 1))
    return _join(parts)


def _hh(h: int) -> str:
    return f"{h:02d}"


def _time_words(minutes: list[int], hours: list[int]) -> tuple[str, bool]:
    """(words, is a specific time of day) for Celery's expanded minute / hour sets."""
    all_minutes = minutes == list(range(60))
    all_hours = hours == list(range(24))
    step = _step_of(minutes)
    if all_minutes:
        minute_part = "every minute"
    elif step is not None and minutes[0] == 0 and minutes[-1] + step >= 60 and 60 % step == 0:
        minute_part = f"every {step} minutes"
    elif len(minutes) == 1:
        minute_part = ""
    else:
        minute_part = f"at minutes {_numbers(minutes)}"
    if minute_part:
        if all_hours:
            return (
                minute_part if minute_part.startswith("every") else minute_part + " of every hour"
            ), False
        spans = [f"{_hh(lo)}:00-{_hh(hi)}:59" for lo, hi in _runs(hours)]
        return f"{minute_part} in {_join(spans)}", False
    m = minutes[0]
    if all_hours:
        return f"at minute {m} of every hour", False
    if len(hours) <= 12:
        return "at " + _join([f"{_hh(h)}:{m:02d}" for h in hours]), True
    others = [h for h in range(24) if h not in hours]
    return f"at minute {m} of every hour except {_join([_hh(h) for h in others])}", False


def crontab_set_words(
    minutes: Any, hours: Any, days_of_month: Any, months: Any, days_of_week: Any
) -> str:
    """A crontab in words from Celery's expanded sets (``crontab.minute``, ...)."""
    words, at_time = _time_words(sorted(minutes), sorted(hours))
    dow = sorted(days_of_week)
    dom = sorted(days_of_month)
    moy = sorted(months)
    day_parts = []
    if dow != list(range(7)):
        runs = _runs(dow)
        if len(runs) == 1 and runs[0][1] - runs[0][0] >= 2:
            day_parts.append(f"on {DAY_NAMES[runs[0][0]]} to {DAY_NAMES[runs[0][1]]}")
        else:
            day_parts.append("on " + _join([DAY_NAMES[d] for d in dow]))
    if dom != list(range(1, 32)):
        if day_parts:
            # Celery runs only on days that match BOTH (unlike cron, which takes either)
            day_parts[-1] += f", if the day of the month is {_numbers(dom)}"
        else:
            label = "day" if len(dom) == 1 else "days"
            day_parts.append(f"on {label} {_numbers(dom)} of the month")
    if moy != list(range(1, 13)):
        day_parts.append("in " + _join([MONTH_NAMES[m] for m in moy]))
    if not day_parts:
        return words + (" every day" if at_time else "")
    return words + " " + " ".join(day_parts)


def crontab_words(minute: str, hour: str, dom: str, month: str, dow: str) -> str:
    """A crontab written as cron fields, in words (parsed by Celery's own crontab)."""
    from celery.schedules import crontab

    c = crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)
    return crontab_set_words(c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week)


def zone_name(tz: Any) -> str:
    """``Asia/Tokyo`` for a ZoneInfo / pytz zone, ``UTC`` for UTC."""
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    return str(key or tz or "UTC")


def describe_schedule(sched: Any, tz: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """``(kind, words, raw)`` for a beat schedule object or a number of seconds.

    ``tz``: the zone a crontab is evaluated in (the app's ``timezone``), named in the words.
    """
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
        words = crontab_set_words(
            sched.minute, sched.hour, sched.day_of_month, sched.month_of_year, sched.day_of_week
        )
        written = " ".join(
            raw[k] for k in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        )
        zone = f", {tz}" if tz else ""
        return "crontab", f"{words} (cron: {written}{zone})", raw
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


# -- next run: Celery's arithmetic -----------------------------------------


def celery_next_run(sched: Any, last_run_at: datetime) -> datetime:
    """When Celery's beat runs ``sched`` next after ``last_run_at`` (may be in the past).

    Exactly what ``remaining_estimate`` counts towards: ``start + ends_in``
    of ``remaining_delta`` (crontab) or ``last_run_at + run_every`` (interval),
    with the same DST correction as ``celery.utils.time.remaining``.
    """
    from celery.schedules import crontab

    if isinstance(sched, crontab):
        start, ends_in, now = sched.remaining_delta(last_run_at)
    else:
        start = sched.maybe_make_aware(last_run_at)
        ends_in = sched.run_every
        now = sched.maybe_make_aware(sched.now())
        if getattr(sched, "relative", False):
            nxt: datetime = now + sched.remaining_estimate(last_run_at)
            return nxt
    if str(start.tzinfo) == str(now.tzinfo) and now.utcoffset() != start.utcoffset():
        start = start.replace(tzinfo=now.tzinfo)  # DST changed in between (as Celery does)
    result: datetime = start + ends_in
    return result


# -- entries ----------------------------------------------------------------


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
    timezone: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "schedule": self.schedule_words,
            "schedule_kind": self.schedule_kind,
            "schedule_raw": self.schedule_raw,
            "timezone": self.timezone,
            "args": self.args,
            "kwargs": self.kwargs,
            "options": self.options,
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "total_run_count": self.total_run_count,
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
        }


@dataclass
class BeatReport:
    """Every beat entry of an app, and what the schedule file said."""

    entries: list[BeatEntry]
    state: ScheduleState
    timezone: str

    @property
    def state_readable(self) -> bool:
        return self.state.readable


def _schedule_object(sched: Any, app: Any) -> Any:
    from celery.schedules import schedule as schedule_cls

    if isinstance(sched, int | float):
        return schedule_cls(timedelta(seconds=float(sched)), app=app)
    if isinstance(sched, timedelta):
        return schedule_cls(sched, app=app)
    sched.app = app
    return sched


def read_beat(
    app: Any, schedule_file: str | None = None, now: datetime | None = None
) -> BeatReport:
    """Every beat entry of ``app`` with last / next runs (see module docstring).

    ``schedule_file``: beat's schedule file as named by the user; None = the
    app's own ``beat_schedule_filename`` if it sets one (never Celery's default).
    """
    if app is None:
        raise UsageError("beat needs the app: use -A/--app MODULE")
    conf_schedule = app.conf.beat_schedule or {}
    path = schedule_file or configured_schedule_file(app)
    state = read_schedule_file(path)
    tz = zone_name(app.timezone)
    now = now or app.now()
    out: list[BeatEntry] = []
    for name in sorted(conf_schedule):
        item = conf_schedule[name] or {}
        sched = item.get("schedule")
        kind, words, raw = describe_schedule(sched, tz)
        entry = BeatEntry(
            name=name,
            task=str(item.get("task")),
            schedule_kind=kind,
            schedule_words=words,
            schedule_raw=raw,
            args=list(item.get("args") or ()),
            kwargs=dict(item.get("kwargs") or {}),
            options=dict(item.get("options") or {}),
            timezone=tz if kind == "crontab" else None,
        )
        stored = (state.entries or {}).get(name)
        if stored is not None:
            last = getattr(stored, "last_run_at", None)
            count = getattr(stored, "total_run_count", None)
            entry.last_run_at = last if isinstance(last, datetime) else None
            entry.total_run_count = count if isinstance(count, int) else None
        try:
            obj = _schedule_object(sched, app)
            nxt = celery_next_run(obj, entry.last_run_at or now)
            if nxt < now:
                nxt = now  # overdue: beat sends it at its next tick
            entry.next_run_at = nxt.astimezone(app.timezone)
        except Exception:
            entry.next_run_at = None
        out.append(entry)
    return BeatReport(out, state, tz)


def beat_entries(
    app: Any, schedule_file: str | None = None, now: datetime | None = None
) -> tuple[list[BeatEntry], bool]:
    """Every beat entry of ``app``; second value: schedule state was readable."""
    report = read_beat(app, schedule_file, now)
    return report.entries, report.state_readable
