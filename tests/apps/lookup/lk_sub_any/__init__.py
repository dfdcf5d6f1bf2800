"""Package lk_sub_any: the app is in lk_sub_any/celery.py, not imported here."""
