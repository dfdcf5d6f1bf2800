"""The Celery app of ``proj`` (``celery -A proj worker -l INFO``)."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")

# broker and result backend in the same Redis db, as in the tutorials
app = Celery(
    "proj",
    broker=BROKER,
    backend=os.environ.get("CELERY_RESULT_BACKEND", BROKER),
    include=["proj.tasks"],
)

app.conf.update(
    timezone="Asia/Tokyo",
    enable_utc=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    worker_send_task_events=True,
    task_send_sent_event=True,
    task_track_started=True,
    worker_prefetch_multiplier=1,
    task_routes={
        "proj.tasks.resize_image": {"queue": "images"},
        "proj.tasks.nightly_report": {"queue": "reports"},  # no worker consumes it
    },
    beat_schedule={
        "every-minute": {"task": "proj.tasks.add", "schedule": 60.0, "args": (1, 1)},
        "hourly": {"task": "proj.tasks.add", "schedule": crontab(minute=0), "args": (2, 2)},
        "daily-morning": {
            "task": "proj.tasks.nightly_report",
            "schedule": crontab(hour=9, minute=0),
        },
        "weekday-morning": {
            "task": "proj.tasks.add",
            "schedule": crontab(hour=9, minute=0, day_of_week="1-5"),
            "args": (3, 3),
        },
        "monthly": {
            "task": "proj.tasks.add",
            "schedule": crontab(hour=0, minute=0, day_of_month=1),
            "args": (4, 4),
        },
        "even-and-third-hours": {
            "task": "proj.tasks.add",
            "schedule": crontab(minute=0, hour="*/2,*/3"),
            "args": (5, 5),
        },
    },
)

if __name__ == "__main__":
    app.start()
