"""App lookup rule fixture: the app here is named lk_colon.app."""

from celery import Celery

app = Celery("lk_colon.app", set_as_current=False)
app.conf.task_default_queue = "lk_colon.app"
second = Celery("lk_colon.second", set_as_current=False)
second.conf.task_default_queue = "lk_colon.second"
