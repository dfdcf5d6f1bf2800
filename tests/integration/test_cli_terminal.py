"""``ctl`` as a real process on terminals, pipes and closed descriptors (issues 15.8, 16.8).

Every test runs ``python -m cli.main`` in a subprocess: prompts on a real
pseudo-terminal answered with Ctrl-C / Ctrl-D, stdin closed, stdout a pipe
whose reader goes away, ``COLUMNS`` off a terminal.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from typing import Any

import pytest

from console.core.redis_server import free_port

CTL = [sys.executable, "-m", "cli.main"]
DEAD_BROKER = f"redis://127.0.0.1:{free_port()}/0"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CTL_"))}
    env.update({"NO_COLOR": "1", "CELERY_BROKER_URL": DEAD_BROKER, **extra})
    return env


def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", _env())
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [*CTL, *args], capture_output=True, text=True, timeout=60, check=False, **kwargs
    )


def _read_until(fd: int, needle: bytes, timeout: float = 20.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def _controlling_terminal() -> None:
    # a session of its own with the pty as controlling terminal: Ctrl-C is SIGINT
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def on_a_terminal(args: list[str], keys: bytes, prompt: bytes) -> tuple[int, str]:
    """Run ctl with stdin/stdout/stderr on a pty; send ``keys`` once ``prompt`` shows."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*CTL, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=_env(),
        close_fds=True,
        preexec_fn=_controlling_terminal,
    )
    os.close(slave)
    try:
        seen = _read_until(master, prompt)
        assert prompt in seen, seen.decode(errors="replace")
        os.write(master, keys)
        code = proc.wait(20)
        seen += _read_until(master, b"\x00", timeout=0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
    return code, seen.decode(errors="replace")


SHRINK = ["control", "pool-shrink"]  # asks before it needs the broker


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_and_ctrl_d_at_a_prompt_abort_with_130(key: bytes) -> None:
    code, screen = on_a_terminal(SHRINK, key, b"Continue?")
    assert code == 130, screen
    assert "ctl: aborted" in screen
    assert "Traceback" not in screen


def test_stdin_closed_at_a_prompt_means_no() -> None:
    proc = run(*SHRINK, stdin=None, pass_fds=(), preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "AttributeError" not in proc.stderr
    assert proc.stderr.strip().startswith("ctl: error:") and "--yes" in proc.stderr


def test_dash_h_is_help_and_version() -> None:
    for args in (["-h"], ["status", "-h"], ["control", "rate-limit", "-h"]):
        proc = run(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Usage: ctl" in proc.stdout
    version = run("--version")
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"ctl \d+\.\d+\S*\n", version.stdout), version.stdout


def test_help_shows_placeholders_and_points_at_nothing_missing() -> None:
    commands = [
        [],
        ["status"],
        ["inspect"],
        ["result"],
        ["tasks"],
        ["revoke"],
        ["purge"],
        ["beat"],
        ["events"],
        ["console"],
        ["contexts"],
        ["control", "rate-limit"],
        ["retry"],
        ["send"],
    ]
    for args in commands:
        proc = run(*args, "--help", env=_env(COLUMNS="200"))
        assert proc.returncode == 0, (args, proc.stderr)
        text = proc.stdout
        assert not re.search(r"<(bool|str|int|float|list\[[a-z]+\])", text), (args, text)
        assert "docs/" not in text and "README" not in text, (args, text)
    inspect = run("inspect", "--help", env=_env(COLUMNS="200")).stdout
    assert re.search(r"-d\s+WORKER", inspect) and re.search(r"-t\s+SECONDS", inspect)


def test_columns_is_honoured_off_a_terminal_and_no_trailing_spaces() -> None:
    for columns in ("60", "100"):
        proc = run("--help", env=_env(COLUMNS=columns))
        assert proc.returncode == 0
        lines = proc.stdout.splitlines()
        assert max(len(line) for line in lines) <= int(columns), proc.stdout
        assert all(line == line.rstrip() for line in lines), [
            line for line in lines if line != line.rstrip()
        ][:3]


def test_broken_pipe_exits_quietly() -> None:
    # `ctl --help | head -1`, `ctl ... | true`: the reader goes away mid-output
    for args in (["--help"], ["inspect", "--help"]):
        proc = subprocess.Popen(
            [*CTL, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=_env(COLUMNS="80"),
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()
        code = proc.wait(30)
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert code == 0, err
        assert err == "", err


def test_broken_pipe_on_a_real_cluster_table(cluster, cluster_env) -> None:
    env = _env(**cluster_env, COLUMNS="80")
    shell = f"{' '.join(CTL)} inspect conf | head -1 >/dev/null; echo rc=${{PIPESTATUS[0]}}"
    proc = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert "rc=0" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr


def test_console_without_a_terminal_exits_2_at_once(tmp_path) -> None:
    started = time.monotonic()
    proc = run("console")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert time.monotonic() - started < 15
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "terminal" in lines[0], proc.stderr


@pytest.mark.parametrize("kind", ["directory", "corrupt-gz", "not-gzip"])
def test_replay_of_a_directory_or_corrupt_file_exits_2(tmp_path, kind: str) -> None:
    if kind == "directory":
        target = tmp_path / "recordings"
        target.mkdir()
    elif kind == "corrupt-gz":
        target = tmp_path / "bad.jsonl.gz"
        good = gzip.compress(b'{"type": "worker-online", "hostname": "a@b"}\n' * 50)
        target.write_bytes(good[:20] + b"\x00garbage\xff" * 20)
    else:
        target = tmp_path / "plain.jsonl.gz"
        target.write_bytes(b"this is not gzip at all\n")
    master, slave = pty.openpty()  # on a terminal, so only the file can be at fault
    try:
        proc = subprocess.run(
            [*CTL, "console", "--replay", str(target)],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=_env(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(target.name) in lines[0]


EPOCH = re.compile(r"\b1[6-9]\d{8}\.\d+")  # an epoch float such as 1796304194.57


def test_inspect_human_tables_are_readable(cluster, cluster_env, sample_app) -> None:
    from sample_proj.tasks import sleepy

    env = _env(**cluster_env, COLUMNS="200")
    r = sleepy.delay(4)
    try:
        deadline = time.monotonic() + 10
        active = ""
        while time.monotonic() < deadline:
            active = run("inspect", "active", env=env).stdout
            if r.id in active:
                break
            time.sleep(0.2)
        assert r.id in active, active
        assert not EPOCH.search(active), active
        assert re.search(r"started \(\w+\)", active) and re.search(r"\d\d:\d\d:\d\d", active)
        assert re.search(r"│ \d+(\.\d)?s\s+│", active), active  # runtime column
    finally:
        r.revoke(terminate=True)
    stats = run("inspect", "stats", env=env).stdout
    assert re.search(r"prefork x2", stats) and "uptime" in stats and '"rusage"' not in stats
    registered = run("inspect", "registered", env=env).stdout
    assert re.search(r"│ sample_proj\.tasks\.add\s+│ all\s+│", registered), registered
    queues = run("inspect", "active-queues", env=env).stdout
    assert re.search(r"│ celery\s+│ celery\s+│ direct\s+│ celery\s+│ yes", queues), queues
    conf = run("inspect", "conf", env=env).stdout
    assert re.search(r"│ accept_content\s+│ \[\"json\"\]", conf), conf
    revoked = run("inspect", "revoked", env=env).stdout
    assert re.search(r"revoked task id", revoked) and r.id in revoked, revoked
    for what in ("stats", "registered", "active-queues", "conf", "revoked"):
        doc = run("inspect", what, "--json", env=env)
        assert set(json.loads(doc.stdout)) == set(cluster.hostnames)
    narrow = run("inspect", "conf", env=_env(**cluster_env, COLUMNS="70")).stdout.splitlines()
    assert narrow and max(len(line) for line in narrow) <= 70
    assert all(line == line.rstrip() for line in narrow)
