"""Start a real local Celery cluster of sample_proj processes, and stop it cleanly.

Used by ``ctl demo``, the pytest fixtures and the benchmarks.  Every child
runs in its own process group so that stopping it also stops its pool
children; :meth:`LocalCluster.stop` leaves no process and no temp files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.core.errors import CtlError
from console.core.redis_server import EmbeddedRedis

DEFAULT_WORKERS = ("alpha", "bravo")


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    log_path: str

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace: float = 3.0) -> None:
        if self.proc.poll() is None:
            self.signal_group(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # always sweep the whole group: prefork children may outlive the parent
        self.signal_group(signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def die_with_parent_preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when its parent dies (Linux only).

    ``PR_SET_PDEATHSIG`` fires when the *thread* that started the child exits,
    so use it only for children started from a long-lived (main) thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG

    return preexec


def hostname_for(name: str) -> str:
    return f"{name}@{os.uname().nodename}" if "@" not in name else name


@dataclass
class LocalCluster:
    """Redis + named sample_proj workers (+ optional beat)."""

    workers: tuple[str, ...] = DEFAULT_WORKERS
    concurrency: int = 2
    beat: bool = False
    queues: str = "celery,images"
    app_module: str = "sample_proj"
    redis: EmbeddedRedis | None = None
    worker_args: list[str] = field(default_factory=list)
    result_backend: str | None = None  # None: db 1 of the cluster's Redis
    #: another broker (e.g. a test's RabbitMQ vhost); Redis still starts for the backend
    broker_url_override: str | None = None
    tmpdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="ctl-cluster-"))
    procs: list[ManagedProcess] = field(default_factory=list)
    #: called with the pid (= process group) of every child right after it starts
    on_spawn: Callable[[int], None] | None = None
    #: children get SIGTERM when this process dies (Linux; start from the main thread)
    die_with_parent: bool = False
    _own_redis: bool = False

    @property
    def broker_url(self) -> str:
        if self.broker_url_override:
            return self.broker_url_override
        assert self.redis is not None
        return self.redis.url

    @property
    def backend_url(self) -> str:
        if self.result_backend:
            return self.result_backend
        assert self.redis is not None
        return self.redis.url_for(1)

    @property
    def hostnames(self) -> list[str]:
        return [hostname_for(w) for w in self.workers]

    @property
    def beat_schedule_file(self) -> str:
        return os.path.join(self.tmpdir, "celerybeat-schedule")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CELERY_BROKER_URL"] = self.broker_url
        env["CELERY_RESULT_BACKEND"] = self.backend_url
        env.setdefault("PYTHONUNBUFFERED", "1")
        # the repo root must be importable for sample_proj when not installed
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        log_path = os.path.join(self.tmpdir, f"{name}.log")
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            cwd=self.tmpdir,
            start_new_session=True,
            preexec_fn=die_with_parent_preexec() if self.die_with_parent else None,
        )
        log.close()
        managed = ManagedProcess(name, argv, proc, log_path)
        self.procs.append(managed)
        if self.on_spawn is not None:
            self.on_spawn(proc.pid)
        return managed

    def worker_argv(self, name: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app_module,
            "worker",
            "-n",
            hostname_for(name),
            "-Q",
            self.queues,
            "-c",
            str(self.concurrency),
            "--pool",
            "prefork",
            "-E",
            "--loglevel",
            "INFO",
            *self.worker_args,
        ]

    def start_worker(self, name: str) -> ManagedProcess:
        return self._spawn(f"worker-{name}", self.worker_argv(name))

    def start_beat(self) -> ManagedProcess:
        return self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                self.app_module,
                "beat",
                "-s",
                self.beat_schedule_file,
                "--loglevel",
                "INFO",
                "--pidfile=",
            ],
        )

    def start(self, timeout: float = 45.0) -> LocalCluster:
        try:
            if self.redis is None:
                self.redis = EmbeddedRedis().start()
                self._own_redis = True
            for name in self.workers:
                self.start_worker(name)
            if self.beat:
                self.start_beat()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 45.0, names: list[str] | None = None) -> None:
        """Block until every worker answers a ping (raises CtlError on timeout)."""
        from celery import Celery

        expected = set(names or self.hostnames)
        probe = Celery("ctl-probe", broker=self.broker_url, backend=None)
        probe.conf.broker_connection_retry_on_startup = False
        # Celery's conf.broker_url prefers a CELERY_BROKER_URL from the
        # environment over broker= (e.g. a shell still pointed at another
        # cluster); the read/write URLs are looked up before it
        probe.conf.broker_write_url = probe.conf.broker_read_url = self.broker_url
        conn = probe.connection_for_write(self.broker_url)
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        try:
            while time.monotonic() < deadline:
                for mp in self.procs:
                    if not mp.alive():
                        raise CtlError(f"{mp.name} exited early; log: {self._tail(mp)}")
                replies = probe.control.ping(timeout=0.5, connection=conn) or []
                for reply in replies:
                    seen.update(reply.keys())
                if expected <= seen:
                    return
            missing = ", ".join(sorted(expected - seen))
            raise CtlError(f"workers did not answer ping within {timeout}s: {missing}")
        finally:
            conn.release()
            probe.close()

    def _tail(self, mp: ManagedProcess, lines: int = 5) -> str:
        try:
            return " | ".join(Path(mp.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def process(self, name: str) -> ManagedProcess:
        for mp in self.procs:
            if mp.name == name or mp.name == f"worker-{name}":
                return mp
        raise KeyError(name)

    def stop(self) -> None:
        # signal every group first so the graceful shutdowns overlap (a
        # worker busy with a long task would otherwise cost its full grace
        # period one after the other)
        for mp in self.procs:
            if mp.alive():
                mp.signal_group(signal.SIGTERM)
        for mp in reversed(self.procs):
            mp.stop()
        self.procs.clear()
        if self.redis is not None and self._own_redis:
            self.redis.stop()
            self.redis = None
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
