"""``ctl tasks``: history from the result backend, against real workers and real backends.

Every listing is checked side by side with what Celery's own ``AsyncResult``
reads for the same ids.  Redis (the session cluster and private servers with
results stored through Celery's own backend API) and Celery's database
backend on SQLite (a real worker writing to it).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from celery.result import AsyncResult

from console.core.redis_server import EmbeddedRedis, free_port
from tests.cli_runner import invoke

WRITE_COMMANDS = {
    "set", "setex", "psetex", "del", "unlink", "expire", "pexpire", "rpush", "lpush",
    "lpop", "rpop", "hset", "sadd", "srem", "zadd", "incr", "publish", "flushdb",
    "flushall", "rename", "getdel", "getex",
}  # fmt: skip


def _wait(results: list[AsyncResult], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r.ready() for r in results):
            return
        time.sleep(0.1)
    raise AssertionError("tasks did not finish: " + ", ".join(r.state for r in results))


def _tasks_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    res = invoke("tasks", "--json", *args, env=env)
    doc = json.loads(res.stdout) if res.stdout.strip() else None
    return res.exit_code, doc, res.stderr


def test_failures_newest_first_as_celery_reads_them(cluster, cluster_env, sample_app) -> None:
    token = uuid.uuid4().hex[:10]
    failures = []
    for i in range(3):
        failures.append(
            sample_app.send_task(
                "sample_proj.tasks.always_fails",
                kwargs={"reason": f"{token}-{i}"},
                task_id=f"nightly-report-{token}-{i}",  # any string is a task id
            )
        )
        time.sleep(0.05)
    ok = sample_app.send_task("sample_proj.tasks.add", args=(40, 2), kwargs={})
    _wait([*failures, ok])

    code, doc, err = _tasks_json("--state", "FAILURE", "--filter", f"kwargs:{token}")
    assert code == 0, err
    got = doc["tasks"]
    assert [t["id"] for t in got] == [f.id for f in reversed(failures)]  # newest first
    assert doc["complete"] is True and doc["matched"] == 3
    for rec in got:
        celery_view = AsyncResult(rec["id"], app=sample_app)
        assert rec["state"] == celery_view.state == "FAILURE"
        assert rec["exception"]["type"] == type(celery_view.result).__name__ == "ValueError"
        assert rec["exception"]["message"] == str(celery_view.result)
        assert rec["name"] == celery_view.name == "sample_proj.tasks.always_fails"
        assert rec["worker"] in cluster.hostnames
        assert rec["kwargs"] == celery_view.kwargs
        assert rec["traceback"] and "validate" in rec["traceback"]
        assert rec["date_done"] == celery_view.date_done.isoformat()

    # the options and the filter language agree; the success is not a failure
    code, doc, _ = _tasks_json("--name", "sample_proj.tasks.add", "--filter", "args:40")
    assert code == 0 and ok.id in [t["id"] for t in doc["tasks"]]
    assert all(t["state"] == "SUCCESS" for t in doc["tasks"])
    code, doc, _ = _tasks_json("--filter", f"kwargs:{token} -exc:{token}-1", "--since", "5m")
    assert code == 0 and {t["id"] for t in doc["tasks"]} == {failures[0].id, failures[2].id}
    code, doc, _ = _tasks_json("--limit", "1", "--filter", f"kwargs:{token}")
    assert code == 0 and [t["id"] for t in doc["tasks"]] == [failures[2].id]
    assert doc["matched"] == 3


def test_human_table_and_summary(cluster, cluster_env, sample_app) -> None:
    token = uuid.uuid4().hex[:10]
    r = sample_app.send_task("sample_proj.tasks.always_fails", kwargs={"reason": token})
    _wait([r])
    res = invoke("tasks", "-s", "failure", "-f", f"kwargs:{token}")
    assert res.exit_code == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if r.id in ln)
    assert "FAILURE" in line and "sample_proj.tasks.always_fails" in line
    assert f"ValueError: invalid payload: {token}" in line
    assert "1 shown of 1 matching; read" in res.stderr


def test_nothing_matched_exits_1(cluster, cluster_env) -> None:
    code, doc, err = _tasks_json("--filter", f"id:{uuid.uuid4().hex}")
    assert code == 1 and doc["tasks"] == [] and doc["matched"] == 0
    res = invoke("tasks", "--filter", f"id:{uuid.uuid4().hex}")
    assert res.exit_code == 1 and "no stored task matched" in res.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--filter", "result3:x"], "unknown field 'result3'"),
        (["--state", "FAILED"], "unknown state 'FAILED'"),
        (["--since", "yesterday"], "--since: bad time 'yesterday'"),
        (["--filter", "runtime>fast"], "bad number 'fast'"),
    ],
)
def test_bad_input_is_one_line_exit_2(cluster, cluster_env, args: list[str], fragment: str) -> None:
    res = invoke("tasks", *args)
    assert res.exit_code == 2, res.stdout
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctl: error:") and fragment in lines[0]


def test_rpc_backend_cannot_be_listed_exit_2(cluster, cluster_env) -> None:
    res = invoke("--result-backend", "rpc://", "tasks")
    assert res.exit_code == 2
    assert "cannot list tasks of a rpc:// result backend" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_unreachable_backend_exit_3(cluster, cluster_env) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/1"
    started = time.monotonic()
    res = invoke("--result-backend", url, "tasks")
    assert res.exit_code == 3, res.stderr
    assert time.monotonic() - started < 5
    assert "s3cret-pw" not in res.stderr + res.stdout
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.fixture
def backend_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis().start()
    try:
        yield server
    finally:
        server.stop()


def _store(
    url: str, count: int, *, state: str = "SUCCESS", result: Any = 1, prefix: str = "stored"
) -> list[str]:
    """Store ``count`` results through Celery's own Redis backend (as workers do)."""
    app = Celery("store", backend=url, set_as_current=False)
    app.conf.result_extended = True
    backend = app.backend
    ids = []
    for i in range(count):
        tid = f"{prefix}-{i:06d}"
        backend.store_result(tid, result, state)
        ids.append(tid)
    return ids


