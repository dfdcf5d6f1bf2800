"""A real PostgreSQL server for the tests, from Debian's ``postgresql`` package.

``initdb`` into a temp dir and ``postgres`` on a free loopback port, run as
the ``postgres`` user when the tests run as root (PostgreSQL refuses root);
trust authentication on loopback only.  :meth:`EmbeddedPostgres.stop` stops
it (fast shutdown) and removes the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from console.core.redis_server import free_port


def _bin(name: str) -> str | None:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return shutil.which(name)


def postgres_available() -> bool:
    return _bin("initdb") is not None and _bin("postgres") is not None


class EmbeddedPostgres:
    def __init__(self) -> None:
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="ctl-pg-"))
        self.data = self.base / "data"
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")
            os.chown(self.base, self._user.pw_uid, self._user.pw_gid)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def _demote(self) -> None:  # runs in the child, before exec
        if self._user is not None:
            os.setgid(self._user.pw_gid)
            os.setuid(self._user.pw_uid)

    def _run(self, *argv: str) -> None:
        subprocess.run(
            argv,
            check=True,
            capture_output=True,
            preexec_fn=self._demote,
            cwd=self.base,
            timeout=120,
        )

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        initdb, postgres = _bin("initdb"), _bin("postgres")
        assert initdb and postgres, "PostgreSQL is not installed"
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        log = open(self.base / "postgres.log", "wb")
        self.proc = subprocess.Popen(
            [postgres, "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
             "-k", str(self.base), "-c", "fsync=off", "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=self._demote, cwd=self.base, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        import psycopg

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.base / "postgres.log").read_text()[-1000:])
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"postgres did not start in {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.base, ignore_errors=True)
