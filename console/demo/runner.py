"""``ctl demo``: a real local cluster with traffic, and the console opened on it.

:func:`run_demo` starts, in one private temp dir (``ctl-demo-*``):

1. a throw-away ``redis-server`` on a free loopback port (no persistence),
2. named sample_proj workers (``alpha``, ``bravo``, ...) and one beat process,
3. the traffic generator (:mod:`console.demo.traffic`),

then opens the console on that cluster (or, with ``no_console``, waits in the
foreground).  On quit, Ctrl-C (SIGINT), SIGTERM or SIGHUP -- and when the
console crashes -- every process it started is stopped and the temp dir is
removed.

Progress goes to stderr; stdout carries only the broker URL and the
environment line to point ``ctl`` (or ``celery``) at the cluster.
"""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from console.core.errors import CtlError
from console.core.redis_server import EmbeddedRedis
from console.demo.cluster import LocalCluster, ManagedProcess

APP_MODULE = "sample_proj"
WORKER_NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
CONCURRENCY = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# names a future create_app() may use for the beat schedule file
_SCHEDULE_KWARGS = ("beat_schedule_file", "beat_schedule", "schedule_file")


class DemoStopped(KeyboardInterrupt):
    """Raised in the main thread by a stop signal (a KeyboardInterrupt, so that
    nothing on the way swallows it as an ordinary error)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def worker_names(n: int) -> tuple[str, ...]:
    """``alpha``, ``bravo``, ... (``worker9``... past the NATO list)."""
    if n < 1:
        raise ValueError("at least one worker")
    return tuple(WORKER_NAMES[i] if i < len(WORKER_NAMES) else f"worker{i + 1}" for i in range(n))


def env_line(broker: str, backend: str, app: str = APP_MODULE) -> str:
    """The shell line that points ``ctl`` and ``celery`` at the demo cluster."""
    return f"export CELERY_BROKER_URL={broker} CELERY_RESULT_BACKEND={backend} CELERY_APP={app}"


def _say(stream: Any, text: str) -> None:
    """Print, but never raise: the terminal may be gone (SSH drop, closed window)."""
    try:
        print(text, file=stream, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def _progress(message: str) -> None:
    _say(sys.stderr, f"ctl demo: {message}")


def _out(message: str) -> None:
    _say(sys.stdout, message)


def _start_guardian(tmpdir: str) -> Any:
    """The process that cleans up after a ``kill -9`` of ctl demo (console.demo.guardian)."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.demo.guardian",
            "--parent-pid",
            str(os.getpid()),
            "--tmpdir",
            tmpdir,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # no terminal signal reaches it
    )


def _stop_guardian(guardian: Any) -> None:
    if guardian is None or guardian.poll() is not None:
        return
    try:
        guardian.terminate()
        guardian.wait(5)
    except Exception:
        try:
            guardian.kill()
            guardian.wait(5)
        except Exception:
            pass


class _Signals:
    """Stop-signal handling for the whole run.

    Before the console runs (and in ``--no-console`` mode) the first signal
    raises :class:`DemoStopped` in the main thread, which unwinds into the
    cleanup.  While the console runs, it asks the app to exit instead (from a
    helper thread: Textual's loop must not be touched from a signal handler);
    a second signal then raises.  During cleanup every further signal is
    ignored so nothing interrupts the teardown.
    """

    def __init__(self) -> None:
        self.app: Any = None
        self.stopping = False
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # not the main thread / unsupported
                pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError, TypeError):
                pass
        self._previous.clear()

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.stopping:
            return
        if self.received is None:
            self.received = signum
            if self.app is not None:
                threading.Thread(target=self._exit_app, name="ctl-demo-exit", daemon=True).start()
                return
        self.stopping = True
        raise DemoStopped(signum)

    def _exit_app(self) -> None:
        app = self.app
        deadline = time.monotonic() + 5.0
        while app is not None and time.monotonic() < deadline:
            try:
                app.call_from_thread(app.exit)
                return
            except Exception:
                time.sleep(0.1)
                app = self.app

    def teardown(self) -> None:
        """From now on, signals are ignored: the cleanup must run to the end."""
        self.stopping = True


