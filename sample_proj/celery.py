"""The sample project's Celery app."""

from __future__ import annotations

from celery import Celery

app = Celery("sample_proj")
app.config_from_object("sample_proj.celeryconfig")
app.autodiscover_tasks(["sample_proj"], related_name="tasks")
app.autodiscover_tasks(["sample_proj"], related_name="pipeline")
# import eagerly too: a worker must register everything even before finalize
import sample_proj.pipeline  # noqa: E402
import sample_proj.tasks  # noqa: E402,F401
