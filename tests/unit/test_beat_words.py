"""Beat in words, right (issue 11.6): every example of Celery's crontab documentation.

The words come from the sets Celery's own parser expands; the next runs are
checked against Celery's ``is_due`` on a clock that walks through the runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery
from celery.schedules import crontab

from console.core.beat import celery_next_run, describe_schedule, read_beat

# (crontab, words): the table of examples in Celery's "Periodic Tasks" guide
DOC_EXAMPLES = [
    (crontab(), "every minute"),
    (crontab(minute=0, hour=0), "at 00:00 every day"),
    (
        crontab(minute=0, hour="*/3"),
        "at 00:00, 03:00, 06:00, 09:00, 12:00, 15:00, 18:00 and 21:00 every day",
    ),
    (
        crontab(minute=0, hour="0,3,6,9,12,15,18,21"),
        "at 00:00, 03:00, 06:00, 09:00, 12:00, 15:00, 18:00 and 21:00 every day",
    ),
    (crontab(minute="*/15"), "every 15 minutes"),
    (crontab(day_of_week="sunday"), "every minute on Sunday"),
    (crontab(minute="*", hour="*", day_of_week="sun"), "every minute on Sunday"),
    (
        crontab(minute="*/10", hour="3,17,22", day_of_week="thu,fri"),
        "every 10 minutes in 03:00-03:59, 17:00-17:59 and 22:00-22:59 on Thursday and Friday",
    ),
    (
        crontab(minute=0, hour="*/2,*/3"),
        "at minute 0 of every hour except 01, 05, 07, 11, 13, 17, 19 and 23",
    ),
    (crontab(minute=0, hour="*/5"), "at 00:00, 05:00, 10:00, 15:00 and 20:00 every day"),
    (
        crontab(minute=0, hour="*/3,8-17"),
        "at minute 0 of every hour except 01, 02, 04, 05, 07, 19, 20, 22 and 23",
    ),
    (crontab(0, 0, day_of_month="2"), "at 00:00 on day 2 of the month"),
    (crontab(0, 0, day_of_month="2-30/2"), "at 00:00 on days 2-30 (every 2nd) of the month"),
    (crontab(0, 0, day_of_month="1-7,15-21"), "at 00:00 on days 1-7 and 15-21 of the month"),
    (
        crontab(0, 0, day_of_month="11", month_of_year="5"),
        "at 00:00 on day 11 of the month in May",
    ),
    (crontab(0, 0, month_of_year="*/3"), "at 00:00 in January, April, July and October"),
    # the guide's first examples
    (crontab(hour=7, minute=30, day_of_week=1), "at 07:30 on Monday"),
    (crontab(hour=8, minute=0, day_of_week="mon-fri"), "at 08:00 on Monday to Friday"),
    # Celery needs day of week AND day of month to match (cron takes either)
    (
        crontab(0, 0, day_of_week="mon", day_of_month="1-7"),
        "at 00:00 on Monday, if the day of the month is 1-7",
    ),
    (crontab(minute="5,35", hour=3), "at minutes 5 and 35 in 03:00-03:59"),
]


def _app(tz: str) -> Celery:
    app = Celery("words", set_as_current=False)
    app.conf.timezone = tz
    return app


@pytest.mark.parametrize(("sched", "words"), DOC_EXAMPLES, ids=[w for _, w in DOC_EXAMPLES])
def test_doc_examples_in_words(sched: crontab, words: str) -> None:
    kind, text, raw = describe_schedule(sched, "Asia/Tokyo")
    assert kind == "crontab"
    assert text.startswith(words + " (cron: ")
    assert text.endswith(", Asia/Tokyo)")


def _fires(sched: crontab, start: datetime, count: int) -> list[datetime]:
    out, last = [], start
    for _ in range(count):
        last = celery_next_run(sched, last)
        out.append(last)
    return out


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "America/New_York"])
@pytest.mark.parametrize(("sched", "words"), DOC_EXAMPLES, ids=[w for _, w in DOC_EXAMPLES])
def test_next_runs_are_celerys(sched: crontab, words: str, tz: str) -> None:
    """Each next run is where Celery's is_due turns true (and not a second before)."""
    app = _app(tz)
    clock = {"now": datetime(2026, 3, 5, 10, 17, 42, tzinfo=UTC)}
    s = crontab(
        minute=sched._orig_minute,
        hour=sched._orig_hour,
        day_of_week=sched._orig_day_of_week,
        day_of_month=sched._orig_day_of_month,
        month_of_year=sched._orig_month_of_year,
        nowfun=lambda: clock["now"],
        app=app,
    )
    last = clock["now"]
    for nxt in _fires(s, last, 4):
        assert nxt > last
        clock["now"] = nxt - timedelta(seconds=1)
        assert not s.is_due(last).is_due, (words, last, nxt)
        clock["now"] = nxt
        assert s.is_due(last).is_due, (words, last, nxt)
        local = nxt.astimezone(app.timezone)
        # the run is one the words describe: a value of Celery's sets, in the app's zone
        assert local.minute in s.minute and local.hour in s.hour
        assert local.day in s.day_of_month and local.month in s.month_of_year
        assert local.isoweekday() % 7 in s.day_of_week
        last = nxt


def test_read_beat_names_the_zone_and_uses_the_apps_zone() -> None:
    app = _app("Asia/Tokyo")
    app.conf.beat_schedule = {
        "nightly": {"task": "t", "schedule": crontab(minute=30, hour=3)},
        "every-10s": {"task": "t", "schedule": 10.0},
    }
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)  # 21:00 in Tokyo
    report = read_beat(app, None, now=now)
    by = {e.name: e for e in report.entries}
    assert report.timezone == "Asia/Tokyo"
    nightly = by["nightly"]
    assert nightly.timezone == "Asia/Tokyo" and "Asia/Tokyo" in nightly.schedule_words
    # 03:30 Tokyo on Jan 2nd = 18:30 UTC on Jan 1st
    assert nightly.next_run_at == datetime(2026, 1, 1, 18, 30, tzinfo=UTC)
    assert nightly.next_run_at.utcoffset() == timedelta(hours=9)
    assert by["every-10s"].next_run_at == now + timedelta(seconds=10)
    assert by["every-10s"].timezone is None


def test_next_run_shows_the_date_when_not_today() -> None:
    from datetime import date

    from cli.commands.beat import when

    today = date(2026, 1, 1)
    assert when(datetime(2026, 1, 1, 3, 30, tzinfo=UTC), today) == "03:30:00"
    assert when(datetime(2026, 1, 2, 3, 30, tzinfo=UTC), today) == "2026-01-02 03:30:00"
    assert when(None, today) == "-"
