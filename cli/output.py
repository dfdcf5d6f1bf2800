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

import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from console.core.settings import ClusterSettings


class OutputClosed(Exception):
    """stdout's reader went away (``ctl ... | head``): stop quietly (exit 0).

    Not an ``OSError``, so that neither :func:`guard` (which would call it
    "broker unreachable") nor typer (which exits 1) takes it for another error.
    """


class TidyStdout(io.TextIOBase):
    """stdout for human output: a closed pipe becomes :class:`OutputClosed`;
    off a terminal, lines lose their trailing spaces (Rich pads tables and help
    to the width).  Everything else (``buffer``, ``fileno``...) is the real stream's.
    """

    def __init__(self, stream: Any, strip: bool) -> None:
        self._stream = stream
        self._strip = strip
        self._spaces = ""  # trailing spaces held back until the line goes on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def isatty(self) -> bool:
        return bool(self._stream.isatty())

    def fileno(self) -> int:
        return int(self._stream.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._stream, "encoding", "utf-8"))

    def writable(self) -> bool:
        return True

    def _tidy(self, text: str) -> str:
        text = self._spaces + text
        head, newline, tail = text.rpartition("\n")
        if newline:
            head = "\n".join(line.rstrip(" ") for line in head.split("\n")) + "\n"
        kept = tail.rstrip(" ")
        self._spaces = tail[len(kept) :]
        return head + kept

    def write(self, text: str) -> int:
        try:
            self._stream.write(self._tidy(text) if self._strip else text)
        except BrokenPipeError:
            raise OutputClosed from None
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None


def silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def emit_json(document: Any) -> None:
    """Write one JSON document (and a newline) to stdout."""
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=True) + "\n")
    sys.stdout.flush()


#: width of human output off a terminal when ``COLUMNS`` does not say
OFF_TTY_WIDTH = 400
#: characters a table cell shows at most (the rest is named, see :func:`capped`)
CELL_LIMIT = 4000


def columns_from_env() -> int | None:
    """``COLUMNS`` as a width (at least 20), or None when unset or not a number."""
    try:
        value = int(os.environ.get("COLUMNS", "").strip())
    except ValueError:
        return None
    return max(value, 20) if value > 0 else None


def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    no_color = "NO_COLOR" in os.environ
    width = None
    if not is_tty:
        width = columns_from_env() or OFF_TTY_WIDTH
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


def human_size(size: int) -> str:
    """``512 B``, ``12.3 kB``, ``9.9 MB`` (powers of 1000, as ``ls --si``)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000.0
        if value < 999.95 or unit == "TB":
            return f"{value:.1f} {unit}"
    return f"{value:.1f} TB"  # pragma: no cover


def cell_text(value: Any) -> str:
    """A reply value as one string: strings as they are, the rest as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


def capped(value: Any, limit: int = CELL_LIMIT, *, oneline: bool = False) -> Text:
    """``value`` made inert for a table cell, cut to ``limit`` characters.

    What is cut is named exactly: ``… 9.9 MB not shown; --json for all`` (the
    size of the hidden UTF-8 bytes).  Rich lays out a 20 MB cell for tens of
    seconds; nobody reads it on a terminal, ``--json`` keeps everything.
    """
    from rich.text import Text

    from console.core.sanitize import safe_text

    text = cell_text(value)
    if len(text) <= limit:
        return Text(safe_text(text, oneline=oneline), no_wrap=oneline)
    hidden = len(text[limit:].encode("utf-8", "surrogatepass"))
    cell = Text(safe_text(text[:limit], oneline=oneline), no_wrap=oneline)
    cell.append(f" … {human_size(hidden)} not shown; --json for all", style="italic")
    return cell


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
    except (typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt, OutputClosed):
        raise
    except BrokenPipeError:
        raise OutputClosed from None
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
