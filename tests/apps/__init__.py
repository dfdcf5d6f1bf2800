"""Small Celery apps written the way users write them (tutorial layouts)."""
