"""Fixtures for console snapshot tests: a replayed recording, a fixed clock, recorded replies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.core.clock import FixedClock

from .events import NOW, write_recording
from .replies import FakeRemote

BROKER = "redis://:s3cret-pass@broker.example:6379/0"
BACKEND = "cache+memory://"


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("rec") / "ui_events.jsonl.gz")


@pytest.fixture
def fake_queue_depths(monkeypatch: pytest.MonkeyPatch) -> None:
    from console.core import queues

    def depths(
        settings: Any,
        rc: Any = None,
        queues: Any = None,
        timeout: float = 1.0,
        with_consumers: bool = True,
    ) -> list[Any]:
        return [
            queues_mod.QueueDepth(
                "celery", 1234, {"0": 1200, "3": 34}, 2, ["alpha@demo", "bravo@demo"]
            ),
            queues_mod.QueueDepth("images", 0, {}, 0, []),
            queues_mod.QueueDepth("[red]hostile\x1b[0m", 5, {"0": 5}, None, []),
        ]

    queues_mod = queues
    monkeypatch.setattr(queues, "queue_depths", depths)


@pytest.fixture
def make_console(recording: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Build the console exactly as ``ctl console`` does, over a replay + recorded replies."""

    def factory(
        *,
        with_settings: bool = True,
        read_only: bool = False,
        remote: Any = None,
        initial: str = "workers",
        path: Path | None = None,
    ) -> Any:
        from console.core.feed import ReplayFeed
        from console.core.settings import ClusterSettings
        from console.ui.app import create_app

        clock = FixedClock(NOW)
        feed = ReplayFeed(path or recording, speed=0, clock=clock)
        settings = None
        if with_settings:
            # a private app with sample_proj's configuration (beat schedule) and a fixed
            # "now", so neither the shared sample_proj app nor the environment change
            from celery import Celery

            app = Celery("snapshots", set_as_current=False)
            app.config_from_object("sample_proj.celeryconfig")
            app.conf.broker_url = BROKER
            # a real backend that needs no network (the task detail reads it): deterministic
            app.conf.result_backend = BACKEND
            fixed = dt.datetime.fromtimestamp(NOW, tz=dt.UTC)
            app.now = lambda: fixed  # type: ignore[method-assign]
            settings = ClusterSettings(broker_url=BROKER, result_backend=BACKEND)
            settings._app = app
        return create_app(
            settings,
            feed,
            read_only=read_only,
            clock=clock,
            remote=remote if remote is not None else FakeRemote(),
            poll_interval=0,
            refresh=0.2,
            initial=initial,
            cursor_blink=False,
            utc=True,  # fixed zone: the machine's TZ must not move a pixel
        )

    return factory
