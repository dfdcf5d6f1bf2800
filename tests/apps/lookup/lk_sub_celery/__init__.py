"""Package lk_sub_celery: the app is in lk_sub_celery/celery.py, not imported here."""
