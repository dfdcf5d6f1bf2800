"""``ctl retry`` and ``ctl send`` on real workers: what is re-sent is what ran, exactly."""

from __future__ import annotations

import json
import time
import uuid

from celery.result import AsyncResult

from tests.cli_runner import invoke


def _wait(result: AsyncResult, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not result.ready() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert result.ready(), f"{result.id} still {result.state}"


def test_retry_a_failure_resends_the_same_call(cluster, cluster_env, sample_app) -> None:
    token = uuid.uuid4().hex[:8]
    failed = sample_app.send_task(
        "sample_proj.tasks.always_fails", kwargs={"reason": token}, queue="images"
    )
    _wait(failed)
    res = invoke("retry", failed.id, "--yes", "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["refused"] == {} and list(doc["retried"]) == [failed.id]
    new = AsyncResult(doc["retried"][failed.id], app=sample_app)
    assert new.id != failed.id
    _wait(new)
    old = AsyncResult(failed.id, app=sample_app)
    assert (new.name, new.args, new.kwargs) == (old.name, old.args, old.kwargs)
    assert new.queue == old.queue == "images"
    assert new.state == "FAILURE" and str(new.result) == str(old.result)


def test_human_output_and_refusals(cluster, cluster_env, sample_app) -> None:
    ok = sample_app.send_task("sample_proj.tasks.add", args=(20, 22))
    _wait(ok)
    # a record without name/args: what a worker of an app without result_extended stores
    bare = str(uuid.uuid4())
    backend = sample_app.backend
    sample_app.conf.result_extended = False
    try:
        backend.store_result(bare, 1, "SUCCESS")
    finally:
        sample_app.conf.result_extended = True
    nowhere = str(uuid.uuid4())
    res = invoke("retry", ok.id, bare, nowhere, "--yes")
    assert res.exit_code == 1
    [line] = res.stdout.strip().splitlines()
    old, new = line.split(" -> ")
    assert old == ok.id and AsyncResult(new, app=sample_app).get(timeout=30) == 42
    assert f"not retried: the backend has {bare} (SUCCESS) but not its name" in res.stderr
    assert "result_extended" in res.stderr
    assert f"not retried: {nowhere} was found nowhere" in res.stderr


def test_unfinished_task_is_refused(cluster, cluster_env, sample_app) -> None:
    running = sample_app.send_task("sample_proj.tasks.sleepy", kwargs={"seconds": 20})
    try:
        deadline = time.monotonic() + 20
        while running.state != "STARTED" and time.monotonic() < deadline:
            time.sleep(0.1)
        res = invoke("retry", running.id, "--yes", "--json")
        assert res.exit_code == 1
        doc = json.loads(res.stdout)
        assert doc["retried"] == {}
        assert "STARTED: not finished (revoke it first)" in doc["refused"][running.id]
    finally:
        invoke("revoke", running.id, "--terminate", "-s", "SIGKILL")


def test_retry_needs_yes_off_a_terminal_and_is_refused_read_only(
    cluster, cluster_env, sample_app
) -> None:
    ok = sample_app.send_task("sample_proj.tasks.add", args=(1, 1))
    _wait(ok)
    res = invoke("retry", ok.id)
    assert res.exit_code == 2 and "refusing to send without --yes" in res.stderr
    res = invoke("--read-only", "retry", ok.id, "--yes")
    assert res.exit_code == 2 and "read-only" in res.stderr
    res = invoke("retry", "--stdin", "--yes", "--json", input=f"{ok.id}\n\n{ok.id}\n")
    assert res.exit_code == 0 and list(json.loads(res.stdout)["retried"]) == [ok.id]


def test_send_by_name(cluster, cluster_env, sample_app) -> None:
    res = invoke("send", "sample_proj.tasks.add", "--args", "[2, 3]", "--yes", "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert AsyncResult(doc["id"], app=sample_app).get(timeout=30) == 5
    assert doc["name"] == "sample_proj.tasks.add" and doc["args"] == [2, 3]

    res = invoke("send", "sample_proj.tasks.xsum", "-k", '{"numbers": [1, 2, 3]}', "-y")
    assert res.exit_code == 0
    assert AsyncResult(res.stdout.strip(), app=sample_app).get(timeout=30) == 6


def test_send_with_countdown_is_scheduled(cluster, cluster_env, sample_app) -> None:
    res = invoke("send", "sample_proj.tasks.add", "-a", "[1, 2]", "--countdown", "60", "-y")
    assert res.exit_code == 0, res.stderr
    new_id = res.stdout.strip()
    try:
        deadline = time.monotonic() + 10
        found = False
        while not found and time.monotonic() < deadline:
            doc = json.loads(invoke("inspect", "scheduled", "--json", "-t", "3").stdout)
            found = any(e["request"]["id"] == new_id for v in doc.values() for e in v)
            time.sleep(0.2)
        assert found, "the countdown task is not in any worker's scheduled list"
    finally:
        invoke("revoke", new_id)


def test_send_refuses_unknown_names_and_bad_json(cluster, cluster_env) -> None:
    res = invoke("send", "sample_proj.tasks.ad", "--yes")
    assert res.exit_code == 1
    assert "no live worker has sample_proj.tasks.ad registered" in res.stderr
    for args, fragment in (
        (["--args", "[1, 2"], "--args: not JSON"),
        (["--args", '{"a": 1}'], "--args: a JSON array expected"),
        (["--kwargs", "[1]"], "--kwargs: a JSON object expected"),
        (["--countdown", "5", "--eta", "2030-01-01T00:00"], "not both"),
        (["--eta", "tomorrow"], "--eta: bad time"),
    ):
        res = invoke("send", "sample_proj.tasks.add", *args, "--yes")
        assert res.exit_code == 2, (args, res.stderr)
        assert fragment in res.stderr and len(res.stderr.strip().splitlines()) == 1
