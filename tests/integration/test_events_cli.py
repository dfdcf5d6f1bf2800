"""``ctl events`` against a real cluster: JSON lines, filters, recording, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.core.recording import RecordingReader
from tests.integration.test_intake_parse import new_state

pytestmark = pytest.mark.integration

CTL = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parents[2]


def ctl_env(cluster) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CELERY_BROKER_URL=cluster.broker_url,
        CELERY_RESULT_BACKEND=cluster.backend_url,
        NO_COLOR="1",
        PYTHONPATH=str(ROOT),
    )
    return env


def start_ctl(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT)
    )


def send_until_done(proc: subprocess.Popen[bytes], sample_app, timeout: float = 30.0):
    """Send tasks while ``ctl events`` runs, until it exits by itself."""
    sent = []
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        sent.append(sample_app.send_task("sample_proj.tasks.add", args=(len(sent), 1)))
        time.sleep(0.05)
    out, err = proc.communicate(timeout=10)
    return sent, out, err


def test_limit_outputs_json_lines_and_record_replays_same_events(cluster, sample_app, tmp_path):
    record = tmp_path / "events.jsonl.gz"
    proc = start_ctl(
        ["events", "--limit", "40", "--record", str(record), "--duration", "25"], ctl_env(cluster)
    )
    sent, out, err = send_until_done(proc, sample_app)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 40
    events = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) and isinstance(e["type"], str) for e in events)
    assert any(e["type"].startswith("task-") for e in events)
    assert record.read_bytes()[:2] == b"\x1f\x8b"
    reader = RecordingReader(record)
    assert list(reader) == events
    assert reader.malformed == 0
    assert cluster.broker_url not in record.read_bytes().decode("latin-1")


def test_type_filter_with_globs(cluster, sample_app):
    proc = start_ctl(
        [
            "events",
            "-T",
            "task-succ*",
            "--type",
            "task-received",
            "--limit",
            "6",
            "--duration",
            "25",
        ],
        ctl_env(cluster),
    )
    _, out, err = send_until_done(proc, sample_app)
    assert proc.returncode == 0, err.decode()
    kinds = {json.loads(line)["type"] for line in out.decode().splitlines()}
    assert kinds and kinds <= {"task-succeeded", "task-received"}


def test_duration_stops_by_itself(cluster):
    t0 = time.monotonic()
    proc = subprocess.run(
        [*CTL, "events", "--type", "no-such-event", "--duration", "1.5"],
        env=ctl_env(cluster),
        cwd=str(ROOT),
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    assert 1.4 < time.monotonic() - t0 < 15


@pytest.mark.parametrize("source", ["auto", "kombu"])
def test_unreachable_broker_exit_3_one_line_masked(source, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    env.pop("CELERY_RESULT_BACKEND", None)
    url = "redis://:topsecretpw@127.0.0.1:1/0"
    proc = subprocess.run(
        [*CTL, "--broker", url, "events", "--source", source, "--limit", "1"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        timeout=60,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert "topsecretpw" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "unreachable" in err and "***" in err
    assert proc.stdout == b""


def test_ctrl_c_exits_0(cluster):
    import signal

    proc = start_ctl(["events"], ctl_env(cluster))
    time.sleep(2.5)  # started and following (heartbeats flow)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    for line in out.decode().splitlines():
        json.loads(line)


def test_recorded_real_traffic_replays_to_the_same_state(cluster, sample_app, tmp_path):
    """Record with ``ctl events --record``, replay with ReplayFeed: same task states."""
    from celery import chain, group

    from console.core.clock import FixedClock
    from console.core.feed import ReplayFeed

    record = tmp_path / "traffic.jsonl"
    proc = start_ctl(["events", "--record", str(record), "--duration", "60"], ctl_env(cluster))
    time.sleep(1.5)
    results = [sample_app.send_task("sample_proj.tasks.add", args=(i, i)) for i in range(5)]
    results.append(
        chain(
            sample_app.signature("sample_proj.tasks.add", args=(1, 1)),
            sample_app.signature("sample_proj.tasks.mul", args=(10,)),
        ).apply_async()
    )
    g = group(
        sample_app.signature("sample_proj.tasks.xsum", args=([i, 1],)) for i in range(3)
    ).apply_async()
    bad = sample_app.send_task("sample_proj.tasks.always_fails")
    for r in results:
        r.get(timeout=20)
    g.get(timeout=20)
    with pytest.raises(Exception):  # noqa: B017 - any task failure
        bad.get(timeout=20)
    time.sleep(1.0)  # the last events reach ctl events
    proc.send_signal(__import__("signal").SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()

    live_events = [json.loads(line) for line in out.decode().splitlines()]
    expected = new_state(max_tasks=10_000)
    expected.apply_batch(live_events)

    clock = FixedClock()
    feed = ReplayFeed(record, speed=0, clock=clock, state=new_state(max_tasks=100_000, clock=clock))
    assert feed.load_all() == len(live_events)
    delta = feed.poll()
    assert delta is not None and delta.full
    rows = {row.uuid: row for row in delta.tasks}
    ids = [r.id for r in results] + [r.id for r in g.results] + [bad.id, results[-1].parent.id]
    for uid in ids:
        assert rows[uid].state == expected.task_row(uid).state
        assert rows[uid] == expected.task_row(uid)
    assert rows[bad.id].state == "FAILURE"
    assert all(rows[r.id].state == "SUCCESS" for r in results)
    assert feed.status.mode == "replay-done"
    assert feed.poll() is None  # nothing new


HOSTILE = "evil\x7f\x9b31m\u202egnp.exe\u200b\u2066x\u2069\ufeff"


def _dispatch(sample_app, type_: str, **fields) -> None:
    with sample_app.events.default_dispatcher(hostname="forger@x") as dispatcher:
        dispatcher.send(type_, **fields)


def _run_on_pty(args: list[str], env: dict[str, str], send) -> tuple[int, bytes, bytes]:
    """Run ctl with stdout on a pseudo-terminal; ``send()`` runs while it follows."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*CTL, *args], stdout=slave, stderr=subprocess.PIPE, env=env, cwd=str(ROOT)
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 30
    sent_at = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        if sent_at and time.monotonic() > sent_at:
            send()
            sent_at = 0.0
        import select

        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(10)
    err = proc.stderr.read() if proc.stderr else b""
    os.close(master)
    return proc.returncode, b"".join(chunks), err


