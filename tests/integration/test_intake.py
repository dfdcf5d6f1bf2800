"""Event intake against real Redis and real sample_proj workers."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.core.feed import LiveFeed
from console.core.intake import KombuEventSource, RedisEventSource, make_source
from console.core.settings import ClusterSettings
from tests.integration.test_intake_parse import new_state

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _restore_celery_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """ClusterSettings.app exports the broker URL to os.environ: undo it after each test."""
    import os

    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        # setenv first so that monkeypatch records the original (maybe absent) value
        monkeypatch.setenv(key, os.environ.get(key, ""))
        if not os.environ[key]:
            monkeypatch.delenv(key)


PERF = Path(__file__).resolve().parents[1] / "perf"


def collect(source: Any, until: Callable[[list[dict]], bool], timeout: float = 15.0) -> list[dict]:
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events.extend(source.read_batch(0.1))
        if until(events):
            return events
    raise AssertionError(
        f"condition not met in {timeout}s; got {len(events)} events: "
        f"{sorted({e.get('type') for e in events})}"
    )


def lifecycle_seen(uuid: str) -> Callable[[list[dict]], bool]:
    def check(events: list[dict]) -> bool:
        kinds = {e["type"] for e in events if e.get("uuid") == uuid}
        return {"task-received", "task-started", "task-succeeded"} <= kinds

    return check


@pytest.mark.parametrize("kind", ["redis", "kombu"])
def test_source_receives_real_task_events(cluster, sample_app, kind):
    settings = ClusterSettings.resolve(broker=cluster.broker_url)
    source = make_source(settings.app, kind=kind)
    assert isinstance(source, RedisEventSource if kind == "redis" else KombuEventSource)
    source.start(require_connection=True)
    try:
        collect(source, lambda evs: True, timeout=0.5)  # subscription settles
        res = sample_app.send_task("sample_proj.tasks.add", args=(20, 22))
        events = collect(source, lifecycle_seen(res.id))
        assert res.get(timeout=10) == 42
        mine = [e for e in events if e.get("uuid") == res.id]
        received = next(e for e in mine if e["type"] == "task-received")
        assert received["name"] == "sample_proj.tasks.add"
        assert received["args"] == "(20, 22)"
        assert received["hostname"] in cluster.hostnames
        succeeded = next(e for e in mine if e["type"] == "task-succeeded")
        assert succeeded["result"] == "42" and succeeded["runtime"] >= 0
        # raw, as sent: the stock receiver's local additions are absent
        assert "local_received" not in succeeded
        # heartbeats from both workers (every 2 s)
        events += collect(
            source,
            lambda evs: (
                {e["hostname"] for e in evs if e["type"] == "worker-heartbeat"}
                >= set(cluster.hostnames)
            ),
            timeout=6,
        )
        st = source.status
        assert st.mode == "live" and st.connected and st.gaps == 0 and st.events >= len(events)
    finally:
        source.close()
    assert source.status.mode == "stopped"


def publish_and_collect(url: str, source: Any, n: int, attempts: int = 5) -> list[dict]:
    """Publish ``n`` events until the source has seen them (a fresh subscription may lag)."""
    from tests.perf.publish_events import publish

    events: list[dict] = []
    for attempt in range(attempts):
        publish(url, n, seed=attempt)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            events.extend(source.read_batch(0.1))
            if len(events) >= n:
                return events
    raise AssertionError(f"published {n} events {attempts} times, received {len(events)}")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class FeedView:
    """Accumulates polled deltas like a UI would."""

    def __init__(self, feed: Any) -> None:
        self.feed = feed
        self.tasks: dict[str, Any] = {}
        self.workers: dict[str, Any] = {}
        self.deltas = 0
        self.stats: dict = {}

    def pump(self) -> FeedView:
        delta = self.feed.poll()
        if delta is not None:
            self.deltas += 1
            if delta.full:
                self.tasks.clear()
                self.workers.clear()
            for uid in delta.removed:
                self.tasks.pop(uid, None)
            for row in delta.tasks:
                self.tasks[row.uuid] = row
            for row in delta.workers:
                self.workers[row.hostname] = row
            self.stats = delta.stats
        return self

    def state_of(self, uuid: str) -> str | None:
        row = self.pump().tasks.get(uuid)
        return row.state if row else None


def test_live_feed_brings_real_tasks_into_state(cluster, sample_app):
    from celery import chain

    settings = ClusterSettings.resolve(
        broker=cluster.broker_url, result_backend=cluster.backend_url
    )
    feed = LiveFeed(settings, rate_hz=20)
    feed.start()
    view = FeedView(feed)
    try:
        wait_for(lambda: feed.status.mode == "live", 20, "feed live")
        time.sleep(0.3)
        t0 = time.monotonic()
        assert feed.poll() is not None or True  # non-blocking, never raises
        assert time.monotonic() - t0 < 0.05
        res = sample_app.send_task("sample_proj.tasks.mul", args=(6, 7))
        ch = chain(
            sample_app.signature("sample_proj.tasks.add", args=(1, 2)),
            sample_app.signature("sample_proj.tasks.add", args=(3,)),
        ).apply_async()
        bad = sample_app.send_task("sample_proj.tasks.always_fails", args=("nope",))
        assert ch.get(timeout=15) == 6
        wait_for(lambda: view.state_of(res.id) == "SUCCESS", 10, "mul SUCCESS in the feed")
        wait_for(lambda: view.state_of(ch.id) == "SUCCESS", 10, "chain tail SUCCESS")
        wait_for(lambda: view.state_of(bad.id) == "FAILURE", 10, "always_fails FAILURE")
        row = view.tasks[res.id]
        assert row.name == "sample_proj.tasks.mul" and row.hostname in cluster.hostnames
        assert view.tasks[ch.id].parent_id == ch.parent.id
        wait_for(lambda: set(view.pump().workers) >= set(cluster.hostnames), 8, "both workers")
        detail = feed.task_detail(res.id)
        assert detail is not None and detail.get("uuid", res.id) == res.id
        assert feed.task_detail("no-such-task") is None
        assert feed.status.gaps == 0
    finally:
        feed.stop()
    assert not feed.alive


def test_live_feed_filters_in_the_intake_process_and_sends_windows(cluster, sample_app):
    """request_view: the intake process filters / sorts; the UI gets only the window."""
    import threading

    from console.core.taskview import ViewSpec

    settings = ClusterSettings.resolve(
        broker=cluster.broker_url, result_backend=cluster.backend_url
    )
    feed = LiveFeed(settings, rate_hz=20)
    arrived = threading.Event()
    feed.on_window = arrived.set
    feed.start()
    try:
        wait_for(lambda: feed.status.mode == "live", 20, "feed live")
        time.sleep(0.3)
        adds = [sample_app.send_task("sample_proj.tasks.add", args=(i, i)) for i in range(6)]
        mul = sample_app.send_task("sample_proj.tasks.mul", args=(6, 7))
        for r in [*adds, mul]:
            r.get(timeout=15)
        feed.request_view(ViewSpec(query="tasks.mul", limit=50, seq=1))
        assert arrived.wait(5), "no window within 5 s"
        window = None

        def got_mul() -> bool:
            nonlocal window
            delta = feed.poll()
            if delta is not None and delta.window is not None:
                window = delta.window
            return window is not None and any(
                r.uuid == mul.id and r.state == "SUCCESS" for r in window.rows
            )

        wait_for(got_mul, 10, "the mul task in a window")
        assert window.spec.query == "tasks.mul" and window.matched == len(window.rows) >= 1
        assert all(r.name == "sample_proj.tasks.mul" for r in window.rows)
        assert window.total >= 7
        # from now on deltas carry the window, not task rows; a new task shows up in it
        later = sample_app.send_task("sample_proj.tasks.mul", args=(2, 2))
        later.get(timeout=15)
        seen: list[Any] = []

        def later_in_window() -> bool:
            delta = feed.poll()
            if delta is not None:
                seen.append(delta)
            return any(
                d.window is not None and any(r.uuid == later.id for r in d.window.rows)
                for d in seen
            )

        wait_for(later_in_window, 10, "the later task in a window")
        assert all(d.tasks == [] for d in seen), "task rows sent to a UI that asked for windows"
        # the view moves with the UI: another filter, answered from the intake process
        arrived.clear()
        feed.request_view(ViewSpec(query=f"id:{adds[0].id}", limit=50, seq=2))
        assert arrived.wait(5)
        delta = feed.poll()
        assert delta is not None and [r.uuid for r in delta.window.rows] == [adds[0].id]
    finally:
        feed.stop()


def test_redis_outage_disconnects_fast_and_recovers(redis_server):
    source = RedisEventSource(redis_server.url)
    source.start(require_connection=True)
    try:
        publish_and_collect(redis_server.url, source, 50)
        t0 = time.monotonic()
        redis_server.kill()
        wait_for(
            lambda: source.status.mode in ("disconnected", "reconnecting"), 2.0, "disconnected"
        )
        assert time.monotonic() - t0 < 2.0
        assert not source.status.connected
        # retries with backoff while down: no busy loop (CPU time stays small)
        cpu0 = time.process_time()
        time.sleep(1.5)
        assert time.process_time() - cpu0 < 0.5
        assert source.status.mode in ("disconnected", "reconnecting")
        assert "refused" in source.status.message or "unreachable" in source.status.message
        redis_server.restart()
        wait_for(lambda: source.status.mode == "live", 5, "live again")
        assert source.status.gaps == 1 and source.take_gap() and not source.take_gap()
        publish_and_collect(redis_server.url, source, 20)
    finally:
        source.close()


def test_kombu_source_outage_recovers(redis_server):
    from celery import Celery

    app = Celery("t", broker=redis_server.url, set_as_current=False)
    source = KombuEventSource(app, url=redis_server.url)
    source.start(require_connection=True)
    try:
        wait_for(lambda: source.status.mode == "live", 5, "live")
        publish_and_collect(redis_server.url, source, 30)
        redis_server.kill()
        wait_for(
            lambda: source.status.mode in ("disconnected", "reconnecting"), 2.0, "disconnected"
        )
        redis_server.restart()
        wait_for(lambda: source.status.mode == "live", 8, "live again")
        assert source.status.gaps == 1
        publish_and_collect(redis_server.url, source, 10)
    finally:
        source.close()


def test_live_feed_survives_broker_restart_and_resyncs(redis_server):
    from tests.perf.publish_events import generate_events, publish

    settings = ClusterSettings.resolve(broker=redis_server.url)
    feed = LiveFeed(settings, rate_hz=20)
    feed.start()
    view = FeedView(feed)
    try:
        wait_for(lambda: feed.status.mode == "live", 20, "live")
        t0 = time.monotonic()
        redis_server.kill()
        wait_for(
            lambda: feed.status.mode in ("disconnected", "reconnecting"), 2.0, "feed disconnected"
        )
        assert time.monotonic() - t0 < 2.0
        assert feed.poll() is not None  # the UI hears about it
        redis_server.restart()
        try:
            wait_for(lambda: feed.status.mode == "live" and feed.status.gaps >= 1, 8, "recovered")
        except AssertionError:
            raise AssertionError(f"feed did not recover: {feed.status}") from None
        assert feed.status.gaps == 1, feed.status
        try:
            wait_for(
                lambda: "resynced after gap" in feed.status.message, 12, "resync after the gap"
            )
        except AssertionError:
            raise AssertionError(f"no resync after the gap: {feed.status}") from None
        # events flow again after the restart
        uuids = {e["uuid"] for e in generate_events(40, seed=7) if e["type"] == "task-received"}
        for _ in range(5):
            publish(redis_server.url, 40, seed=7)
            try:
                wait_for(
                    lambda: uuids <= set(view.pump().tasks), 1.5, "published tasks in the feed"
                )
                break
            except AssertionError:
                continue
        assert uuids <= set(view.tasks)
        assert feed.status.gaps == 1
    finally:
        feed.stop()


def test_burst_100k_with_default_pubsub_limits(redis_server):
    """100k events published at ~87k/s: our source must not be dropped (or must flag a gap)."""
    import subprocess

    source = RedisEventSource(redis_server.url)
    source.start(require_connection=True)
    state = new_state(max_tasks=100_000)
    ready = Path(redis_server.workdir) / "ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(PERF / "publish_events.py"),
            "--url",
            redis_server.url,
            "--count",
            "100000",
            "--rate",
            "87000",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        got = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and got < 100_000:
            batch = source.read_batch(0.2)
            state.apply_batch(batch)
            got += len(batch)
            if not batch and proc.poll() is not None and got:
                idle = time.monotonic()
                while time.monotonic() - idle < 2 and got < 100_000:
                    more = source.read_batch(0.2)
                    state.apply_batch(more)
                    got += len(more)
                break
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        st = source.status
        assert st.connected, st
        # either kept up with everything, or detected the loss
        assert got == 100_000 or st.gaps >= 1, (got, st)
        print(f"burst: received {got} of 100000, gaps={st.gaps}, publisher: {out.decode().strip()}")
    finally:
        proc.kill()
        source.close()


def test_live_feed_under_burst_keeps_ui_responsive(redis_server):
    """100k events at ~87k/s into a LiveFeed: poll() stays instant, every task arrives."""
    import subprocess

    from tests.perf.publish_events import generate_events

    expected = {e["uuid"] for e in generate_events(100_000) if e["type"] == "task-received"}
    settings = ClusterSettings.resolve(broker=redis_server.url)
    feed = LiveFeed(settings, max_tasks=100_000, rate_hz=10, initial_resync=False)
    feed.start()
    view = FeedView(feed)
    try:
        wait_for(lambda: feed.status.mode == "live", 20, "live")
        time.sleep(0.3)
        proc = subprocess.Popen(
            [
                sys.executable,
                str(PERF / "publish_events.py"),
                "--url",
                redis_server.url,
                "--count",
                "100000",
                "--rate",
                "87000",
            ],
            stdout=subprocess.PIPE,
        )
        worst = 0.0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            view.pump()
            worst = max(worst, time.perf_counter() - t0)
            if view.stats.get("intake", {}).get("events", 0) >= 100_000 and expected <= set(
                view.tasks
            ):
                break
            time.sleep(0.02)
        proc.communicate(timeout=30)
        assert expected <= set(view.tasks), (len(expected - set(view.tasks)), feed.status)
        assert view.stats["intake"]["events"] == 100_000
        assert feed.status.gaps == 0
        assert worst < 0.25, f"poll() took {worst * 1000:.0f} ms"
        assert 0 < view.deltas < 200  # coalesced at <= rate_hz, not one per event
    finally:
        feed.stop()


def test_unix_socket_and_password(tmp_path):
    import redis

    from console.core.errors import BrokerUnreachable
    from console.core.redis_server import EmbeddedRedis

    sock = tmp_path / "r.sock"
    server = EmbeddedRedis(
        extra_args=["--unixsocket", str(sock), "--unixsocketperm", "700"]
    ).start()
    try:
        # EmbeddedRedis pings without AUTH at start: set the password afterwards
        redis.Redis(port=server.port).config_set("requirepass", "s3cr3t-pw")
        tcp = f"redis://:s3cr3t-pw@127.0.0.1:{server.port}/0"
        for url in (f"redis+socket://:s3cr3t-pw@{sock}?virtual_host=0", tcp):
            source = RedisEventSource(url)
            source.start(require_connection=True)
            try:
                publish_and_collect(tcp, source, 10)
            finally:
                source.close()
        bad = RedisEventSource(f"redis://:wrong-pw@127.0.0.1:{server.port}/0")
        with pytest.raises(BrokerUnreachable) as info:
            bad.start(require_connection=True)
        assert "wrong-pw" not in info.value.message and "***" in info.value.message
        assert "authentication failed" in info.value.message
    finally:
        server.stop()


def test_dropped_subscription_is_detected_as_a_gap(redis_server):
    """Redis closing our subscriber (as the pubsub output-buffer limit does) -> reconnect + gap."""
    import redis

    source = RedisEventSource(redis_server.url)
    source.start(require_connection=True)
    try:
        publish_and_collect(redis_server.url, source, 10)
        killed = redis.Redis.from_url(redis_server.url).client_kill_filter(_type="pubsub")
        assert killed == 1
        wait_for(lambda: source.status.gaps == 1 and source.status.mode == "live", 5, "gap + live")
        assert source.take_gap()
        publish_and_collect(redis_server.url, source, 10)
    finally:
        source.close()


def test_local_buffer_overflow_flags_a_gap_and_recovers(redis_server):
    from tests.perf.publish_events import publish

    source = RedisEventSource(redis_server.url, max_buffer=200_000)
    source.start(require_connection=True)
    try:
        time.sleep(0.3)
        publish(redis_server.url, 3000)  # ~2 MB, nobody reading
        wait_for(lambda: source.status.gaps >= 1, 5, "overflow gap")
        wait_for(lambda: source.status.mode == "live", 5, "live again")
        source.read_batch(0.2)  # whatever survived parses without errors
        while source.read_batch(0.2):
            pass
        assert source.status.malformed == 0
        assert source.take_gap()
        events = publish_and_collect(redis_server.url, source, 50)
        assert all(isinstance(e.get("type"), str) for e in events)
    finally:
        source.close()


def test_live_feed_records_what_it_receives(redis_server, tmp_path):
    from console.core.recording import read_events
    from tests.perf.publish_events import generate_events, publish

    path = tmp_path / "live.jsonl.gz"
    settings = ClusterSettings.resolve(broker=redis_server.url)
    feed = LiveFeed(settings, record=path, initial_resync=False)
    feed.start()
    try:
        wait_for(lambda: feed.status.mode == "live", 20, "live")
        time.sleep(0.3)
        publish(redis_server.url, 300, seed=3)
        view = FeedView(feed)
        wait_for(
            lambda: view.pump().stats.get("intake", {}).get("events", 0) >= 300, 10, "300 events"
        )
    finally:
        feed.stop()
    recorded = read_events(path)
    sent = list(generate_events(300, seed=3))
    assert len(recorded) == 300
    assert [(e["type"], e.get("uuid")) for e in recorded] == [
        (e["type"], e.get("uuid")) for e in sent
    ]


def test_envelope_matches_celery_dispatcher_and_grouped_events(redis_server):
    """The benchmark publisher's envelope == EventDispatcher's; grouped (buffered) events decode."""
    import base64
    import json

    import redis
    from celery import Celery

    from tests.perf.publish_events import envelope

    client = redis.Redis.from_url(redis_server.url)
    pubsub = client.pubsub()
    pubsub.psubscribe("/0.celeryev/*")
    pubsub.get_message(timeout=1)
    source = RedisEventSource(redis_server.url)
    source.start(require_connection=True)
    app = Celery("t", broker=redis_server.url, set_as_current=False)
    try:
        time.sleep(0.2)
        with app.connection_for_write() as conn:
            d = app.events.Dispatcher(conn, hostname="w9@h")
            d.send("task-received", uuid="u-1", name="t.add", args="(1, 2)", kwargs="{}")
            g = app.events.Dispatcher(conn, hostname="w9@h", buffer_group=["task"], buffer_limit=3)
            for kind in ("task-received", "task-started", "task-succeeded"):
                g.send(kind, uuid="u-2")
            g.flush()
        raw = pubsub.get_message(timeout=2)["data"]
        real = json.loads(raw)
        event = json.loads(base64.b64decode(real["body"]))
        ours = json.loads(envelope(event))
        assert list(ours) == list(real)
        assert list(ours["properties"]) == list(real["properties"])
        for key in ("content-encoding", "content-type", "headers"):
            assert ours[key] == real[key]
        assert ours["properties"]["delivery_info"] == real["properties"]["delivery_info"]
        assert json.loads(base64.b64decode(ours["body"])) == event
        got: list[dict] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(got) < 4:
            got.extend(source.read_batch(0.1))
        assert [(e["type"], e["uuid"]) for e in got] == [
            ("task-received", "u-1"),
            ("task-received", "u-2"),
            ("task-started", "u-2"),
            ("task-succeeded", "u-2"),
        ]
        assert got[0]["args"] == "(1, 2)" and got[0]["hostname"] == "w9@h"
    finally:
        source.close()
        pubsub.close()
