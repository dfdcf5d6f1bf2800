"""ctl status / inspect / result / purge against the real session cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from console.core.redis_server import EmbeddedRedis
from tests.cli_runner import invoke

ROOT = Path(__file__).resolve().parents[2]
CTL = str(Path(sys.executable).with_name("ctl"))
CELERY = str(Path(sys.executable).with_name("celery"))


def test_status_json_shape_and_early_return(cluster, cluster_env) -> None:
    started = time.monotonic()
    res = invoke("status", "--json", "--timeout", "5")
    elapsed = time.monotonic() - started
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == {h: {"ok": "pong"} for h in cluster.hostnames}
    assert elapsed < 2.5, f"status waited {elapsed:.2f}s although every worker answered"


def test_status_human_lists_workers_with_latency(cluster, cluster_env) -> None:
    res = invoke("status")
    assert res.exit_code == 0
    for host in cluster.hostnames:
        assert host in res.stdout
    assert "2 nodes online" in res.stdout and "latency ms" in res.stdout


@pytest.mark.parametrize(
    "what",
    [
        "active",
        "reserved",
        "scheduled",
        "revoked",
        "stats",
        "registered",
        "active-queues",
        "ping",
        "conf",
        "report",
        "clock",
    ],
)
def test_inspect_every_method_json(cluster, cluster_env, what: str) -> None:
    res = invoke("inspect", what, "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert sorted(doc) == sorted(cluster.hostnames)
    human = invoke("inspect", what)
    assert human.exit_code == 0 and cluster.hostnames[0] in human.stdout


def test_inspect_registered_and_query_task(cluster, cluster_env, sample_app) -> None:
    from sample_proj.tasks import sleepy

    doc = json.loads(invoke("inspect", "registered", "--json").stdout)
    assert "sample_proj.tasks.add" in doc[cluster.hostnames[0]]
    r = sleepy.delay(1.5)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            active = json.loads(invoke("inspect", "active", "--json").stdout)
            if any(t["id"] == r.id for tasks in active.values() for t in tasks):
                break
            time.sleep(0.1)
        else:
            pytest.fail("sleepy never showed up in inspect active")
        q = invoke("inspect", "query-task", r.id, "--json")
        assert q.exit_code == 0
        states = [reply.get(r.id, [None])[0] for reply in json.loads(q.stdout).values()]
        assert "active" in states
        human = invoke("inspect", "active")
        assert r.id in human.stdout and "sample_proj.tasks.sleepy" in human.stdout
    finally:
        r.get(timeout=10)


def test_inspect_destination_and_unknown_destination(cluster, cluster_env) -> None:
    alpha = cluster.hostnames[0]
    res = invoke("inspect", "ping", "-d", alpha, "--json")
    assert res.exit_code == 0 and list(json.loads(res.stdout)) == [alpha]
    started = time.monotonic()
    res = invoke(
        "inspect", "ping", "-d", alpha, "-d", "ghost@nowhere", "--timeout", "0.5", "--json"
    )
    assert time.monotonic() - started < 2.0
    assert res.exit_code == 1
    assert list(json.loads(res.stdout)) == [alpha]
    assert "ghost@nowhere" in res.stderr
    res = invoke("status", "-d", "ghost@nowhere", "--timeout", "0.3")
    assert res.exit_code == 1 and "ghost@nowhere" in res.stderr


def test_inspect_json_matches_stock_celery(cluster, cluster_env) -> None:
    env = {**os.environ, **cluster_env, "PYTHONPATH": str(ROOT)}
    stock = subprocess.run(
        [CELERY, "-A", "sample_proj", "inspect", "registered", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        cwd=ROOT,
    )
    ours = subprocess.run(
        [CTL, "inspect", "registered", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        cwd=ROOT,
    )
    assert ours.returncode == 0, ours.stderr
    assert json.loads(ours.stdout) == json.loads(stock.stdout.strip().splitlines()[-1])


def test_status_does_not_import_textual(cluster, cluster_env) -> None:
    probe = (
        "import sys\nfrom cli.main import main\nsys.argv=['ctl','status','--json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('TEXTUAL', sorted(m for m in sys.modules if m.split('.')[0]=='textual'), file=sys.stderr)\n"
    )
    env = {**os.environ, **cluster_env}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=30, cwd=ROOT
    )
    assert "TEXTUAL []" in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)


def test_dead_broker_fails_fast(cluster) -> None:
    server = EmbeddedRedis().start()
    url = server.url
    server.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
    for args in (["status"], ["inspect", "active", "--json"], ["purge", "--dry-run"]):
        started = time.monotonic()
        proc = subprocess.run(
            [CTL, "--broker", url, *args], capture_output=True, text=True, env=env, timeout=30
        )
        elapsed = time.monotonic() - started
        assert proc.returncode == 3, (args, proc.stderr)
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "unreachable" in proc.stderr
        assert elapsed < 1.5, f"{args}: {elapsed:.2f}s"
    proc = subprocess.run(
        [CTL, "--result-backend", url, "--broker", cluster.broker_url, "result", str(uuid.uuid4())],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 3 and "result backend unreachable" in proc.stderr


def test_result_success_failure_unknown(cluster, cluster_env, sample_app) -> None:
    from sample_proj.tasks import add, always_fails

    ok = add.delay(20, 22)
    bad = always_fails.delay("evil\x1b[2J")
    assert ok.get(timeout=10) == 42
    with pytest.raises(Exception):  # noqa: B017
        bad.get(timeout=10)
    doc = json.loads(invoke("result", ok.id, "--json").stdout)
    assert doc["state"] == "SUCCESS" and doc["result"] == 42 and doc["args"] == [20, 22]
    assert doc["name"] == "sample_proj.tasks.add" and doc["worker"] in cluster.hostnames
    assert doc["date_done"] and doc["retries"] == 0 and doc["known"] is True
    res = invoke("result", bad.id)
    assert res.exit_code == 0
    assert "FAILURE" in res.stdout and "ValueError" in res.stdout
    assert "\x1b" not in res.stdout and "\\x1b" in res.stdout
    res = invoke("result", bad.id, "--wait", "--timeout", "2")
    assert res.exit_code == 4
    unknown = str(uuid.uuid4())
    started = time.monotonic()
    res = invoke("result", unknown, "--json")
    assert time.monotonic() - started < 2
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["state"] == "PENDING" and doc["known"] is False
    assert "may be unknown" in res.stderr


def test_result_wait_completes_and_times_out(cluster, cluster_env, sample_app) -> None:
    from celery import chain

    from sample_proj.tasks import add, sleepy

    c = chain(add.si(1, 1), add.si(2, 2)).apply_async()
    res = invoke("result", c.id, "--wait", "--timeout", "10", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["result"] == 4
    parent = json.loads(invoke("result", c.parent.id, "--json").stdout)
    assert [ch["id"] for ch in parent["children"]] == [c.id]
    s = sleepy.delay(1.0)
    started = time.monotonic()
    res = invoke("result", s.id, "--wait", "--timeout", "0.3")
    assert res.exit_code == 5 and time.monotonic() - started < 2
    s.get(timeout=10)


def test_purge_counts_priorities_refuses_without_yes(cluster, cluster_env, sample_app) -> None:
    from sample_proj.tasks import add

    queue = f"ctl-test-{uuid.uuid4().hex[:8]}"
    for priority in (0, 3, 9, 9):
        add.apply_async((1, 1), queue=queue, priority=priority)
    res = invoke("purge", "-Q", queue, "--dry-run", "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["queues"][0]["messages"] == 4
    assert doc["queues"][0]["by_priority"] == {"0": 1, "3": 1, "9": 2}
    assert doc["queues"][0]["consumers"] == 0
    refused = invoke("purge", "-Q", queue)
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    res = invoke("purge", "-Q", queue, "--yes", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["total_purged"] == 4
    again = invoke("purge", "-Q", queue, "--yes")
    assert again.exit_code == 1
    # the workers' own queues show their consumers
    doc = json.loads(invoke("purge", "--dry-run", "--json").stdout)
    celery_q = next(q for q in doc["queues"] if q["name"] == "celery")
    assert celery_q["consumers"] == 2 and sorted(celery_q["workers"]) == sorted(cluster.hostnames)


def test_beat_reads_schedule_state(tmp_path, cluster) -> None:
    import shelve
    from datetime import UTC, datetime, timedelta

    from celery.beat import ScheduleEntry

    from sample_proj import app

    path = str(tmp_path / "celerybeat-schedule")
    last = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with shelve.open(path) as db:
        db["entries"] = {
            "hourly-report": ScheduleEntry(
                name="hourly-report",
                task="sample_proj.tasks.mul",
                last_run_at=last,
                total_run_count=7,
                app=app,
            )
        }
    res = invoke("-A", "sample_proj", "beat", "--schedule-file", path, "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    entry = next(e for e in doc["entries"] if e["name"] == "hourly-report")
    assert doc["state_readable"] is True
    assert entry["total_run_count"] == 7 and entry["last_run_at"] == last.isoformat()
    assert entry["next_run_at"] == (last + timedelta(hours=1)).isoformat()
    # an entry beat has not run yet: its stored time is not a run
    with shelve.open(path) as db:
        entries = db["entries"]
        entries["nightly-cleanup"] = ScheduleEntry(
            name="nightly-cleanup",
            task="sample_proj.tasks.sleepy",
            last_run_at=last,
            total_run_count=0,
            app=app,
        )
        db["entries"] = entries
    res = invoke("-A", "sample_proj", "beat", "--schedule-file", path)
    assert res.exit_code == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if "nightly-cleanup" in ln)
    assert "never" in line and last.isoformat(timespec="seconds") not in line


KOMBU_PATH_APP = """
from celery import Celery