def _spawn_traffic(cluster: LocalCluster, slots: int) -> ManagedProcess:
    argv = [
        sys.executable,
        "-m",
        "console.demo.traffic",
        "--broker",
        cluster.broker_url,
        "--backend",
        cluster.backend_url,
        "--slots",
        str(slots),
        "--parent-pid",
        str(os.getpid()),
    ]
    # LocalCluster owns the process: same log dir, same process-group teardown
    return cluster._spawn("traffic", argv)


def _settings(cluster: LocalCluster) -> Any:
    from console.core.settings import ClusterSettings

    settings = ClusterSettings.resolve(
        app=APP_MODULE,
        broker=cluster.broker_url,
        result_backend=cluster.backend_url,
    )
    # Celery's own name for `celery beat -s FILE`: where the Beat screen finds
    # last-run times; also as a settings attribute if ClusterSettings grows one.
    settings.app.conf.beat_schedule_filename = cluster.beat_schedule_file
    for name in _SCHEDULE_KWARGS:
        if hasattr(settings, name):
            setattr(settings, name, cluster.beat_schedule_file)
    return settings


def _load_create_app() -> Callable[..., Any]:
    from console.ui.app import create_app  # Textual is imported only when the console runs

    return create_app


def _run_console(
    create_app: Callable[..., Any], cluster: LocalCluster, signals: _Signals, utc: bool = False
) -> int:
    settings = _settings(cluster)
    kwargs: dict[str, Any] = {"settings": settings}
    if utc:
        kwargs["utc"] = True
    try:
        params = inspect.signature(create_app).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    for name in _SCHEDULE_KWARGS:
        if name in params:
            kwargs[name] = cluster.beat_schedule_file
            break
    if "cluster_label" in params:
        kwargs["cluster_label"] = f"ctl demo ({', '.join(cluster.workers)})"
    app = create_app(**kwargs)
    signals.app = app
    try:
        result = app.run()
    finally:
        signals.app = None
    if isinstance(result, int) and result:  # e.g. 70: the console crashed (one line printed)
        return result
    code = getattr(app, "return_code", None)
    if isinstance(code, int) and code:
        return code
    return result if isinstance(result, int) else 0


def _wait_foreground(cluster: LocalCluster, redis: EmbeddedRedis) -> int:
    """Block until a stop signal (raises DemoStopped) or Redis dies."""
    warned: set[str] = set()
    while True:
        time.sleep(0.5)
        if not redis.is_running():
            _progress("redis-server exited; stopping the demo")
            return 3
        for mp in cluster.procs:
            if not mp.alive() and mp.name not in warned:
                warned.add(mp.name)
                _progress(f"{mp.name} exited (code {mp.proc.returncode}); log: {cluster._tail(mp)}")


def _reap_strays(grace: float = 2.0) -> None:
    """Stop any child this process still has (e.g. a crashed console's intake
    process): ``ctl demo`` leaves no orphans.  Multiprocessing's resource
    tracker is left alone: it exits with us and is needed until then."""
    import psutil

    strays = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any("resource_tracker" in part for part in child.cmdline()):
                continue
            strays.append(child)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    if not strays:
        return
    _progress(
        f"stopping {len(strays)} leftover process(es): " + ", ".join(str(p.pid) for p in strays)
    )
    for child in strays:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(strays, timeout=grace)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)


def _print_connection(cluster: LocalCluster) -> None:
    _out(f"Broker: {cluster.broker_url}")
    _out(f"Result backend: {cluster.backend_url}")
    _out(env_line(cluster.broker_url, cluster.backend_url))