def test_scan_limit_says_what_it_read(backend_redis) -> None:
    url = backend_redis.url_for(1)
    _store(url, 2_500)
    env = {"CELERY_RESULT_BACKEND": url, "CELERY_BROKER_URL": backend_redis.url}
    code, doc, _ = _tasks_json("--scan-limit", "1000", env=env)
    assert code == 0
    assert doc["scanned"] == 1000 and doc["complete"] is False and doc["stopped"] == "scan limit"
    assert doc["total"] == 2_500
    res = invoke("tasks", "--scan-limit", "1000", env=env)
    assert "read 1,000 of ~2,500 keys; stopped at the scan limit" in res.stderr
    code, doc, _ = _tasks_json(env=env)
    assert doc["scanned"] == 2_500 and doc["complete"] is True and len(doc["tasks"]) == 50


def test_big_results_are_cut_with_the_size(backend_redis) -> None:
    url = backend_redis.url_for(1)
    [tid] = _store(url, 1, result="x" * 100_000)
    env = {"CELERY_RESULT_BACKEND": url, "CELERY_BROKER_URL": backend_redis.url}
    code, doc, _ = _tasks_json(env=env)
    rec = doc["tasks"][0]
    assert rec["id"] == tid and len(rec["result"]) == 4096
    assert rec["truncated"] == {"result": 100_000 - 4096}
    res = invoke("tasks", env=env)
    assert res.exit_code == 0 and len(res.stdout) < 2_000


def test_listing_never_writes(backend_redis) -> None:
    url = backend_redis.url_for(1)
    _store(url, 300)
    _store(url, 5, state="FAILURE", result=ValueError("nope"), prefix="failed")
    client = redis.Redis.from_url(url)
    keys_before = sorted(client.scan_iter(count=1000))
    before = client.info("commandstats")
    env = {"CELERY_RESULT_BACKEND": url, "CELERY_BROKER_URL": backend_redis.url}
    for args in (["--json"], ["--state", "FAILURE"], ["--filter", "exc:nope", "--json"]):
        assert invoke("tasks", *args, env=env).exit_code == 0
    after = client.info("commandstats")
    written = {
        name.removeprefix("cmdstat_"): stats["calls"] - before.get(name, {}).get("calls", 0)
        for name, stats in after.items()
        if name.removeprefix("cmdstat_") in WRITE_COMMANDS
    }
    assert not {k: v for k, v in written.items() if v}, written
    assert after.get("cmdstat_keys") == before.get("cmdstat_keys")  # never KEYS
    assert after["cmdstat_scan"]["calls"] > before.get("cmdstat_scan", {}).get("calls", 0)
    assert sorted(client.scan_iter(count=1000)) == keys_before


