"""App lookup rule fixture: the app here is named lk_app.app."""

from celery import Celery

app = Celery("lk_app.app", set_as_current=False)
app.conf.task_default_queue = "lk_app.app"
celery = Celery("lk_app.celery", set_as_current=False)
celery.conf.task_default_queue = "lk_app.celery"
other = Celery("lk_app.other", set_as_current=False)
other.conf.task_default_queue = "lk_app.other"
