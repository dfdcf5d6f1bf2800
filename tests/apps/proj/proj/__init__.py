"""A Celery project in the tutorials' layout.

The app lives in ``proj/celery.py`` and this ``__init__`` deliberately does not
import it: ``celery -A proj worker`` still finds it (Celery tries the
submodule ``proj.celery``), and so must ``ctl -A proj``.
"""
