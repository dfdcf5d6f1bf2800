"""Package lk_sub_app: the app is in lk_sub_app/celery.py, not imported here."""
