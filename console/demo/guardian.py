"""The demo's guardian: when ``ctl demo`` dies without cleaning up, clean up for it.

``ctl demo`` can be killed in ways no handler sees (``kill -9``, the OOM
killer, a crashed interpreter).  It starts this tiny process first::

    python -m console.demo.guardian --parent-pid PID --tmpdir DIR

and records in ``DIR/.ctl-demo-pgids`` the process group of every child it
starts (redis-server, each worker with its pool, beat, the traffic
generator).  The guardian polls its parent; once the parent is gone it sends
SIGTERM to each recorded group, SIGKILL to whatever is left after a grace
period, and removes ``DIR``.  A normal stop of the demo stops the guardian
first (SIGTERM: it exits at once, touching nothing).

On Linux the guardian also asks for ``PR_SET_PDEATHSIG`` so the kernel wakes
it the moment the parent dies; elsewhere polling alone (every 0.2 s) does it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time

PGIDS_FILE = ".ctl-demo-pgids"
POLL = 0.2


def record_pgid(tmpdir: str, pgid: int) -> None:
    """Append ``pgid`` to the guardian's list (called by the demo for every child)."""
    with open(os.path.join(tmpdir, PGIDS_FILE), "a", encoding="ascii") as fh:
        fh.write(f"{int(pgid)}\n")
        fh.flush()


def read_pgids(tmpdir: str) -> list[int]:
    try:
        with open(os.path.join(tmpdir, PGIDS_FILE), encoding="ascii") as fh:
            return [int(line) for line in fh if line.strip().isdigit() and int(line) > 1]
    except OSError:
        return []


def _groups_alive(pgids: list[int]) -> list[int]:
    alive = []
    for pgid in pgids:
        try:
            os.killpg(pgid, 0)
            alive.append(pgid)
        except (ProcessLookupError, PermissionError):
            pass
    return alive


def clean_up(tmpdir: str, grace: float = 2.0) -> None:
    """Stop every recorded process group, then remove ``tmpdir``."""
    pgids = read_pgids(tmpdir)
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while _groups_alive(pgids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pgid in _groups_alive(pgids):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    shutil.rmtree(tmpdir, ignore_errors=True)


def _die_with_parent_signal(sig: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _ParentGone(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.demo.guardian")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--tmpdir", required=True)
    args = parser.parse_args(argv)

    def on_parent_death(_signum: int, _frame: object) -> None:
        raise _ParentGone

    def on_stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGUSR1, on_parent_death)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for ctl demo, not for us
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _die_with_parent_signal(signal.SIGUSR1)
    try:
        while os.getppid() == args.parent_pid:
            time.sleep(POLL)
    except _ParentGone:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup runs to the end
    clean_up(args.tmpdir)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process
    sys.exit(main())
