"""Configuration of the sample project, in the style of a real deployment.

Broker and result backend come from the environment
(``CELERY_BROKER_URL`` / ``CELERY_RESULT_BACKEND``) and default to a local
Redis.  Events are on so the console sees everything.
"""

from __future__ import annotations

import os

from celery.schedules import crontab

broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
result_backend = os.environ.get("CELERY_RESULT_BACKEND", broker_url)

# Events: every task state change and task-sent from the clients.
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True
result_extended = True
result_expires = 3600

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

worker_prefetch_multiplier = 4
broker_connection_retry_on_startup = True
broker_transport_options = {"visibility_timeout": 3600}

task_routes = {
    "sample_proj.pipeline.*": {"queue": "images"},
}

# beat writes its schedule file (last run, run count: the console's Beat screen reads
# them) after every task it sends, not only every 3 minutes
beat_sync_every = 1

beat_schedule = {
    # interval entries
    "heartbeat-add-every-10s": {
        "task": "sample_proj.tasks.add",
        "schedule": 10.0,
        "args": (2, 2),
    },
    "xsum-every-30s": {
        "task": "sample_proj.tasks.xsum",
        "schedule": 30.0,
        "args": ([1, 2, 3, 4],),
        "options": {"expires": 25, "priority": 5},
    },
    # crontab entries
    "hourly-report": {
        "task": "sample_proj.tasks.mul",
        "schedule": crontab(minute=0),
        "args": (6, 7),
    },
    "nightly-cleanup": {
        "task": "sample_proj.tasks.sleepy",
        "schedule": crontab(hour=3, minute=30),
        "kwargs": {"seconds": 1},
    },
    "weekday-digest": {
        "task": "sample_proj.tasks.add",
        "schedule": crontab(hour=8, minute=0, day_of_week="mon-fri"),
        "args": (1, 1),
        "options": {"queue": "celery"},
    },
    "monthly-invoice": {
        "task": "sample_proj.pipeline.process_images",
        "schedule": crontab(hour=6, minute=0, day_of_month=1),
        "kwargs": {"urls": ["s3://bucket/invoice-1.png", "s3://bucket/invoice-2.png"]},
        "options": {"queue": "images"},
    },
}