app = Celery("kombupath")
app.conf.accept_content = ["json"]
# an explicit key-layout option makes ctl use kombu instead of its plain-socket path
app.conf.broker_transport_options = {"fanout_prefix": True, "fanout_patterns": True}
"""


def test_kombu_path_with_app_and_raw_path_agree_and_clean_up(
    cluster, cluster_env, tmp_path, monkeypatch
) -> None:
    import redis

    (tmp_path / "ctl_kombupath_app.py").write_text(KOMBU_PATH_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    via_kombu = invoke("-A", "ctl_kombupath_app", "inspect", "ping", "--json")
    assert via_kombu.exit_code == 0, via_kombu.stderr
    with_app = invoke("-A", "sample_proj", "inspect", "ping", "--json")
    bare = invoke("inspect", "ping", "--json")
    assert (
        json.loads(via_kombu.stdout)
        == json.loads(with_app.stdout)
        == json.loads(bare.stdout)
        == {h: {"ok": "pong"} for h in cluster.hostnames}
    )
    from console.core.remote import RemoteControl
    from console.core.settings import ClusterSettings

    rc = RemoteControl(ClusterSettings.resolve(app="ctl_kombupath_app"))
    assert rc._raw_exchange() is None
    started = time.monotonic()
    res = rc.inspect("ping", timeout=5)
    assert res.expected == 2 and time.monotonic() - started < 2.5
    res = rc.inspect("ping", destination=["ghost@nowhere"], timeout=0.3)
    assert res.missing == ["ghost@nowhere"]
    client = redis.Redis.from_url(cluster.broker_url)
    before = client.scard("_kombu.binding.reply.celery.pidbox")
    invoke("status", "--json")
    assert client.scard("_kombu.binding.reply.celery.pidbox") == before
    assert not [k for k in client.keys("*.reply.celery.pidbox") if not k.startswith(b"_kombu")]
    client.close()


def test_slow_worker_is_waited_for_up_to_timeout(make_cluster, monkeypatch) -> None:
    """A solo-pool worker busy with a task answers late: we wait for it, but not past --timeout."""
    c = make_cluster(workers=("slowpoke",), concurrency=1, worker_args=["--pool", "solo"])
    monkeypatch.setenv("CELERY_BROKER_URL", c.broker_url)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", c.backend_url)
    from celery import Celery

    sender = Celery("sender", broker=c.broker_url, backend=c.backend_url, set_as_current=False)
    try:
        sender.send_task("sample_proj.tasks.sleepy", args=(2.0,))
        time.sleep(0.5)  # the solo worker is now inside the task: its pidbox is not served
        started = time.monotonic()
        res = invoke("inspect", "ping", "--timeout", "0.4", "--json")
        assert time.monotonic() - started < 1.5
        assert res.exit_code == 1 and json.loads(res.stdout) == {}
        assert c.hostnames[0] in res.stderr and "no reply from" in res.stderr
        started = time.monotonic()
        res = invoke("inspect", "ping", "--timeout", "6", "--json")
        waited = time.monotonic() - started
        assert res.exit_code == 0, res.stderr
        assert json.loads(res.stdout) == {c.hostnames[0]: {"ok": "pong"}}
        assert 0.3 < waited < 5, waited
    finally:
        sender.close()