@pytest.fixture(params=["sqlite", "postgresql"])
def database_backend(request, tmp_path) -> Iterator[tuple[str, Any]]:
    """A real database result backend URL and a callable that says whether it was written."""
    if request.param == "sqlite":
        db = tmp_path / "results.sqlite"
        yield f"db+sqlite:///{db}", (lambda: db.stat().st_mtime_ns)
        return
    from tests.pg import EmbeddedPostgres, postgres_available

    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing in CI: .ci/run installs Debian's postgresql")
        pytest.skip("needs Debian's postgresql package (apt-get install postgresql)")
    server = EmbeddedPostgres().start()
    try:
        import psycopg

        def writes() -> int:
            with psycopg.connect(server.url()) as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
                    " WHERE relname = 'celery_taskmeta'"
                )
                row = cur.fetchone()
            return int(row[0]) if row else 0

        yield "db+" + server.url(), writes
    finally:
        server.stop()


def test_database_backend_with_a_real_worker(make_cluster, database_backend, tmp_path) -> None:
    backend, writes = database_backend
    cluster = make_cluster(workers=("solo",), concurrency=1, result_backend=backend)
    app = Celery("client", broker=cluster.broker_url, backend=backend, set_as_current=False)
    app.conf.broker_read_url = app.conf.broker_write_url = cluster.broker_url
    app.conf.result_extended = True
    token = uuid.uuid4().hex[:8]
    fails = []
    for i in range(2):
        fails.append(
            app.send_task("sample_proj.tasks.always_fails", kwargs={"reason": f"{token}{i}"})
        )
        fails[-1].get(propagate=False, timeout=30)  # distinct date_done, in order
    oks = [app.send_task("sample_proj.tasks.add", args=(i, 1)) for i in range(3)]
    _wait([*fails, *oks])
    env = {"CELERY_RESULT_BACKEND": backend, "CELERY_BROKER_URL": cluster.broker_url}
    time.sleep(1.5)  # let PostgreSQL's statistics collector catch up before the baseline
    written = writes()
    code, doc, err = _tasks_json("--state", "FAILURE", env=env)
    assert code == 0, err
    assert [t["id"] for t in doc["tasks"]] == [f.id for f in reversed(fails)]
    for rec in doc["tasks"]:
        view = AsyncResult(rec["id"], app=app)
        assert rec["state"] == view.state
        assert rec["exception"]["type"] == type(view.result).__name__
        assert rec["exception"]["message"] == str(view.result)
        assert rec["name"] == view.name == "sample_proj.tasks.always_fails"
        assert rec["worker"] == cluster.hostnames[0]
        assert rec["kwargs"] == view.kwargs
    code, doc, _ = _tasks_json("--name", "*.add", "--since", "10m", env=env)
    assert code == 0 and sorted(t["id"] for t in doc["tasks"]) == sorted(r.id for r in oks)
    assert [t["result"] for t in doc["tasks"]] == [AsyncResult(t["id"], app=app).result
                                                   for t in doc["tasks"]]  # fmt: skip
    assert doc["total"] == 5 and doc["complete"] is True
    code, doc, _ = _tasks_json("--filter", f"exc:{token}1", env=env)
    assert code == 0 and [t["id"] for t in doc["tasks"]] == [fails[1].id]
    time.sleep(1.5)
    assert writes() == written  # nothing written


def test_database_without_a_task_table_reads_as_empty(tmp_path) -> None:
    empty = f"db+sqlite:///{tmp_path / 'empty.sqlite'}"
    code, doc, _ = _tasks_json(env={"CELERY_RESULT_BACKEND": empty})
    assert code == 1 and doc["tasks"] == [] and doc["total"] == 0
