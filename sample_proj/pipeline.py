"""An image-style pipeline: download -> resize -> upload, fanned out with a chord."""

from __future__ import annotations

import hashlib
import time

from celery import chain, chord

from .celery import app


@app.task
def download(url: str) -> dict:
    time.sleep(0.05)
    digest = hashlib.sha1(url.encode()).hexdigest()[:12]
    return {"url": url, "path": f"/tmp/img-{digest}.png", "bytes": 1024 + len(url)}


@app.task
def resize(image: dict, width: int = 640) -> dict:
    time.sleep(0.05)
    return {**image, "width": width, "path": image["path"].replace(".png", f"-{width}.png")}


@app.task
def upload(image: dict, bucket: str = "thumbnails") -> str:
    time.sleep(0.05)
    return f"s3://{bucket}/{image['path'].rsplit('/', 1)[-1]}"


@app.task
def notify(uploaded: list[str]) -> dict:
    """The chord callback: runs once every image has been uploaded."""
    return {"count": len(uploaded), "uploaded": uploaded}


def image_pipeline(urls: list[str], width: int = 640):
    """Build the canvas: a chord of per-image chains with ``notify`` as callback."""
    return chord(
        (chain(download.s(u), resize.s(width), upload.s()) for u in urls),
        notify.s(),
    )


@app.task
def process_images(urls: list[str], width: int = 640) -> str:
    """Entry task (used by beat): launches the pipeline, returns the chord id."""
    result = image_pipeline(urls, width).apply_async()
    return result.id
