"""A sample Celery project: ``celery -A sample_proj worker``.

``sample_proj.celery`` builds the app from ``sample_proj.celeryconfig``;
tasks live in ``sample_proj.tasks`` and ``sample_proj.pipeline``.
"""

from .celery import app

__all__ = ["app"]
