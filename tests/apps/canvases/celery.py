"""The app: broker and backend in one Redis, JSON, events on (``-E``)."""

from __future__ import annotations

import os

from celery import Celery

broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery(
    "canvases",
    broker=broker,
    backend=os.environ.get("CELERY_RESULT_BACKEND", broker),
    include=["tests.apps.canvases.tasks"],
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # the tutorials run with Celery's defaults; a test switches these on to see both sides
    result_extended=os.environ.get("CANVASES_RESULT_EXTENDED") == "1",
    task_track_started=os.environ.get("CANVASES_TRACK_STARTED") == "1",
    worker_send_task_events=True,
    broker_connection_retry_on_startup=True,
)
