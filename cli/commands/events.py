"""``ctl events``: follow the cluster's event stream as JSON lines."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from console.core.settings import ClusterSettings


def _type_matcher(patterns: list[str] | None):
    if not patterns:
        return None
    import fnmatch
    import re

    exprs = []
    for pattern in patterns:
        for part in pattern.split(","):
            part = part.strip()
            if part:
                exprs.append(fnmatch.translate(part))
    if not exprs:
        return None
    return re.compile("|".join(f"(?:{e})" for e in exprs)).match


def run_events(
    settings: ClusterSettings,
    types: list[str] | None = None,
    record: Path | None = None,
    limit: int | None = None,
    duration: float | None = None,
    source: str = "auto",
    out: IO[bytes] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Print events as JSON lines until ``limit`` / ``duration`` / Ctrl-C; returns the exit code.

    ``--record`` writes the events that are printed (after ``--type``), one raw
    event per line, gzip-compressed when the file name ends in ``.gz``.
    Raises :class:`CtlError` (e.g. ``BrokerUnreachable``, exit code 3) when the
    broker cannot be reached at start; later outages are retried (noted on stderr).
    A ``--record`` file that cannot be written (disk full, EIO) stops with
    :class:`LocalIOError` (exit 6).  An event that cannot be serialized as it
    is (nesting too deep) is printed and recorded cut down, marked
    ``"ctl_truncated": true``.  On a terminal, characters JSON leaves raw but
    a terminal acts on (DEL, C1 controls, bidi overrides, zero-width
    characters) are written as ``\\uXXXX`` escapes (the same JSON document).
    """
    import math
    import sys
    import time

    from console.core.errors import EXIT_OK, LocalIOError, UsageError
    from console.core.intake import make_source, tune_gc
    from console.core.recording import dump_event

    if duration is not None and not math.isfinite(duration):
        raise UsageError("--duration/--timeout must be a finite number of seconds")
    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr
    on_tty = bool(getattr(out, "isatty", lambda: False)())
    if on_tty:
        from console.core.sanitize import json_inert

        def inert_dump(event: dict[str, Any]) -> bytes:
            return json_inert(dump_event(event).decode("utf-8", "replace")).encode()

        dumps = inert_dump
    else:
        dumps = dump_event

    def record_failed(exc: OSError) -> LocalIOError:
        return LocalIOError(
            f"cannot write --record file {str(record)!r}: {exc.strerror or exc}"
            f" ({recorder.count if recorder else 0} events recorded before)"
        )

    match = _type_matcher(types)
    recorder = None
    src = None
    printed = 0
    try:
        app = settings.app
        if record is not None:
            from console.core.recording import Recorder

            try:
                recorder = Recorder(
                    record,
                    secrets=[
                        settings.broker_url,
                        settings.result_backend,
                        settings.effective_broker_url,
                        settings.effective_backend_url,
                    ],
                )
            except OSError as exc:
                raise LocalIOError(
                    f"cannot write --record file {str(record)!r}: {exc.strerror or exc}"
                ) from None
        src = make_source(
            app,
            url=settings.effective_broker_url,
            kind=source,
            connect_timeout=settings.connect_timeout,
        )
        src.start(require_connection=True)
        tune_gc()
        deadline = time.monotonic() + duration if duration is not None else None
        last_mode = src.status.mode
        last_gaps = 0
        while True:
            if limit is not None and printed >= limit:
                break
            timeout = 0.2
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                timeout = min(timeout, left)
            batch = src.read_batch(timeout=timeout)
            st = src.status
            if st.mode != last_mode or st.gaps != last_gaps:
                if st.mode != "live" or st.gaps != last_gaps:
                    from console.core.sanitize import safe_text

                    err.write(
                        "ctl: events: "
                        + safe_text(f"{st.mode}: {settings.scrub(st.message)}", oneline=True)
                        + "\n"
                    )
                    err.flush()
                last_mode, last_gaps = st.mode, st.gaps
            if not batch:
                continue
            if match is not None:
                batch = [ev for ev in batch if match(ev.get("type", ""))]
            if limit is not None and printed + len(batch) > limit:
                batch = batch[: limit - printed]
            for ev in batch:
                out.write(dumps(ev))
                out.flush()
            printed += len(batch)
            if recorder is not None and batch:
                try:
                    recorder.write_batch(batch)
                except OSError as exc:
                    raise record_failed(exc) from None
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    finally:
        if src is not None:
            src.close()
        if recorder is not None:
            try:
                recorder.close()
            except OSError as exc:
                if sys.exc_info()[0] is None:
                    raise record_failed(exc) from None
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command()
    def events(
        ctx: typer.Context,
        type_: Annotated[
            list[str] | None,
            typer.Option(
                "--type",
                "-T",
                help="Only these event types (repeatable; globs like 'task-*').",
                metavar="TYPE",
            ),
        ] = None,
        record: Annotated[
            Path | None,
            typer.Option(
                "--record",
                help="Also write the events to FILE (JSON lines; gzip if it ends in .gz).",
                metavar="FILE",
            ),
        ] = None,
        limit: Annotated[
            int | None,
            typer.Option("--limit", "-n", min=1, help="Stop after N events.", metavar="N"),
        ] = None,
        duration: Annotated[
            float | None,
            typer.Option(
                "--duration",
                "--timeout",
                "-t",
                min=0.0,
                help="Stop after SECONDS (-t/--timeout: seconds, as in every command).",
                metavar="SECONDS",
            ),
        ] = None,
        source: Annotated[
            str,
            typer.Option(
                "--source",
                help="Event source: auto, redis (fast pub/sub reader), amqp (own capped queue) or kombu.",
                metavar="auto|redis|amqp|kombu",
            ),
        ] = "auto",
    ) -> None:
        """Follow the event stream: one JSON object per line on stdout (Ctrl-C to stop)."""
        from cli.app import settings_of
        from cli.output import guard
        from console.core.errors import UsageError

        settings = settings_of(ctx)
        with guard(settings):
            if source not in ("auto", "redis", "kombu"):
                raise UsageError("--source must be auto, redis or kombu")
            code = run_events(
                settings, types=type_, record=record, limit=limit, duration=duration, source=source
            )
        raise typer.Exit(code)
