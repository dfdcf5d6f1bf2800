"""App lookup fixture: no Celery app here."""

VALUE = 1
