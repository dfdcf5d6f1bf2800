"""The keystroke fuzzer's second run (issue 15.1): the same seeded keys drive a console on
a live cluster (real Redis, real workers, the real LiveFeed and remote control) in
read-only mode (``CTL_READ_ONLY=1``), every screen from a fresh start: no unhandled
exception, no display error, and (read-only) nothing revoked, the long task still running.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from celery import Celery

from console.core.settings import ClusterSettings
from console.ui.app import MODE_TITLES, create_app
from tests.keyfuzz import LIVE_KEYS, fuzz


def test_fuzzer_on_a_live_cluster_read_only(cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    # the session cluster (read-only: nothing here changes it; no start-up in the budget)
    monkeypatch.setenv("CTL_READ_ONLY", "1")
    probe = Celery("fuzz-probe", broker=cluster.broker_url, backend=cluster.backend_url)
    probe.conf.broker_write_url = probe.conf.broker_read_url = cluster.broker_url
    long = probe.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 45})
    revoked_before = probe.control.inspect(timeout=1.0).revoked() or {}
    for i in range(6):  # something in every list: finished, failed, running
        probe.send_task("sample_proj.tasks.add", args=(i, i))
    probe.send_task("sample_proj.tasks.always_fails")

    settings = ClusterSettings.resolve(
        app="sample_proj", broker=cluster.broker_url, result_backend=cluster.backend_url
    )

    def make_app(mode: str):
        return create_app(
            settings=settings,
            refresh=0.2,
            poll_interval=1.0,
            initial=mode,
            cursor_blink=False,
            action_timeout=1.0,
        )

    async def run() -> list[str]:
        failures = []
        for mode in MODE_TITLES:
            result = await fuzz(make_app, mode, seed=151, n_keys=LIVE_KEYS)
            if result.problems:
                failures.append(str(result))
            assert len(result.keys) >= LIVE_KEYS or result.problems, mode
        return failures

    t0 = time.perf_counter()
    try:
        failures = asyncio.run(run())
        assert make_app("workers").read_only
    finally:
        from sample_proj import app as sample_app
        from tests.conftest import reset_app_urls

        reset_app_urls(sample_app)
    elapsed = time.perf_counter() - t0
    assert not failures, "\n".join(failures)
    # read-only: the keys (x, X, P, +, -, ... among them) changed nothing on the workers
    assert (probe.control.inspect(timeout=1.0).revoked() or {}) == revoked_before
    active = probe.control.inspect(timeout=1.0).active() or {}
    # the session's next tests get their process back
    probe.control.revoke(long.id, terminate=True, signal="SIGKILL")
    assert long.id in {t["id"] for ts in active.values() for t in ts}
    print(f"live fuzz: {len(MODE_TITLES)} screens x {LIVE_KEYS} keys in {elapsed:.1f} s")
