"""App lookup rule fixture: the app here is named lk_any.worker_app."""

from celery import Celery

worker_app = Celery("lk_any.worker_app", set_as_current=False)
worker_app.conf.task_default_queue = "lk_any.worker_app"
