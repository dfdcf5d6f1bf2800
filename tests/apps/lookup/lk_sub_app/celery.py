"""App lookup rule fixture: the app here is named lk_sub_app.celery.app."""

from celery import Celery

app = Celery("lk_sub_app.celery.app", set_as_current=False)
app.conf.task_default_queue = "lk_sub_app.celery.app"
celery = Celery("lk_sub_app.celery.celery", set_as_current=False)
celery.conf.task_default_queue = "lk_sub_app.celery.celery"
