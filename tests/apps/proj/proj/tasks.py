"""Tasks of ``proj``, as in the tutorials (add, chains, chords, an image pipeline)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import redis
from celery.signals import task_failure

from .celery import app


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def mul(x: int, y: int) -> int:
    return x * y


@app.task
def xsum(numbers: list[int]) -> int:
    return sum(numbers)


@app.task
def sleepy(seconds: float = 1.0) -> float:
    time.sleep(seconds)
    return seconds


@app.task
def download_image(url: str) -> str:
    return f"downloaded_{url}"


@app.task
def resize_image(image_path: str, size: str) -> str:
    return f"resized_{image_path}_{size}"


@app.task
def upload_image(image_path: str, destination: str) -> str:
    return f"uploaded_{image_path}_to_{destination}"


@app.task
def notify_completion(results: list[str]) -> str:
    return f"All done: {results}"


@app.task
def nightly_report(day: str = "") -> str:
    return f"report {day}"


@app.task(bind=True, max_retries=2, default_retry_delay=0.2)
def flaky(self, fail_times: int = 1) -> int:
    if self.request.retries < fail_times:
        raise self.retry(exc=RuntimeError("transient"), countdown=0.2)
    return self.request.retries


@app.task
def explode(message: str = "boom") -> None:
    raise ValueError(message)


@task_failure.connect
def handle_task_failure(
    sender=None, task_id=None, exception=None, args=None, kwargs=None, traceback=None, **kw
):
    """Keep failed tasks in a Redis list ``dead_letter_queue`` (same db as the broker)."""
    failed_task = {
        "task_id": task_id,
        "task_name": getattr(sender, "name", None),
        "args": args,
        "kwargs": kwargs,
        "exception": str(exception),
        "failed_at": datetime.now().isoformat(),
    }
    r = redis.Redis.from_url(app.conf.broker_url)
    try:
        r.lpush("dead_letter_queue", json.dumps(failed_task, default=str))
    finally:
        r.close()


@app.task(bind=True, max_retries=1)
def retry_now(self) -> int:
    """Fails once and retries at once (countdown=0: the new attempt has no eta)."""
    if self.request.retries == 0:
        raise self.retry(exc=RuntimeError("try again now"), countdown=0)
    return self.request.retries
