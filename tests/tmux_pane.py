"""A real terminal for tests: one command in a detached tmux pane on a private server.

Every :class:`TmuxPane` has its own tmux server socket and a unique session
name (prefix ``CTL_TEST_TMUX_PREFIX``, default ``ctl-test``), so parallel
tests never share a pane; the server is always killed (context manager, also
when the test fails), which hangs up the command in the pane.

``send(text)`` is one ``tmux send-keys -l`` call: tmux writes the text to the
pty in one write, the way a paste or a burst over a laggy link arrives.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence

#: environment the pane gets from the test (the tmux server's own env is scrubbed)
PASS_ENV = (
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_APP",
    "CTL_READ_ONLY",
    "CTL_CONFIG",
    "PYTHONPATH",
    "NO_COLOR",
    "LANG",
    "LC_ALL",
    "TZ",
    "HOME",
    "PATH",
    "VIRTUAL_ENV",
)


class TmuxPane:
    def __init__(self, argv: Sequence[str], env: dict[str, str], cols: int = 120, rows: int = 36):
        prefix = os.environ.get("CTL_TEST_TMUX_PREFIX", "ctl-test")
        self.name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.argv, self.env, self.cols, self.rows = list(argv), env, cols, rows
        self.started = False

    def _tmux(self, *args: str, check: bool = False, timeout: float = 10) -> str:
        # COLUMNS/LINES (set by some runners) would override the pane's real size
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        proc = subprocess.run(
            ["tmux", "-L", self.name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def start(self) -> TmuxPane:
        env_args: list[str] = ["-e", "TERM=xterm-256color"]
        for key in PASS_ENV:
            if key in self.env:
                env_args += ["-e", f"{key}={self.env[key]}"]
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(self.cols),
            "-y",
            str(self.rows),
            *env_args,
            "--",
            *self.argv,
            check=True,
        )
        self.started = True
        # keep the pane (and what the command printed last) when it exits
        self._tmux("set-option", "-t", self.name, "remain-on-exit", "on")
        return self

    def capture(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def dead(self) -> bool:
        out = self._tmux("display-message", "-p", "-t", self.name, "#{pane_dead}")
        return out.strip() == "1"

    def send(self, text: str) -> None:
        """``text`` typed literally, in one write to the terminal."""
        self._tmux("send-keys", "-t", self.name, "-l", text, check=True)

    def key(self, *names: str) -> None:
        """Named keys (``Escape``, ``Enter``, ``C-c``), one send-keys call."""
        self._tmux("send-keys", "-t", self.name, *names, check=True)

    def wait_for(
        self, predicate: Callable[[str], bool], timeout: float = 30, what: str = "the pane"
    ) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.capture()
            if predicate(text):
                return text
            if self.dead():
                break
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; pane:\n{text}")

    def kill(self) -> None:
        if not self.started:
            return
        with contextlib.suppress(Exception):
            self._tmux("kill-server")
        self.started = False

    def __enter__(self) -> TmuxPane:
        try:
            return self.start()
        except BaseException:
            self.kill()
            raise

    def __exit__(self, *exc: object) -> None:
        self.kill()
