"""Everyday tasks: arithmetic, sleeping, flaky, retrying and failing work."""

from __future__ import annotations

import random
import time

from .celery import app


class TransientError(Exception):
    """A failure that a retry may fix (network blip, lock timeout...)."""


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
def sleepy(seconds: float = 30.0) -> float:
    """Sleep long enough to be revoked or terminated while running."""
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return float(seconds)


@app.task(
    autoretry_for=(TransientError,),
    retry_backoff=0.2,
    retry_backoff_max=2,
    retry_jitter=False,
    max_retries=3,
)
def flaky(fail_rate: float = 0.5, seed: int | None = None) -> str:
    """Fail with ``TransientError`` at ``fail_rate``; autoretried with backoff."""
    rng = random.Random(seed) if seed is not None else random
    if rng.random() < fail_rate:
        raise TransientError(f"transient failure (fail_rate={fail_rate})")
    return "ok"


@app.task(bind=True, max_retries=3)
def fetch_with_retry(self, url: str, fail_times: int = 2) -> str:
    """Retry by hand with a countdown until ``fail_times`` attempts failed."""
    if self.request.retries < fail_times:
        raise self.retry(exc=TransientError(f"cannot reach {url}"), countdown=1)
    return f"fetched {url} after {self.request.retries} retries"


@app.task
def always_fails(reason: str = "boom") -> None:
    """Always fail with a traceback several frames deep."""

    def validate(payload: str) -> None:
        raise ValueError(f"invalid payload: {payload}")

    def process(payload: str) -> None:
        validate(payload)

    process(reason)
