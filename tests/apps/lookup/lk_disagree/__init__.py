"""App lookup rule fixture: the app here is named lk_disagree.main_app."""

from celery import Celery

main_app = Celery("lk_disagree.main_app", set_as_current=False)
main_app.conf.task_default_queue = "lk_disagree.main_app"
