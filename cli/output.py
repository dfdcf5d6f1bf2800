"""Output helpers shared by the ``ctl`` commands.

* :func:`emit_json`: exactly one JSON document on stdout (``json.dumps`` with
  ``ensure_ascii=True`` so control characters from task data are escaped).
* :func:`out_console`: the Rich console for stdout; colour only on a
  terminal, ``NO_COLOR`` respected, wide enough off a terminal that nothing a
  runbook needs is cut.
* :func:`guard`: run a command body; a :class:`CtlError` (or any unexpected
  exception) becomes ONE line on stderr and the documented exit code, never a
  traceback.  Passwords are scrubbed with ``settings.scrub``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from console.core.settings import ClusterSettings


def emit_json(document: Any) -> None:
    """Write one JSON document (and a newline) to stdout."""
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    no_color = "NO_COLOR" in os.environ
    width = None
    if not is_tty:
        try:
            width = int(os.environ.get("COLUMNS", "")) or None
        except ValueError:
            width = None
        width = max(width or 0, 400)
    return Console(
        file=stream,
        no_color=no_color,
        color_system=None if (no_color or not is_tty) else "auto",
        force_terminal=False if not is_tty else None,
        width=width,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
    )


def out_console() -> Console:
    return _console(False)


def error_line(message: str) -> None:
    """One line on stderr: ``ctl: error: <message>`` (control chars made inert)."""
    from console.core.sanitize import safe_text

    sys.stderr.write("ctl: error: " + safe_text(message, oneline=True) + "\n")
    sys.stderr.flush()


def warn_line(message: str) -> None:
    from console.core.sanitize import safe_text

    sys.stderr.write("ctl: " + safe_text(message, oneline=True) + "\n")
    sys.stderr.flush()


_SAID: set[str] = set()


def warn_once(message: str | None) -> None:
    """``warn_line`` at most once per process for the same message (None: nothing)."""
    if message and message not in _SAID:
        _SAID.add(message)
        warn_line(message)


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return True
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    return name in {"OperationalError", "ConnectionError", "TimeoutError"} or (
        module.startswith(("redis", "kombu", "amqp")) and "onnect" in name
    )


@contextmanager
def guard(settings: ClusterSettings | None = None) -> Iterator[None]:
    """Map errors to one stderr line + exit code (see module docstring)."""
    from console.core.errors import EXIT_NO_MATCH, EXIT_UNREACHABLE, CtlError

    scrub: Callable[[str], str] = settings.scrub if settings is not None else (lambda m: m)
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt):
        raise
    except CtlError as exc:
        error_line(scrub(exc.message))
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        if _is_connection_error(exc):
            error_line(scrub(f"broker or result backend unreachable: {message}"))
            raise typer.Exit(EXIT_UNREACHABLE) from None
        error_line(scrub(f"unexpected error: {message}"))
        raise typer.Exit(EXIT_NO_MATCH) from None


def require_writable(settings: ClusterSettings, action: str) -> None:
    from console.core.errors import ReadOnlyError

    if settings.read_only:
        raise ReadOnlyError(f"{action} refused: read-only mode (CTL_READ_ONLY / --read-only)")


def validate_task_id(task_id: str) -> str:
    """Any id Celery accepts; empty / whitespace / control characters: UsageError (exit 2)."""
    from console.core.results import check_task_id

    return check_task_id(task_id)


def report_unanswered(res: Any, timeout: float) -> int:
    """Name the workers that did not answer (stderr); return the exit code.

    Exit 1 when nobody replied or a ``--destination`` worker did not; a live
    worker that was too slow (no destination given) is named but exits 0 if
    others replied.
    """
    from console.core.errors import EXIT_NO_MATCH, EXIT_OK

    warn_once(res.note)
    for host in res.missing:
        warn_line(f"no reply from {host} within {timeout}s")
    unanswered = 0 if res.expected is None else res.expected - res.answered
    if not res.missing and unanswered > 0:
        if res.silent and res.silent_exact:
            for host in res.silent:
                warn_line(f"no reply from {host} within {timeout}s")
        else:
            names = f" (known to the broker: {', '.join(res.silent)})" if res.silent else ""
            warn_line(f"{unanswered} worker(s) did not reply within {timeout}s{names}")
    if not res.replies and not res.missing and unanswered <= 0:
        warn_line(f"no worker replied within {timeout}s")
    if not res.replies or res.missing:
        return EXIT_NO_MATCH
    return EXIT_OK
