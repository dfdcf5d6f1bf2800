"""App lookup rule fixture: the app here is named lk_sub_celery.celery.celery."""

from celery import Celery

celery = Celery("lk_sub_celery.celery.celery", set_as_current=False)
celery.conf.task_default_queue = "lk_sub_celery.celery.celery"
