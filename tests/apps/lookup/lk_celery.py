"""App lookup rule fixture: the app here is named lk_celery.celery."""

from celery import Celery

celery = Celery("lk_celery.celery", set_as_current=False)
celery.conf.task_default_queue = "lk_celery.celery"
aaa = Celery("lk_celery.aaa", set_as_current=False)
aaa.conf.task_default_queue = "lk_celery.aaa"
