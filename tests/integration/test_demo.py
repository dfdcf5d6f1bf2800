"""``ctl demo --no-console`` as a real process: a working cluster, a clean exit.

The demo runs with a private ``TMPDIR`` so the test can tell that every temp
file it made is gone, and every descendant process is recorded (psutil)
before it is stopped so the test can tell that none survived.  The cluster
is checked with the stock ``celery`` command line, as a user would.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import redis

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class Demo:
    def __init__(self, tmp_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()
        self.stderr_path = tmp_path / "demo.stderr"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CTL_"))}
        env.update(TMPDIR=str(self.tmpdir), NO_COLOR="1", PYTHONUNBUFFERED="1")
        env.update(extra_env or {})
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "ctl"), "demo", "--no-console"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.broker = self.backend = self.env_line = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.env_line:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no broker URL within {timeout}s; stderr: {self.stderr()[-2000:]}")
            if line is None:
                pytest.fail(
                    f"ctl demo exited ({self.proc.wait()}); stderr: {self.stderr()[-2000:]}"
                )
            self.stdout.append(line)
            if line.startswith("Broker: "):
                self.broker = line.split(" ", 1)[1]
            elif line.startswith("Result backend: "):
                self.backend = line.split(": ", 1)[1]
            elif line.startswith("export "):
                self.env_line = line

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def celery(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
        env.update(CELERY_BROKER_URL=self.broker, CELERY_RESULT_BACKEND=self.backend)
        return subprocess.run(
            [str(BIN / "celery"), "-A", "sample_proj", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=self.tmpdir,
        )

    def close(self) -> None:
        if self.proc.poll() is None:  # the test failed half-way: never leave a cluster behind
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                for p in self.descendants():
                    p.kill()
                self.proc.kill()
                self.proc.wait(5)
        self._stderr.close()


@pytest.fixture
def demo(tmp_path: Path, request: pytest.FixtureRequest):
    d = Demo(tmp_path, getattr(request, "param", None))
    try:
        yield d
    finally:
        d.close()


def _inspect_json(demo: Demo, what: str) -> dict[str, list]:
    proc = demo.celery("inspect", what, "--json", "--timeout", "3")
    assert proc.returncode == 0, proc.stderr[-1000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"{what} within {timeout}s")


def _assert_stops_clean(demo: Demo, sig: int) -> None:
    procs = demo.descendants()
    names = " ".join(p.name() for p in procs)
    # redis-server, 2 workers (+ 2 pool children each), beat, traffic
    assert len(procs) >= 5 + 4, f"expected the whole cluster under ctl demo, got: {names}"
    temp_dirs = re.findall(r"temp dir (\S+)", demo.stderr())
    assert temp_dirs and all(Path(d).is_relative_to(demo.tmpdir) for d in temp_dirs)

    t0 = time.monotonic()
    demo.proc.send_signal(sig)
    try:
        code = demo.proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ctl demo still running {STOP_TIMEOUT}s after {sig!r}")
    elapsed = time.monotonic() - t0
    assert code == 0, demo.stderr()[-2000:]

    def all_gone() -> bool:
        return not [p for p in procs if _alive(p)]

    _wait_for(
        all_gone,
        5.0,
        "started processes still alive: " + ", ".join(f"{p.pid}" for p in procs if _alive(p)),
        interval=0.1,
    )
    leftovers = sorted(str(p.relative_to(demo.tmpdir)) for p in demo.tmpdir.rglob("*"))
    assert leftovers == [], f"temp files left behind: {leftovers[:10]}"
    assert elapsed < STOP_TIMEOUT


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_demo_runs_a_real_busy_cluster_and_stops_clean_on_sigint(demo: Demo) -> None:
    t0 = time.monotonic()
    demo.wait_started()
    startup = time.monotonic() - t0
    assert demo.broker.startswith("redis://127.0.0.1:") and demo.broker.endswith("/0")
    assert demo.env_line == (
        f"export CELERY_BROKER_URL={demo.broker} CELERY_RESULT_BACKEND={demo.backend} "
        "CELERY_APP=sample_proj"
    )
    print(f"ctl demo --no-console ready in {startup:.1f}s")

    ping = demo.celery("inspect", "ping", "--timeout", "5")
    assert ping.returncode == 0, ping.stderr[-1000:]
    for name in ("alpha@", "bravo@"):
        assert name in ping.stdout, ping.stdout

    # traffic flows: results land in the backend, ETA tasks are held, work is running
    backend = redis.Redis.from_url(demo.backend)
    try:
        _wait_for(lambda: backend.dbsize() > 5, 20.0, "no results in the backend")
    finally:
        backend.close()
    seen: dict[str, bool] = {"scheduled": False, "active": False}

    def busy() -> bool:
        for what in seen:
            if not seen[what]:
                seen[what] = any(_inspect_json(demo, what).values())
        return all(seen.values())

    _wait_for(busy, 25.0, f"inspect active/scheduled stayed empty: {seen}", interval=0.2)

    # stdout is only the URL/env lines (progress goes to stderr)
    assert all(line.startswith(("Broker: ", "Result backend: ", "export ")) for line in demo.stdout)
    _assert_stops_clean(demo, signal.SIGINT)
    assert "SIGINT" in demo.stderr()


# a shell still pointed at another (here: dead) cluster, e.g. a previous demo's export line
STALE_ENV = {
    "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    "CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/1",
    "CELERY_APP": "sample_proj",
}


@pytest.mark.parametrize("demo", [STALE_ENV], indirect=True, ids=["stale-env"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_demo_stops_clean_on_signal(demo: Demo, sig: int) -> None:
    demo.wait_started()
    assert demo.broker != STALE_ENV["CELERY_BROKER_URL"]
    backend = redis.Redis.from_url(demo.backend)
    try:
        _wait_for(lambda: backend.dbsize() > 0, 20.0, "no results in the backend")
    finally:
        backend.close()
    _assert_stops_clean(demo, sig)
    assert signal.Signals(sig).name in demo.stderr()


# -- with the console, on a pseudo-terminal ----------------------------------------
class ConsoleDemo(Demo):
    """``ctl demo`` on a pty (120x32), as a user runs it: the console opens."""

    def __init__(self, tmp_path: Path) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()
        self.stderr_path = tmp_path / "demo.tty"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CTL_"))}
        env.update(TMPDIR=str(self.tmpdir), TERM="xterm-256color", PYTHONUNBUFFERED="1")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 120, 0, 0))
        self.proc = subprocess.Popen(
            [str(BIN / "ctl"), "demo"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self._lock = threading.Lock()
        self._stderr = open(os.devnull, "wb")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self._lock:
                self.output += chunk

    def text(self) -> str:
        with self._lock:
            return self.output.decode("utf-8", "replace")

    def stderr(self) -> str:
        return self.text()

    def wait_console(self, timeout: float = START_TIMEOUT) -> None:
        def console_shows_workers() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"ctl demo exited ({self.proc.returncode}): {self.text()[-2000:]}")
            text = self.text()
            opened = text.find("\x1b[?1049h")  # the console took the screen
            return opened >= 0 and "alpha@" in text[opened:] and "bravo@" in text[opened:]

        _wait_for(
            console_shows_workers, timeout, "the console did not show both workers", interval=0.2
        )

    def close(self) -> None:
        super().close()
        try:
            os.close(self.master)
        except OSError:
            pass


@pytest.mark.parametrize("how", ["quit-key", "SIGTERM"])
def test_demo_console_quits_clean(tmp_path: Path, how: str) -> None:
    demo = ConsoleDemo(tmp_path)
    try:
        demo.wait_console()
        procs = demo.descendants()
        assert len(procs) >= 5 + 4, " ".join(p.name() for p in procs)
        if how == "quit-key":
            os.write(demo.master, b"q")
        else:
            demo.proc.send_signal(signal.SIGTERM)
        try:
            code = demo.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"ctl demo still running {STOP_TIMEOUT}s after {how}: {demo.text()[-1500:]}"
            )
        assert code == 0, demo.text()[-2000:]
        _wait_for(
            lambda: not [p for p in procs if _alive(p)],
            5.0,
            "started processes still alive",
            interval=0.1,
        )
        leftovers = sorted(str(p.relative_to(demo.tmpdir)) for p in demo.tmpdir.rglob("*"))
        assert leftovers == [], f"temp files left behind: {leftovers[:10]}"
        text = demo.text()
        assert "\x1b[?1049l" in text, "the terminal was not restored"
        assert "temp dir removed" in text
    finally:
        demo.close()


# -- when ctl demo cannot clean up itself (issue 16.5) -------------------------------
def test_kill_9_of_ctl_demo_leaves_no_process_and_no_temp_dir(demo: Demo) -> None:
    """After ``kill -9``, the children notice their parent is gone and exit within seconds."""
    demo.wait_started()
    procs = demo.descendants()
    names = " ".join(p.name() for p in procs)
    assert len(procs) >= 5 + 4, f"expected the whole cluster under ctl demo, got: {names}"
    rss = sum(p.memory_info().rss for p in procs if _alive(p))
    temp_dirs = re.findall(r"temp dir (\S+)", demo.stderr())
    assert temp_dirs and Path(temp_dirs[0]).exists()
    t0 = time.monotonic()
    demo.proc.kill()
    demo.proc.wait(5)

    def all_gone() -> bool:
        return not [p for p in procs if _alive(p)]

    _wait_for(
        all_gone,
        6.0,
        "processes still alive after kill -9 of ctl demo: "
        + ", ".join(f"{p.pid} {p.name()}" for p in procs if _alive(p)),
        interval=0.1,
    )
    gone_after = time.monotonic() - t0
    _wait_for(lambda: not Path(temp_dirs[0]).exists(), 3.0, "temp dir left after kill -9")
    print(f"kill -9: {len(procs)} processes ({rss / 1e6:.0f} MB) gone in {gone_after:.1f}s")


def test_terminal_gone_cleanup_runs_first(tmp_path: Path) -> None:
    """The terminal disappears (tmux kill-session: SIGHUP and a dead pty): everything stops."""
    demo = ConsoleDemo(tmp_path)
    try:
        demo.wait_console()
        procs = demo.descendants()
        assert len(procs) >= 5 + 4, " ".join(p.name() for p in procs)
        os.close(demo.master)  # the terminal is gone: every write to it now fails
        demo.master = -1
        demo.proc.send_signal(signal.SIGHUP)
        try:
            demo.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ctl demo still running {STOP_TIMEOUT}s after its terminal went away")
        _wait_for(
            lambda: not [p for p in procs if _alive(p)],
            6.0,
            "started processes still alive after the terminal went away: "
            + ", ".join(f"{p.pid} {p.name()}" for p in procs if _alive(p)),
            interval=0.1,
        )
        leftovers = sorted(str(p.relative_to(demo.tmpdir)) for p in demo.tmpdir.rglob("*"))
        assert leftovers == [], f"temp files left behind: {leftovers[:10]}"
    finally:
        demo.close()
