"""ctl revoke (plain, --stdin, --tree) with real workers: the seed scenarios.

Tasks that must stay "not yet run" are given a countdown (the first step is
held by a worker as an ETA task, i.e. in Redis' ``unacked`` hash) or parked
in a queue nobody consumes (a Redis list); the terminate scenarios run on a
private one-worker cluster.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest

from tests.cli_runner import invoke


def revoke_json(*args: str) -> dict:
    res = invoke("revoke", *args, "--json")
    assert res.exit_code == 0, (res.stdout, res.stderr)
    return json.loads(res.stdout)


def state(app, task_id: str) -> str:
    return app.backend.get_task_meta(task_id)["status"]


def wait_state(app, task_id: str, wanted: str, timeout: float = 6.0) -> str:
    deadline = time.monotonic() + timeout
    current = state(app, task_id)
    while current != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        current = state(app, task_id)
    return current


def wait_active(app, ids: list[str], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(state(app, i) == "STARTED" for i in ids):
            return
        time.sleep(0.1)
    pytest.fail(f"tasks never started: {[(i, state(app, i)) for i in ids]}")


def test_plain_revoke_from_args_and_stdin(cluster, cluster_env, sample_app) -> None:
    from sample_proj.tasks import add

    ids = [str(uuid.uuid4()) for _ in range(3)]
    doc = revoke_json(ids[0])
    assert doc["revoked"] == [ids[0]] and sorted(doc["replies"]) == sorted(cluster.hostnames)
    res = invoke("revoke", "--stdin", "--json", input="\n".join(ids[1:]) + "\n")
    assert res.exit_code == 0 and json.loads(res.stdout)["revoked"] == ids[1:]
    revoked = json.loads(invoke("inspect", "revoked", "--json").stdout)
    for host in cluster.hostnames:
        assert set(ids) <= set(revoked[host])
    # a revoked id that is then sent never runs
    r = add.apply_async((1, 2), task_id=ids[0])
    assert wait_state(sample_app, r.id, "REVOKED") == "REVOKED"
    human = invoke("revoke", ids[1])
    assert human.exit_code == 0 and ids[1] in human.stdout and "revoked 1 task(s)" in human.stdout


def test_tree_chain_revoked_by_last_id_before_it_runs(cluster, cluster_env, sample_app) -> None:
    from celery import chain

    from sample_proj.tasks import add

    c = chain(add.si(1, 1), add.si(2, 2), add.si(3, 3)).apply_async(countdown=2)
    ids = [c.parent.parent.id, c.parent.id, c.id]
    time.sleep(0.3)  # a worker reserves the ETA message (it sits in `unacked`)
    doc = revoke_json("--tree", c.id)
    assert sorted(doc["revoked"]) == sorted(ids)
    assert sorted(doc["replies"]) == sorted(cluster.hostnames)
    assert wait_state(sample_app, ids[0], "REVOKED") == "REVOKED"
    time.sleep(0.5)
    assert state(sample_app, ids[1]) != "SUCCESS" and state(sample_app, ids[2]) != "SUCCESS"


def test_tree_finds_steps_in_a_queued_list_message(cluster, cluster_env, sample_app) -> None:
    from celery import chain

    from sample_proj.tasks import add

    queue = f"ctl-parked-{uuid.uuid4().hex[:8]}"
    c = chain(add.si(1, 1), add.si(2, 2), add.si(3, 3)).apply_async(queue=queue)
    ids = [c.parent.parent.id, c.parent.id, c.id]
    try:
        doc = revoke_json("--tree", c.parent.id)
        assert sorted(doc["revoked"]) == sorted(ids)
        sources = {m["id"]: m["found_in"] for m in doc["tree"]["members"]}
        assert f"queue:{queue}" in sources[ids[0]]
        assert any(s.startswith("embedded:chain") for s in sources[ids[2]])
    finally:
        invoke("purge", "-Q", queue, "--yes")


def test_tree_chain_of_two_groups_second_group_revoked(cluster, cluster_env, sample_app) -> None:
    from celery import chain, group

    from sample_proj.tasks import add

    c = chain(group(add.si(1, 1), add.si(2, 2)), group(add.si(3, 3), add.si(4, 4))).apply_async(
        countdown=2
    )
    first = [r.id for r in c.parent.results]
    second = [r.id for r in c.results]
    time.sleep(0.3)
    doc = revoke_json("--tree", second[1])
    assert sorted(doc["revoked"]) == sorted(first + second)
    for tid in first:
        assert wait_state(sample_app, tid, "REVOKED") == "REVOKED"
    time.sleep(0.5)
    assert all(state(sample_app, t) != "SUCCESS" for t in second)


def test_tree_nothing_left_exit_1(cluster, cluster_env, sample_app) -> None:
    from celery import chain

    from sample_proj.tasks import add

    c = chain(add.si(1, 1), add.si(2, 2)).apply_async()
    assert c.get(timeout=10) == 4
    res = invoke("revoke", "--tree", c.id)
    assert res.exit_code == 1 and "nothing left" in res.stderr


def _drop_backend(app) -> None:
    """Celery 5.7 caches the result backend in _backend_cache / _local.backend."""
    app._backend_cache = None
    if hasattr(app._local, "backend"):
        del app._local.backend


@pytest.fixture
def private_app(make_cluster: Callable, monkeypatch: pytest.MonkeyPatch):
    """One worker (2 slots) of our own: terminating tasks does not disturb the session cluster."""
    from sample_proj import app

    c = make_cluster(workers=("tango",), concurrency=2)
    monkeypatch.setenv("CELERY_BROKER_URL", c.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", c.backend_url)
    saved = app.conf.broker_url, app.conf.result_backend
    app.conf.broker_url, app.conf.result_backend = c.broker_url, c.backend_url
    # other tests may have pinned these on the shared app (Celery reads them first)
    app.conf.broker_read_url = app.conf.broker_write_url = c.broker_url
    app.backend_cls = None
    app._pool = None
    app.__dict__.pop("backend", None)
    app.__dict__.pop("amqp", None)
    _drop_backend(app)
    try:
        yield app
    finally:
        app.conf.broker_url, app.conf.result_backend = saved
        app.conf.broker_read_url = app.conf.broker_write_url = None
        app._pool = None
        app.__dict__.pop("backend", None)
        app.__dict__.pop("amqp", None)
        _drop_backend(app)


def test_tree_terminate_running_middle_step_and_running_second_group(private_app) -> None:
    from celery import chain, group

    from sample_proj.tasks import add, sleepy

    # a 3-step chain whose running middle step is terminated
    c = chain(add.si(1, 1), sleepy.si(20), add.si(2, 2)).apply_async()
    first, middle, last = c.parent.parent.id, c.parent.id, c.id
    wait_active(private_app, [middle])
    started = time.monotonic()
    doc = revoke_json("--tree", "--terminate", middle)
    assert middle in doc["revoked"] and first not in doc["revoked"]
    assert doc["terminate"] is True and doc["signal"] == "SIGTERM"
    assert wait_state(private_app, middle, "REVOKED") == "REVOKED"
    assert time.monotonic() - started < 8
    assert state(private_app, first) == "SUCCESS"
    time.sleep(0.5)
    assert state(private_app, last) == "PENDING"

    # a chain of two groups; the second group is terminated while running
    c = chain(group(add.si(1, 1), add.si(2, 2)), group(sleepy.si(20), sleepy.si(20))).apply_async()
    first_group = [r.id for r in c.parent.results]
    second_group = [r.id for r in c.results]
    wait_active(private_app, second_group)
    doc = revoke_json("--tree", "--terminate", "--signal", "KILL", second_group[0])
    assert sorted(doc["revoked"]) == sorted(second_group)
    assert doc["signal"] == "SIGKILL"
    for tid in second_group:
        assert wait_state(private_app, tid, "REVOKED") == "REVOKED"
    assert all(state(private_app, t) == "SUCCESS" for t in first_group)
