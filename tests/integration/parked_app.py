"""A test app with a task queue no worker consumes ("parked"): its messages wait."""

from celery import Celery
from kombu import Queue

app = Celery("parked")
app.conf.task_queues = [Queue("celery"), Queue("images"), Queue("parked")]
app.conf.accept_content = ["json"]
