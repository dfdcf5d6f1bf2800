"""The harness itself: real Redis and real workers answer, and clean up."""

from __future__ import annotations

import os

import psutil
import redis

from console.demo.cluster import LocalCluster


def test_redis_server_answers_and_has_no_persistence(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    assert client.ping()
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"


def test_cluster_workers_answer_ping(cluster: LocalCluster, sample_app):
    replies = sample_app.control.ping(timeout=1.0)
    names = {name for reply in replies for name in reply}
    assert set(cluster.hostnames) <= names


def test_sample_task_runs_on_real_worker(cluster: LocalCluster, sample_app):
    from sample_proj.tasks import add

    assert add.delay(20, 22).get(timeout=15) == 42


def test_cluster_stop_leaves_no_process_or_files(make_cluster):
    c = make_cluster(workers=("solo",), concurrency=1, beat=True)
    pids = [mp.proc.pid for mp in c.procs]
    children = [p.pid for pid in pids for p in psutil.Process(pid).children(recursive=True)]
    redis_pid = c.redis.proc.pid
    tmpdirs = [c.tmpdir, c.redis.workdir]
    c.stop()
    for pid in [*pids, *children, redis_pid]:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    for d in tmpdirs:
        assert not os.path.exists(d)