def test_terminal_output_shows_controls_bidi_zero_width_and_del(cluster, sample_app):
    """On a terminal nothing JSON leaves raw reaches it: \\u escapes, same document."""
    code, out, err = _run_on_pty(
        ["events", "-T", "task-hostile", "-n", "1", "-t", "20"],
        ctl_env(cluster),
        lambda: _dispatch(sample_app, "task-hostile", uuid="u-1", name=HOSTILE),
    )
    assert code == 0, err.decode()
    text = out.decode("utf-8")
    for ch in "\x7f\x9b\u202e\u200b\u2066\u2069\ufeff":
        assert ch not in text, repr(ch)
    assert "\\u202e" in text and "\\u009b" in text and "\\u007f" in text
    doc = json.loads(text.strip().splitlines()[-1])
    assert doc["name"] == HOSTILE


def test_pipe_output_keeps_json_unchanged(cluster, sample_app):
    proc = start_ctl(["events", "-T", "task-hostile", "-n", "1", "-t", "20"], ctl_env(cluster))
    time.sleep(1.5)
    _dispatch(sample_app, "task-hostile", uuid="u-2", name=HOSTILE)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out.decode().splitlines()[0])["name"] == HOSTILE


def test_event_too_deep_to_serialize_is_truncated_and_recorded(cluster, sample_app, tmp_path):
    """Nesting deeper than the JSON encoder allows: printed and recorded marked, ctl goes on."""
    deep: list = []
    node = deep
    for _ in range(400):
        node.append([])
        node = node[0]
    record = tmp_path / "deep.jsonl"
    proc = start_ctl(
        ["events", "-T", "task-deep*", "-n", "2", "-t", "25", "--record", str(record)],
        ctl_env(cluster),
    )
    time.sleep(1.5)
    _dispatch(sample_app, "task-deep", uuid="d-1", args=deep)
    _dispatch(sample_app, "task-deep-after", uuid="d-2", args=[1])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["type"] for e in lines] == ["task-deep", "task-deep-after"]
    assert lines[0]["ctl_truncated"] is True and "ctl_truncated" not in lines[1]
    recorded = list(RecordingReader(record))
    assert [e["type"] for e in recorded] == ["task-deep", "task-deep-after"]
    assert recorded[0]["ctl_truncated"] is True


def test_record_on_a_full_disk_is_local_io_error_exit_6(cluster):
    proc = subprocess.run(
        [*CTL, "events", "--record", "/dev/full", "-t", "8"],
        env=ctl_env(cluster),
        cwd=str(ROOT),
        capture_output=True,
        timeout=60,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 6, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0], err
    assert "unreachable" not in err and "Traceback" not in err


def test_dash_t_is_seconds_like_everywhere_else(cluster):
    t0 = time.monotonic()
    proc = subprocess.run(
        [*CTL, "events", "-T", "no-such-event", "-t", "1.5"],
        env=ctl_env(cluster),
        cwd=str(ROOT),
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert 1.4 < time.monotonic() - t0 < 15
    bad = subprocess.run(
        [*CTL, "events", "-t", "task-failed"], env=ctl_env(cluster), cwd=str(ROOT),
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr
    inf = subprocess.run(
        [*CTL, "events", "-t", "inf"], env=ctl_env(cluster), cwd=str(ROOT),
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert inf.returncode == 2 and b"finite" in inf.stderr
