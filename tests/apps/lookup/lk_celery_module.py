"""App lookup rule fixture: ``celery`` here is the library module, not an app."""

import celery
from celery import Celery

assert celery
backend_app = Celery("lk_celery_module.backend_app", set_as_current=False)
backend_app.conf.task_default_queue = "lk_celery_module.backend_app"
