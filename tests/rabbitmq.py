"""A real RabbitMQ node for the tests, from Debian's ``rabbitmq-server`` package.

No Docker and no system service: the node runs as the current user with its
own ``epmd``, every port on loopback, and HOME / mnesia / logs / config under
a temporary directory.  ``/usr/lib/rabbitmq/bin/rabbitmq-server`` is started
directly (the ``/usr/sbin`` wrapper switches to the ``rabbitmq`` user).

``EmbeddedRabbitMQ().start()`` boots in 6-9 s on a 2-core machine; tests share
one node per session and get a fresh vhost each (:meth:`add_vhost`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
INSTALL_HINT = (
    "RabbitMQ tests need Debian's rabbitmq-server package: "
    "`apt-get install -y rabbitmq-server` (.ci/run installs it when missing)"
)


def rabbitmq_available() -> bool:
    return (RABBITMQ_BIN / "rabbitmq-server").exists() and shutil.which("erl") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RabbitMQStartError(RuntimeError):
    pass


class EmbeddedRabbitMQ:
    """One RabbitMQ node on loopback ports, all its files under a temp dir."""

    user = "ctl"
    password = "ctl-test-pw"

    def __init__(self, boot_timeout: float = 60.0) -> None:
        self.boot_timeout = boot_timeout
        self.port = _free_port()
        self.mgmt_port = _free_port()
        self.dist_port = _free_port()
        self.epmd_port = _free_port()
        self.node = f"ctltest{os.getpid()}@localhost"
        self.base: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._vhosts = 0

    # -- URLs ---------------------------------------------------------------
    def url(self, vhost: str = "/") -> str:
        vh = urllib.parse.quote(vhost, safe="")
        return f"amqp://{self.user}:{self.password}@127.0.0.1:{self.port}/{vh}"

    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}/api/"

    # -- life cycle ---------------------------------------------------------
    def _env(self) -> dict[str, str]:
        assert self.base is not None
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RABBITMQ_", "ERL_")) and k != "HOME"
        }
        env.update(
            HOME=str(self.base),
            RABBITMQ_CONF_ENV_FILE="/dev/null",
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_PID_FILE=str(self.base / "rabbit.pid"),
        )
        return env

    def start(self) -> EmbeddedRabbitMQ:
        if not rabbitmq_available():
            raise RabbitMQStartError(INSTALL_HINT)
        self.base = Path(tempfile.mkdtemp(prefix="ctl-rabbitmq-"))
        (self.base / "log").mkdir()
        (self.base / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{self.port}",
                    "management.tcp.ip = 127.0.0.1",
                    f"management.tcp.port = {self.mgmt_port}",
                    "loopback_users = none",
                    f"default_user = {self.user}",
                    f"default_pass = {self.password}",
                    "default_user_tags.administrator = true",
                    "log.console = false",
                    "log.file.level = warning",
                    "vm_memory_high_watermark.relative = 0.2",
                    "disk_free_limit.absolute = 50MB",
                    "collect_statistics_interval = 1000",
                    "",
                ]
            )
        )
        (self.base / "advanced.config").write_text("[].\n")
        (self.base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.base / ".erlang.cookie").write_text("ctltestcookie")
        (self.base / ".erlang.cookie").chmod(0o400)
        log = open(self.base / "log" / "stdout.log", "wb")
        self.proc = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.boot_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RabbitMQStartError(f"rabbitmq-server exited: {self._log_tail()}")
            if self._ctl("await_startup", "--timeout", "2", check=False).returncode == 0:
                if self._port_open(self.port) and self._port_open(self.mgmt_port):
                    return
            time.sleep(0.3)
        raise RabbitMQStartError(f"rabbitmq did not start in {self.boot_timeout:.0f} s")

    @staticmethod
    def _port_open(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_tail(self) -> str:
        if self.base is None:
            return ""
        out = []
        for path in sorted((self.base / "log").glob("*.log")):
            out.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(out)

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def add_vhost(self, name: str | None = None) -> str:
        """A fresh vhost with full permissions for :attr:`user`; returns its name."""
        self._vhosts += 1
        name = name or f"t{self._vhosts}"
        self._ctl("add_vhost", name)
        self._ctl("set_permissions", "-p", name, self.user, ".*", ".*", ".*")
        return name

    def delete_vhost(self, name: str) -> None:
        self._ctl("delete_vhost", name, check=False)

    def freeze(self) -> None:
        """SIGSTOP the node's VM (a hung broker); :meth:`thaw` resumes it."""
        for pid in self._vm_pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._vm_pids():
            os.kill(pid, signal.SIGCONT)

    def _vm_pids(self) -> list[int]:
        import psutil

        if self.proc is None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
        except psutil.NoSuchProcess:
            return []
        return [p.pid for p in parent.children(recursive=True) if "beam" in p.name()]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # the node's own epmd runs detached from the process group
        subprocess.run(
            ["pkill", "-f", f"epmd.*-port {self.epmd_port}"],
            check=False,
            capture_output=True,
        )
        self._kill_epmd()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def _kill_epmd(self) -> None:
        import psutil

        for p in psutil.process_iter(["name", "environ"]):
            try:
                if p.info["name"] != "epmd":
                    continue
                env = p.info["environ"] or {}
                if env.get("ERL_EPMD_PORT") == str(self.epmd_port):
                    p.terminate()
            except (psutil.Error, KeyError):
                continue