def run_demo(
    no_console: bool = False, n_workers: int = 2, traffic: bool = True, utc: bool = False
) -> int:
    """Run the demo cluster (and the console on it) until quit; return an exit code."""
    started = time.monotonic()
    signals = _Signals()
    signals.install()
    tmpdir: str | None = None
    redis: EmbeddedRedis | None = None
    cluster: LocalCluster | None = None
    guardian: Any = None
    code = 0
    try:
        from console.demo.cluster import die_with_parent_preexec
        from console.demo.guardian import record_pgid

        tmpdir = tempfile.mkdtemp(prefix="ctl-demo-")
        guardian = _start_guardian(tmpdir)
        _progress(f"temp dir {tmpdir}")
        redis_dir = os.path.join(tmpdir, "redis")
        os.mkdir(redis_dir)
        redis = EmbeddedRedis(workdir=redis_dir, preexec_fn=die_with_parent_preexec())
        redis.start()
        if redis.proc is not None:
            record_pgid(tmpdir, redis.proc.pid)
        _progress(f"redis-server on 127.0.0.1:{redis.port} ({redis.executable})")
        # everything in this process (probes, the console) talks to the demo
        # cluster, whatever the shell exported (maybe another demo's URLs)
        os.environ["CELERY_BROKER_URL"] = redis.url
        os.environ["CELERY_RESULT_BACKEND"] = redis.url_for(1)
        os.environ["CELERY_APP"] = APP_MODULE
        names = worker_names(n_workers)
        cluster = LocalCluster(
            workers=names,
            concurrency=CONCURRENCY,
            beat=True,
            redis=redis,
            app_module=APP_MODULE,
            tmpdir=tmpdir,
            on_spawn=lambda pid: record_pgid(tmpdir, pid) if tmpdir else None,
            die_with_parent=True,
        )
        _progress(f"starting workers {', '.join(names)} and beat...")
        cluster.start()
        _progress(f"workers answer ping: {', '.join(cluster.hostnames)}")
        if traffic:
            proc = _spawn_traffic(cluster, slots=n_workers * CONCURRENCY)
            _progress(f"traffic generator running (pid {proc.proc.pid})")
        _progress(f"cluster ready in {time.monotonic() - started:.1f}s")
        _print_connection(cluster)

        create_app = None
        if not no_console:
            if sys.stdin.isatty() and sys.stdout.isatty():
                create_app = _load_create_app()
            else:
                _progress("not a terminal: running without the console")
        if create_app is not None:
            code = _run_console(create_app, cluster, signals, utc)
        else:
            _progress("point ctl at it from another terminal with the line above; Ctrl-C stops")
            code = _wait_foreground(cluster, redis)
    except KeyboardInterrupt as exc:  # Ctrl-C, or DemoStopped from SIGTERM/SIGHUP
        signum = exc.signum if isinstance(exc, DemoStopped) else signal.SIGINT
        _progress(f"{signal.Signals(signum).name}: stopping")
        code = 0
    except CtlError as exc:
        _progress(f"error: {exc}")
        # a plain CtlError here is a start-up failure, not a usage error
        code = exc.exit_code if type(exc) is not CtlError else 1
    finally:
        # cleanup first: nothing here may depend on the terminal (it may be gone)
        signals.teardown()
        t0 = time.monotonic()
        for step in (
            (lambda: cluster.stop()) if cluster is not None else None,
            (lambda: redis.stop()) if redis is not None else None,
            lambda: _stop_guardian(guardian),
            _reap_strays,
            (lambda: shutil.rmtree(tmpdir, ignore_errors=True)) if tmpdir is not None else None,
            signals.restore,
        ):
            if step is None:
                continue
            try:
                step()
            except Exception as exc:  # one failed step must not skip the others
                _progress(f"cleanup step failed: {type(exc).__name__}: {exc}")
        _progress(f"stopped every process in {time.monotonic() - t0:.1f}s; temp dir removed")
    return code
