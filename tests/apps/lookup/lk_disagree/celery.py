"""App lookup rule fixture: the app here is named lk_disagree.celery.app."""

from celery import Celery

app = Celery("lk_disagree.celery.app", set_as_current=False)
app.conf.task_default_queue = "lk_disagree.celery.app"
