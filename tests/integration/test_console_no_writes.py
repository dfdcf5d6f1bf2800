"""The console only reads: running it (feed, polls, every screen) changes nothing in Redis
except the reply queue of its own remote-control calls."""

from __future__ import annotations

import asyncio

import redis

from console.core.settings import ClusterSettings
from console.ui.app import create_app


def _snapshot(client: redis.Redis) -> dict[bytes, object]:
    out: dict[bytes, object] = {}
    for key in client.scan_iter(count=1000):
        if b"reply.celery.pidbox" in key:
            continue  # remote-control replies: the mailbox's own plumbing
        kind = client.type(key)
        if kind == b"list":
            out[key] = ("list", client.lrange(key, 0, -1))
        elif kind == b"set":
            out[key] = ("set", sorted(client.smembers(key)))
        elif kind == b"zset":
            out[key] = ("zset", client.zrange(key, 0, -1, withscores=True))
        elif kind == b"hash":
            out[key] = ("hash", sorted(client.hgetall(key).items()))
        elif kind == b"string":
            out[key] = ("string", client.get(key))
        else:
            out[key] = (kind,)
    return out


def test_console_browsing_every_screen_writes_nothing(make_cluster):
    c = make_cluster(workers=("reader",), concurrency=1)
    client = redis.Redis.from_url(c.broker_url)
    backend = redis.Redis.from_url(c.backend_url)
    # a parked message in a queue nobody consumes, and a stored result
    from celery import Celery

    sender = Celery("parked", broker=c.broker_url, backend=c.backend_url)
    sender.send_task("sample_proj.tasks.add", args=(1, 2), queue="parked")
    stored = sender.send_task("sample_proj.tasks.add", args=(2, 3))
    stored.get(timeout=20)
    broker_before, backend_before = _snapshot(client), _snapshot(backend)
    ttl_before = {k: backend.ttl(k) for k in backend_before}  # a refreshed expiry is a write
    assert broker_before and backend_before

    settings = ClusterSettings.resolve(
        app="sample_proj", broker=c.broker_url, result_backend=c.backend_url
    )
    assert settings.history > 0  # the console loads the backend's history (--history)
    app = create_app(settings=settings, refresh=0.1, poll_interval=0.5, cursor_blink=False)
    loaded: list[dict | None] = []

    async def browse() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            for key in "123456789":
                await pilot.press(key)
                await pilot.pause(0.6)
                await app.workers.wait_for_complete()
            loaded.append(app.feed.task_detail(stored.id))  # the stored result: history read

    asyncio.run(browse())
    try:
        assert loaded[0] is not None and loaded[0]["source"] == "backend", loaded
        assert _snapshot(client) == broker_before
        assert _snapshot(backend) == backend_before
        assert all(backend.ttl(k) <= ttl for k, ttl in ttl_before.items())
    finally:
        from sample_proj import app as sample_app
        from tests.conftest import reset_app_urls

        reset_app_urls(sample_app)
