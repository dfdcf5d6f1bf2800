"""App lookup rule fixture: the app here is named lk_sub_any.celery.jobs."""

from celery import Celery

jobs = Celery("lk_sub_any.celery.jobs", set_as_current=False)
jobs.conf.task_default_queue = "lk_sub_any.celery.jobs"
