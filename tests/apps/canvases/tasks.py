"""The tutorials' tasks, each sleeping a little so its states can be seen."""

from __future__ import annotations

import os
import time

from .celery import app

#: seconds each task sleeps (CANVASES_PAUSE when the worker starts; 0.3 by default)
PAUSE = float(os.environ.get("CANVASES_PAUSE", "0.3"))


@app.task
def add(x: int, y: int) -> int:
    time.sleep(PAUSE)
    return x + y


@app.task
def xsum(numbers: list[int]) -> int:
    time.sleep(PAUSE)
    return sum(numbers)


@app.task
def download(url: str) -> str:
    time.sleep(PAUSE)
    return f"downloaded_{url}"


@app.task
def resize(image_path: str, size: str) -> str:
    time.sleep(PAUSE)
    return f"resized_{image_path}_{size}"


@app.task
def upload(image_path: str, destination: str) -> str:
    time.sleep(PAUSE)
    return f"uploaded_{image_path}_to_{destination}"


@app.task
def notify_completion(results: list[str]) -> str:
    return f"All done: {results}"
