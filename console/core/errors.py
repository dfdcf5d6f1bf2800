"""Errors raised by the core, each mapped to a documented exit code.

Exit codes (documented in ``ctl --help`` and the README):

* 0 ``EXIT_OK`` success
* 1 ``EXIT_NO_MATCH`` ran, but no worker replied / nothing matched
* 2 ``EXIT_USAGE`` bad usage or bad input
* 3 ``EXIT_UNREACHABLE`` broker or result backend unreachable
* 4 ``EXIT_TASK_FAILED`` ``result --wait``: the task finished in FAILURE/REVOKED
* 5 ``EXIT_WAIT_TIMEOUT`` ``result --wait``: the task did not finish in time
* 6 ``EXIT_LOCAL_IO`` a local file could not be written or read (``--record``: disk full, EIO)
* 70 ``EXIT_CRASHED`` ``ctl console`` / ``ctl demo``: the console crashed (a crash report is named)
* 130 interrupted (Ctrl-C, or Ctrl-D at a prompt)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO_MATCH = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TASK_FAILED = 4
EXIT_WAIT_TIMEOUT = 5
EXIT_LOCAL_IO = 6
EXIT_CRASHED = 70
EXIT_INTERRUPTED = 130


class CtlError(Exception):
    """An error with a one-line, password-free message and an exit code."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(CtlError):
    exit_code = EXIT_USAGE


class BrokerUnreachable(CtlError):
    exit_code = EXIT_UNREACHABLE


class BackendUnreachable(CtlError):
    exit_code = EXIT_UNREACHABLE


class LocalIOError(CtlError):
    """A local file (``--record``, a recording) could not be written or read."""

    exit_code = EXIT_LOCAL_IO


class ReadOnlyError(CtlError):
    """An action was refused because the console/CLI runs read-only."""

    exit_code = EXIT_USAGE
