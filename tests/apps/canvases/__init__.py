"""The canvases of the tutorials, as a project: ``celery -A tests.apps.canvases worker``.

Like the tutorials' ``proj/``: the app lives in ``celery.py`` and the package
imports it, so ``-A tests.apps.canvases`` finds ``app``.
"""

from .celery import app

__all__ = ["app"]
